"""derive (section 4), check (section 5, every row) and upstream (section 6)."""

from __future__ import annotations

import pytest

from routegate import (
    AmbiguousModel,
    BillingMode,
    Code,
    DecisionPath,
    EmptyModel,
    NotNamespaced,
    Registry,
    UnknownRuntime,
    Unroutable,
)

# --- derive ----------------------------------------------------------------------------------


def test_derive_exact_single_arm(crafted: Registry) -> None:
    derivation = crafted.derivation("rt", "alpha/one")
    assert (derivation.provider.name, derivation.step) == ("alpha", "exact")


def test_derive_exact_wins_over_a_prefix_match_elsewhere(crafted: Registry) -> None:
    # "platform/listed" is on the platform arm; no other arm lists it, and the exact step decides.
    assert crafted.derive("rt", "platform/listed").name == "platform"
    # "alpha/paid" matches alpha's pattern, but the platform arm lists it verbatim: exact wins.
    assert crafted.derive("rt", "alpha/paid").name == "platform"


def test_derive_exact_on_two_arms_first_declared_without_auth(crafted: Registry) -> None:
    derivation = crafted.derivation("rt", "both-arms")
    assert (derivation.provider.name, derivation.step) == ("alpha", "exact_first_declared")
    assert derivation.candidates == ("alpha", "gamma")


def test_derive_exact_on_two_arms_settled_by_auth_env(crafted: Registry) -> None:
    derivation = crafted.derivation("rt", "both-arms", auth_env=["GAMMA_API_KEY"])
    assert (derivation.provider.name, derivation.step) == ("gamma", "exact_auth_env")


def test_derive_exact_on_two_arms_both_authed_falls_back_to_first(crafted: Registry) -> None:
    derivation = crafted.derivation("rt", "both-arms", auth_env=["GAMMA_API_KEY", "ALPHA_API_KEY"])
    assert (derivation.provider.name, derivation.step) == ("alpha", "exact_first_declared")


def test_derive_prefix_single_match(crafted: Registry) -> None:
    derivation = crafted.derivation("rt", "beta/anything")
    assert (derivation.provider.name, derivation.step) == ("beta", "prefix")


def test_derive_prefix_uses_search_semantics_and_re2_flags(crafted: Registry) -> None:
    assert crafted.derive("rt", "GAMMA-9").name == "gamma"  # (?i) honoured


def test_derive_prefix_ambiguous_without_auth(crafted: Registry) -> None:
    with pytest.raises(AmbiguousModel) as caught:
        crafted.derive("rt", "shared-model")
    assert caught.value.candidates == ("delta", "epsilon")
    assert "auth env" in str(caught.value)


def test_derive_prefix_settled_by_auth_env(crafted: Registry) -> None:
    derivation = crafted.derivation("rt", "shared-model", auth_env=["EPSILON_KEY"])
    assert (derivation.provider.name, derivation.step) == ("epsilon", "prefix_auth_env")


def test_derive_prefix_still_ambiguous_when_auth_matches_both(crafted: Registry) -> None:
    with pytest.raises(AmbiguousModel):
        crafted.derive("rt", "shared-model", auth_env=["EPSILON_KEY", "DELTA_KEY"])


def test_derive_candidates_are_native_arms_only(crafted: Registry) -> None:
    # gamma is in the catalog, but not native to "solo".
    with pytest.raises(Unroutable):
        crafted.derive("solo", "gamma-1")


def test_derive_trims(crafted: Registry) -> None:
    assert crafted.derive("rt", "  alpha/one\t").name == "alpha"


def test_derive_empty_is_an_error(crafted: Registry) -> None:
    with pytest.raises(EmptyModel):
        crafted.derive("rt", "   ")


def test_derive_unknown_runtime_is_an_error(crafted: Registry) -> None:
    with pytest.raises(UnknownRuntime):
        crafted.derive("langgraph", "alpha/one")


def test_derive_unroutable(crafted: Registry) -> None:
    with pytest.raises(Unroutable):
        crafted.derive("rt", "zeta/1")


def test_derive_control_characters_are_unroutable(crafted: Registry) -> None:
    with pytest.raises(Unroutable, match="control characters"):
        crafted.derive("rt", "beta/\x00x")


# --- check: one test per row of section 5 ------------------------------------------------------


def test_row_empty_model_is_allowed_for_the_model_required_gate(crafted: Registry) -> None:
    decision = crafted.check("rt", "  ")
    assert (decision.allowed, decision.path, decision.code, decision.provider) == (True, DecisionPath.EMPTY, None, None)


def test_row_unknown_runtime_fails_open(crafted: Registry) -> None:
    decision = crafted.check("langgraph", "anything")
    assert (decision.allowed, decision.path, decision.provider) == (True, DecisionPath.FAIL_OPEN, None)


def test_row_on_the_menu(crafted: Registry) -> None:
    decision = crafted.check("rt", "platform/listed")
    assert (decision.allowed, decision.path) == (True, DecisionPath.MENU)
    assert decision.provider.name == "platform"
    assert decision.billing_mode is BillingMode.PLATFORM_MANAGED
    assert decision.required_env == ("MOLECULE_LLM_USAGE_TOKEN",)


def test_row_routes_to_a_non_platform_provider(crafted: Registry) -> None:
    decision = crafted.check("rt", "beta/new-model")
    assert (decision.allowed, decision.path, decision.provider.name) == (True, DecisionPath.ROUTE, "beta")
    assert decision.billing_mode is BillingMode.BYOK
    assert decision.required_env == ("BETA_API_KEY",)


def test_row_platform_off_menu_is_refused_g2(crafted: Registry) -> None:
    decision = crafted.check("rt", "platform/not-listed")
    assert not decision.allowed
    assert decision.code is Code.UNREGISTERED_MODEL_FOR_RUNTIME
    assert "platform" in decision.reason and "menu" in decision.reason


