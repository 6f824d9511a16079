"""Properties over the bundled manifest and any model string."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import BillingMode, Code, DecisionPath, DeriveError, Registry

REFERENCE = Registry.load()
COLD = Registry(REFERENCE.manifest, cache_size=0)
RUNTIMES = st.one_of(st.sampled_from((*REFERENCE.runtimes, "langgraph", "external", "")), st.text(max_size=300))
MENU_IDS = [m for rt in REFERENCE.runtimes for m in REFERENCE.menu(rt)]

# Ids built from real prefixes reach the interesting branches far more often than random text.
PREFIXES = st.sampled_from(
    [
        "",
        "platform/",
        "platform:",
        "openrouter/",
        "openrouter:",
        "GLM-",
        "glm-",
        "minimax:",
        "MiniMax-M",
        "claude",
        "gpt-",
        "kimi-",
        "moonshot/",
        "deepseek-",
        "mimo-",
        "qwen",
        "custom:",
        "ollama/",
        " ",
    ]
)
MODELS = st.one_of(
    st.text(),
    # Lone surrogates: st.text() never makes them, but a Python str (and so a client) can.
    st.builds(lambda p, s: p + s, PREFIXES, st.text(st.characters(categories=["Cs", "Ll", "Nd", "Pd"]))),
    st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Cc"])),
    st.builds(lambda p, s: p + s, PREFIXES, st.text(max_size=40)),
    st.sampled_from(MENU_IDS),
    st.sampled_from(MENU_IDS).map(lambda m: f"  {m}\n"),
)
AUTH_ENV = st.frozensets(st.sampled_from(["OPENAI_API_KEY", "KIMI_API_KEY", "GLM_API_KEY", "OPENROUTER_API_KEY", "X"]))


@given(runtime=RUNTIMES, model=MODELS, auth_env=AUTH_ENV)
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
def test_check_never_raises_and_route_never_bills_the_platform(runtime, model, auth_env) -> None:
    decision = REFERENCE.check(runtime, model, auth_env)
    assert decision.allowed == (decision.code is None)
    if decision.path is DecisionPath.ROUTE:
        assert decision.billing_mode is BillingMode.BYOK
    if decision.billing_mode is BillingMode.PLATFORM_MANAGED:
        # G2: platform billing only for ids on the menu, exactly.
        assert decision.path is DecisionPath.MENU and decision.model in REFERENCE.menu(runtime)


@given(runtime=RUNTIMES, model=MODELS, auth_env=AUTH_ENV)
@settings(max_examples=400)
def test_cache_never_changes_an_answer(runtime, model, auth_env) -> None:
    assert REFERENCE.check(runtime, model, auth_env) == COLD.check(runtime, model, auth_env)


@given(runtime=st.sampled_from(REFERENCE.runtimes), model=MODELS, auth_env=AUTH_ENV)
@settings(max_examples=400)
def test_derive_is_deterministic(runtime, model, auth_env) -> None:
    def outcome():
        try:
            return COLD.derivation(runtime, model, auth_env)
        except DeriveError as error:
            return (type(error), str(error), error.candidates)

    assert outcome() == outcome()


@given(big=st.text(min_size=1, max_size=50).map(lambda s: (s * (100_000 // len(s) + 1))[:100_000]))
@settings(max_examples=15, deadline=None)
def test_100kb_ids_are_decided_and_not_cached(big) -> None:
    registry = Registry(REFERENCE.manifest)
    decision = registry.check("hermes", big)
    assert decision.allowed in (True, False)
    assert registry._check.cache_info().currsize == 0  # hostile lengths never enter the cache


@given(runtime=st.text(min_size=1, max_size=8).map(lambda s: s * 20_000), auth_env=AUTH_ENV)
@settings(max_examples=10, deadline=None)
def test_100kb_runtime_names_are_refused_and_not_cached(runtime, auth_env) -> None:
    registry = Registry(REFERENCE.manifest)
    decision = registry.check(runtime, "sonnet", auth_env)
    assert (decision.allowed, decision.code) == (False, Code.RUNTIME_UNSUPPORTED)
    assert set(decision.suggestions) <= {*REFERENCE.runtimes, *REFERENCE.foreign_runtimes}
    assert registry._check.cache_info().currsize == 0
