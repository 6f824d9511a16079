"""The gates of section 7, in order, as the core decides them (HTTP is the service's test)."""

from __future__ import annotations

import pytest

from routegate import Registry
from routegate.decision import Code
from routegate.gate import CreateRequest, GateRefusal, admit_create, admit_model_change
from routegate.templates import TemplateRoot

TEMPLATES = TemplateRoot()


def lookup(name: str):
    template = TEMPLATES.get(name)
    return template.runtime, template.default_model


def admit(registry: Registry, **fields):
    return admit_create(registry, CreateRequest(name="w", **fields), template_lookup=lookup)


def refusal(registry: Registry, **fields) -> GateRefusal:
    with pytest.raises(GateRefusal) as caught:
        admit(registry, **fields)
    return caught.value


def test_template_fills_runtime_and_model(reference: Registry) -> None:
    admission = admit(reference, template="hermes")
    assert (admission.runtime, admission.model) == ("hermes", "nousresearch/hermes-4-70b")
    assert (admission.provider, admission.billing_mode) == ("nousresearch", "byok")


def test_request_fields_win_over_the_template(reference: Registry) -> None:
    admission = admit(reference, template="hermes", model="moonshot/kimi-k2.6")
    assert (admission.runtime, admission.model) == ("hermes", "moonshot/kimi-k2.6")
    assert admission.billing_mode == "platform_managed"


@pytest.mark.parametrize("name", ["../hermes", "/etc/passwd"])
def test_template_path_escape_is_invalid(reference: Registry, name: str) -> None:
    assert refusal(reference, template=name).code is Code.INVALID_TEMPLATE


def test_missing_template_leaves_runtime_unresolved(reference: Registry) -> None:
    refused = refusal(reference, template="no-such-template")
    assert refused.code is Code.RUNTIME_UNRESOLVED
    assert "no-such-template" in refused.message


def test_blank_runtime_is_unresolved_not_defaulted(reference: Registry) -> None:
    assert refusal(reference, runtime="  ", model="sonnet").code is Code.RUNTIME_UNRESOLVED


def test_default_runtime_when_none_asked(reference: Registry) -> None:
    assert admit(reference, model="sonnet").runtime == "claude-code"


def test_external_gets_the_external_runtime_and_needs_no_model(reference: Registry) -> None:
    admission = admit(reference, external=True)
    assert (admission.runtime, admission.model, admission.decision) == ("external", None, None)


def test_external_with_a_registry_runtime_is_unsupported(reference: Registry) -> None:
    assert refusal(reference, external=True, runtime="hermes").code is Code.RUNTIME_UNSUPPORTED


def test_unknown_runtime_is_unsupported(reference: Registry) -> None:
    refused = refusal(reference, runtime="nope", model="x")
    assert refused.code is Code.RUNTIME_UNSUPPORTED
    assert "langgraph" in refused.context["supported"]


def test_foreign_runtime_fails_open(reference: Registry) -> None:
    admission = admit(reference, runtime="langgraph", model="anything")
    assert admission.decision.path.value == "fail_open"


def test_model_required(reference: Registry) -> None:
    assert refusal(reference, runtime="hermes").code is Code.MODEL_REQUIRED


def test_check_refusal_carries_its_decision(reference: Registry) -> None:
    refused = refusal(reference, runtime="hermes", model="gpt-4o")
    assert refused.code is Code.UNREGISTERED_MODEL_FOR_RUNTIME
    assert refused.decision is not None and refused.decision.suggestions


def test_model_change_reruns_the_model_gates(reference: Registry) -> None:
    assert admit_model_change(reference, "hermes", "deepseek/deepseek-r1").provider.name == "deepseek"
    with pytest.raises(GateRefusal) as caught:
        admit_model_change(reference, "hermes", "platform/anything")
    assert caught.value.code is Code.UNREGISTERED_MODEL_FOR_RUNTIME
    with pytest.raises(GateRefusal) as caught:
        admit_model_change(reference, "hermes", " ")
    assert caught.value.code is Code.MODEL_REQUIRED


def test_unsafe_template_is_refused_even_when_nothing_is_left_to_fill(reference: Registry) -> None:
    refused = refusal(reference, template="../../etc", runtime="hermes", model="deepseek/deepseek-r1")
    assert refused.code is Code.INVALID_TEMPLATE


def test_a_missing_template_is_not_stored_even_when_nothing_is_left_to_fill(reference: Registry) -> None:
    refused = refusal(reference, template="no-such-template", runtime="hermes", model="deepseek/deepseek-r1")
    assert refused.code is Code.INVALID_TEMPLATE
    assert "no-such-template" in refused.message


def test_model_required_names_the_template_that_could_not_fill_it(reference: Registry) -> None:
    refused = refusal(reference, template="no-such-template", runtime="hermes")
    assert refused.code is Code.MODEL_REQUIRED
    assert "no-such-template" in refused.message and "{runtime}" not in refused.message