def test_row_ambiguous_names_the_candidates(crafted: Registry) -> None:
    decision = crafted.check("rt", "shared-x")
    assert not decision.allowed
    assert decision.code is Code.AMBIGUOUS_MODEL_FOR_RUNTIME
    assert decision.candidates == ("delta", "epsilon")
    assert "DELTA_KEY" in decision.reason and "EPSILON_KEY" in decision.reason


def test_row_ambiguity_settled_by_auth_env_is_allowed(crafted: Registry) -> None:
    decision = crafted.check("rt", "shared-x", auth_env=("DELTA_KEY",))
    assert (decision.allowed, decision.provider.name) == (True, "delta")


def test_row_no_native_provider_is_refused_with_nearest_menu_ids(crafted: Registry) -> None:
    decision = crafted.check("rt", "alpha-one")
    assert decision.code is Code.UNREGISTERED_MODEL_FOR_RUNTIME
    assert decision.suggestions[0] == "alpha/one"
    assert "alpha/one" in decision.reason


# --- the reference registry: the seed's cases ----------------------------------------------------


def test_seed_hermes_openrouter_is_byok(reference: Registry) -> None:
    decision = reference.check("hermes", "openrouter/anthropic/claude-3.5-sonnet")
    assert (decision.allowed, decision.path, decision.provider.name) == (True, DecisionPath.ROUTE, "openrouter")
    assert decision.billing_mode is BillingMode.BYOK


def test_seed_hermes_gpt_4o_is_refused(reference: Registry) -> None:
    decision = reference.check("hermes", "gpt-4o")
    assert decision.code is Code.UNREGISTERED_MODEL_FOR_RUNTIME
    assert decision.suggestions  # the nearest menu ids


@pytest.mark.parametrize("runtime", ["claude-code", "hermes", "codex", "openclaw", "google-adk"])
def test_platform_anything_is_refused_on_every_runtime(reference: Registry, runtime: str) -> None:
    decision = reference.check(runtime, "platform/anything")
    assert not decision.allowed
    assert decision.code is Code.UNREGISTERED_MODEL_FOR_RUNTIME


def test_codex_gpt_on_two_auth_arms(reference: Registry) -> None:
    assert reference.check("codex", "gpt-5.5").provider.name == "openai-subscription"
    assert reference.check("codex", "gpt-5.5", auth_env=["OPENAI_API_KEY"]).provider.name == "openai-api"


def test_cached_and_uncached_decisions_agree(reference: Registry) -> None:
    cold = Registry(reference.manifest, cache_size=0)
    for runtime, model in [("hermes", "gpt-4o"), ("claude-code", "GLM-4.6"), ("codex", "gpt-5.5")]:
        assert reference.check(runtime, model) == cold.check(runtime, model)
        assert reference.check(runtime, model) == reference.check(runtime, model)


def test_explain_lists_the_steps(reference: Registry) -> None:
    explanation = reference.explain("codex", "gpt-5.5", ["OPENAI_API_KEY"])
    assert explanation.decision.provider.name == "openai-api"
    assert any("exact_auth_env" in step for step in explanation.steps)


# --- upstream ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "vendor", "rest", "provider"),
    [
        ("moonshot/kimi-k2.6", "moonshot", "kimi-k2.6", "moonshot"),
        ("minimax:MiniMax-M2.7", "minimax", "MiniMax-M2.7", "minimax"),
        ("anthropic/claude-opus-4-7", "anthropic", "claude-opus-4-7", "anthropic-api"),
        ("openai/gpt-5.4", "openai", "gpt-5.4", "openai-api"),
        # '/' is tried first; its vendor is unknown, so ':' is tried next.
        ("openai:org/model", "openai", "org/model", "openai-api"),
    ],
)
def test_upstream(reference: Registry, model, vendor, rest, provider) -> None:
    upstream = reference.upstream(model)
    assert (upstream.vendor, upstream.model, upstream.provider.name) == (vendor, rest, provider)


@pytest.mark.parametrize("model", ["gpt-4o", "groq/llama", "platform/x", "moonshot/", ""])
def test_upstream_not_namespaced_is_an_error(reference: Registry, model) -> None:
    with pytest.raises(NotNamespaced):
        reference.upstream(model)


def test_a_bare_string_auth_env_is_refused(reference: Registry) -> None:
    # As a set of letters it would quietly pick another arm.
    with pytest.raises(TypeError):
        reference.check("codex", "gpt-5.5", auth_env="OPENAI_API_KEY")
    with pytest.raises(TypeError):
        reference.derive("codex", "gpt-5.5", auth_env="OPENAI_API_KEY")


def test_long_keys_never_enter_the_decision_cache(reference: Registry) -> None:
    registry = Registry(reference.manifest)
    registry.check("x" * 100_000, "sonnet")
    registry.check("claude-code", "sonnet", auth_env=["A" * 100_000])
    registry.check("claude-code", "s" * 100_000)
    assert registry._check.cache_info().currsize == 0
    registry.check("claude-code", "sonnet")
    assert registry._check.cache_info().currsize == 1


def test_the_registry_manifest_is_read_only(reference: Registry) -> None:
    with pytest.raises(AttributeError):
        reference.manifest = reference.manifest  # type: ignore[misc]


def test_ambiguity_when_the_given_auth_env_fits_both(crafted: Registry) -> None:
    decision = crafted.check("rt", "shared-x", auth_env=["DELTA_KEY", "EPSILON_KEY"])
    assert decision.code is Code.AMBIGUOUS_MODEL_FOR_RUNTIME
    assert "more than one" in decision.reason
