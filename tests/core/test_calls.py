"""The call decision against its oracle: check() with the scope and payer rules, for every runtime and many ids."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import PLATFORM, BillingMode, Code, NotNamespaced, Registry
from routegate.calls import CallDecision, CallGate, Payer, Scope, decide_call
from routegate.drift import drift
from routegate.templates import TemplateRoot
from tests.core.crafted import BASE

REFERENCE = Registry.load()
CRAFTED = Registry.from_yaml(yaml.safe_dump(BASE, sort_keys=False), source="crafted")
REGISTRIES = (REFERENCE, CRAFTED)


def _ids(registry: Registry) -> list[str]:
    menu = [m for rt in registry.runtimes for m in registry.menu(rt)]
    residual = [r.id for t in TemplateRoot().all() for r in drift(registry, t).residual]
    byok = ["GLM-5", "glm-4.6", "deepseek-chat", "openrouter/anthropic/claude-opus-4-1", "claude-opus-4-1", "beta/x"]
    platform = ["platform/x", "platform/", "platform:anthropic/claude-opus-4-7", "alpha/paid", "alpha/", "alpha:one"]
    drifted = ["anthropic/claude-opus-4-1", "openai/gpt-4o", "gemini/gemini-2.5-pro", "minimax:MiniMax-M2", ""]
    return list(dict.fromkeys(menu + residual + byok + platform + drifted))


def _look_alikes(model: str) -> list[str]:
    """Case and separator variants, padding, and near misses of an id."""
    return [
        model.upper(),
        model.lower(),
        model.replace("/", ":"),
        model.replace(":", "/"),
        model.replace("-", "_"),
        model.replace(".", "-"),
        f"  {model}\n",
        f"{model}x",
        model[:-1],
        f"platform/{model}",
        model.replace("o", "\u043e"),  # Cyrillic o
    ]


IDS = {id(r): _ids(r) for r in REGISTRIES}
AUTH_ENV = st.frozensets(
    st.sampled_from(["OPENAI_API_KEY", "KIMI_API_KEY", "OPENROUTER_API_KEY", "MOLECULE_LLM_USAGE_TOKEN", "DELTA_KEY"])
)


def _models(registry: Registry) -> st.SearchStrategy[str]:
    known = st.sampled_from(IDS[id(registry)])
    return st.one_of(known, known.flatmap(lambda m: st.sampled_from(_look_alikes(m))), st.text(max_size=40))


def oracle(
    registry: Registry, runtime: str, own: str | None, auth_env: frozenset[str], model: str, scope: Scope
) -> tuple[bool, Code | None, Payer | None, object]:
    """What the issue says a call decision is, spelled out independently of decide_call."""
    decision = registry.check(runtime, model, auth_env)
    if not decision.allowed:
        return False, decision.code, None, None
    if not model.strip():
        return False, Code.MODEL_REQUIRED, None, None
    if scope is Scope.MODEL and model.strip() != (own or "").strip():
        return False, Code.CALL_OUTSIDE_WORKSPACE_MODEL, None, None
    if decision.billing_mode is BillingMode.PLATFORM_MANAGED:
        try:
            return True, None, Payer.PLATFORM, registry.upstream(model.strip())
        except NotNamespaced:
            return False, Code.NO_PLATFORM_UPSTREAM, None, None
    return True, None, Payer.TENANT, None


def _workspaces(registry: Registry) -> st.SearchStrategy[tuple[str, str | None]]:
    """(runtime, own model) for every runtime of the registry and the foreign ones."""
    runtimes = (*registry.runtimes, *registry.foreign_runtimes)
    return st.sampled_from(runtimes).flatmap(
        lambda rt: st.tuples(
            st.just(rt), st.sampled_from([None, *(registry.menu(rt) if rt in registry.runtimes else ("any",))])
        )
    )


def _assert_matches_oracle(
    registry: Registry, workspace: tuple[str, str | None], auth_env: frozenset[str], model: str, scope: Scope
) -> CallDecision:
    runtime, own = workspace
    call = decide_call(registry, runtime, own, auth_env, model, scope)
    allowed, code, payer, upstream = oracle(registry, runtime, own, auth_env, model, scope)
    assert (call.allowed, call.code, call.payer, call.upstream) == (allowed, code, payer, upstream)
    assert call.decision == registry.check(runtime, model, auth_env)
    if call.payer is Payer.PLATFORM:
        assert call.upstream is not None and call.upstream.provider.upstream_vendor == call.upstream.vendor
        assert call.required_env == ()
    if call.payer is Payer.TENANT:
        assert call.upstream is None
        assert call.required_env == call.decision.required_env
        platform = registry.catalog.get(PLATFORM)
        assert platform is None or not set(call.required_env) & set(platform.auth_env)
    assert CallGate(registry).decide(runtime, own, auth_env, model, scope) == call
    assert call.reason
    return call


@pytest.mark.parametrize("registry", REGISTRIES, ids=["reference", "crafted"])
@pytest.mark.parametrize("scope", list(Scope))
def test_every_crafted_id_on_every_runtime_matches_the_oracle(registry: Registry, scope: Scope) -> None:
    runtimes = (*registry.runtimes, *registry.foreign_runtimes, "hermess")
    for runtime in runtimes:
        own = registry.menu(runtime)[0] if runtime in registry.runtimes and registry.menu(runtime) else None
        for model in IDS[id(registry)]:
            for asked in (model, *_look_alikes(model)):
                _assert_matches_oracle(registry, (runtime, own), frozenset(), asked, scope)


@pytest.mark.parametrize("registry", REGISTRIES, ids=["reference", "crafted"])
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), auth_env=AUTH_ENV, scope=st.sampled_from(Scope))
def test_call_decision_is_check_with_the_payer_rule(
    registry: Registry, data: st.DataObject, auth_env: frozenset[str], scope: Scope
) -> None:
    workspace = data.draw(_workspaces(registry))
    _assert_matches_oracle(registry, workspace, auth_env, data.draw(_models(registry)), scope)


def test_the_billing_guardrail_id_is_refused_on_hermes() -> None:
    call = decide_call(REFERENCE, "hermes", "moonshot/kimi-k2.6", (), "anthropic/claude-opus-4-1")
    assert not call.allowed and call.code is Code.UNREGISTERED_MODEL_FOR_RUNTIME and call.payer is None
    assert call.reason == REFERENCE.check("hermes", "anthropic/claude-opus-4-1").reason


def test_a_platform_menu_id_is_paid_by_the_platform_through_its_vendor() -> None:
    call = decide_call(REFERENCE, "claude-code", None, (), " anthropic/claude-opus-4-7 ")
    assert call.allowed and call.payer is Payer.PLATFORM and call.model == "anthropic/claude-opus-4-7"
    assert call.upstream is not None and (call.upstream.vendor, call.upstream.model) == ("anthropic", "claude-opus-4-7")
    assert call.provider is not None and call.provider.name == PLATFORM


def test_a_byok_id_names_the_tenants_key_and_no_upstream() -> None:
    call = decide_call(REFERENCE, "claude-code", None, (), "claude-sonnet-4-6")
    assert call.allowed and call.payer is Payer.TENANT and call.upstream is None
    assert call.required_env == ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


def test_a_platform_id_without_a_vendor_is_refused() -> None:
    call = decide_call(CRAFTED, "rt", None, (), "platform/listed")
    assert not call.allowed and call.code is Code.NO_PLATFORM_UPSTREAM
    assert "no upstream vendor" in call.reason and call.decision.allowed


def test_scope_model_admits_only_the_workspaces_own_model() -> None:
    own = decide_call(REFERENCE, "hermes", "moonshot/kimi-k2.6", (), "moonshot/kimi-k2.6", Scope.MODEL)
    other = decide_call(REFERENCE, "hermes", "moonshot/kimi-k2.6", (), "moonshot/kimi-k2.5", Scope.MODEL)
    none = decide_call(REFERENCE, "external", None, (), "anything", Scope.MODEL)
    assert own.allowed and own.payer is Payer.PLATFORM
    assert other.code is Code.CALL_OUTSIDE_WORKSPACE_MODEL and "may call only 'moonshot/kimi-k2.6'" in other.reason
    assert none.code is Code.CALL_OUTSIDE_WORKSPACE_MODEL and "has no model of its own" in none.reason


def test_no_model_is_refused_even_where_the_create_gate_defers() -> None:
    for runtime in ("hermes", "external"):
        call = decide_call(REFERENCE, runtime, None, (), "  ")
        assert call.code is Code.MODEL_REQUIRED and call.decision.allowed


def test_a_call_decision_cannot_be_built_inconsistent() -> None:
    allowed = decide_call(REFERENCE, "claude-code", None, (), "anthropic/claude-opus-4-7")
    with pytest.raises(ValueError, match="upstream"):
        dataclasses.replace(allowed, upstream=None)
    with pytest.raises(ValueError, match="payer"):
        dataclasses.replace(allowed, payer=None)
    refused = decide_call(REFERENCE, "hermes", None, (), "gpt-4o")
    with pytest.raises(ValueError, match="refused"):
        dataclasses.replace(refused, payer=Payer.TENANT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        allowed.payer = Payer.TENANT  # type: ignore[misc]


def test_long_ids_are_decided_and_not_cached() -> None:
    gate = CallGate(REFERENCE)
    big = "platform/" + "x" * 100_000
    assert gate.decide("hermes", None, frozenset(), big) == decide_call(REFERENCE, "hermes", None, (), big)
    assert gate._cached.cache_info().currsize == 0
