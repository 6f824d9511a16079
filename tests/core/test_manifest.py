"""Every load rule of ROUTING.md section 2, failing closed with every problem and its place."""

from __future__ import annotations

import pytest
import yaml

from routegate import InvalidManifest, Registry
from routegate.manifest import load_manifest, parse_manifest
from tests.manifests import provider


def problems_of(doc: object) -> dict[str, str]:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(text, source="test")
    return {p.where: p.message for p in caught.value.problems}


def test_reference_manifest_loads(reference: Registry) -> None:
    assert len(reference.catalog) == 27
    assert reference.runtimes == ("claude-code", "hermes", "codex", "openclaw", "google-adk")
    assert len(reference.fingerprint) == 16
    int(reference.fingerprint, 16)


def test_invalid_manifest_is_a_value_error() -> None:
    assert issubclass(InvalidManifest, ValueError)


def test_schema_version_must_be_1(base_doc) -> None:
    base_doc["schema_version"] = 2
    assert "schema_version" in problems_of(base_doc)


def test_schema_version_missing(base_doc) -> None:
    del base_doc["schema_version"]
    assert "must be 1" in problems_of(base_doc)["schema_version"]


def test_at_least_one_provider(base_doc) -> None:
    base_doc["providers"] = []
    assert "providers" in problems_of(base_doc)


@pytest.mark.parametrize("field", ["name", "display_name", "protocol", "auth_mode", "auth_env", "model_prefix_match"])
def test_required_provider_fields(base_doc, field) -> None:
    del base_doc["providers"][2][field]
    assert problems_of(base_doc)[f"providers[2].{field}"] == "required field is missing"


def test_protocol_enum(base_doc) -> None:
    base_doc["providers"][1]["protocol"] = "grpc"
    assert "'openai' or 'anthropic'" in problems_of(base_doc)["providers[1].protocol"]


def test_auth_mode_enum(base_doc) -> None:
    base_doc["providers"][1]["auth_mode"] = "password"
    assert "providers[1].auth_mode" in problems_of(base_doc)


def test_auth_env_non_empty(base_doc) -> None:
    base_doc["providers"][1]["auth_env"] = []
    assert "providers[1].auth_env" in problems_of(base_doc)


def test_pasted_key_is_refused_and_never_echoed(base_doc) -> None:
    secret = "sk-live-THIS-IS-A-SECRET-1234"
    base_doc["providers"][1]["auth_env"] = ["ALPHA_API_KEY", secret]
    base_doc["providers"][2]["auth_token_env"] = secret
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(yaml.safe_dump(base_doc), source="test")
    where = {p.where for p in caught.value.problems}
    assert {"providers[1].auth_env[1]", "providers[2].auth_token_env"} <= where
    assert secret not in str(caught.value)
    assert all(secret not in p.message for p in caught.value.problems)


def test_unknown_provider_field_is_refused(base_doc) -> None:
    base_doc["providers"][1]["upstream_vendr"] = "typo"
    assert "unknown field" in problems_of(base_doc)["providers[1].upstream_vendr"]


@pytest.mark.parametrize(
    "pattern",
    ["(?=claude)claude", "(?<!x)claude", r"(a)\1", "claude(?!-x)"],
)
def test_patterns_python_accepts_but_re2_refuses(base_doc, pattern) -> None:
    import re

    re.compile(pattern)  # Python's re would take it...
    base_doc["providers"][3]["model_prefix_match"] = pattern
    message = problems_of(base_doc)["providers[3].model_prefix_match"]
    assert "RE2" in message  # ...routegate refuses it at load time


def test_pattern_that_does_not_compile(base_doc) -> None:
    base_doc["providers"][3]["model_prefix_match"] = "^gamma-["
    assert "missing ]" in problems_of(base_doc)["providers[3].model_prefix_match"]


def test_provider_names_unique(base_doc) -> None:
    base_doc["providers"].append(provider("beta", "^beta2/"))
    assert "duplicate provider name 'beta'" in problems_of(base_doc)["providers[6].name"]


def test_upstream_vendor_unique(base_doc) -> None:
    base_doc["providers"][2]["upstream_vendor"] = "alpha"
    assert "already the upstream vendor of 'alpha'" in problems_of(base_doc)["providers[2].upstream_vendor"]


def test_at_least_one_runtime(base_doc) -> None:
    base_doc["runtimes"] = {}
    assert "runtimes" in problems_of(base_doc)


def test_every_runtime_has_an_arm(base_doc) -> None:
    base_doc["runtimes"]["solo"]["providers"] = []
    assert "runtimes.solo.providers" in problems_of(base_doc)


def test_arm_names_a_catalog_provider(base_doc) -> None:
    base_doc["runtimes"]["rt"]["providers"].append({"name": "x"})
    assert problems_of(base_doc)["runtimes.rt.providers[6]"] == "unknown provider 'x' (not in the providers catalog)"


def test_no_provider_twice_in_a_runtime(base_doc) -> None:
    base_doc["runtimes"]["rt"]["providers"].append({"name": "beta"})
    assert "appears twice" in problems_of(base_doc)["runtimes.rt.providers[6]"]


def test_menu_ids_are_clean(base_doc) -> None:
    base_doc["runtimes"]["solo"]["providers"][0]["models"] = [" padded "]
    assert "runtimes.solo.providers[0].models[0]" in problems_of(base_doc)


@pytest.mark.parametrize(
    "keyed",
    [
        {"name": "platform"},
        {"name": "alpha"},  # declares upstream_vendor
    ],
)
def test_guardrail_g1_routing_only_arm_never_platform_keyed(base_doc, keyed) -> None:
    base_doc["runtimes"]["solo"]["providers"].append(keyed)
    message = problems_of(base_doc)["runtimes.solo.providers[1]"]
    assert "G1" in message and keyed["name"] in message


def test_guardrail_g1_declared_platform_keyed(base_doc) -> None:
    base_doc["providers"][3]["platform_keyed"] = True  # gamma
    base_doc["runtimes"]["solo"]["providers"].append({"name": "gamma"})
    assert "G1" in problems_of(base_doc)["runtimes.solo.providers[1]"]


def test_platform_keyed_is_fine_on_a_menu_arm(crafted: Registry) -> None:
    assert crafted.catalog["alpha"].platform_keyed  # alpha has upstream_vendor and a menu arm: allowed


def test_every_problem_is_listed_not_just_the_first(base_doc) -> None:
    base_doc["schema_version"] = 3
    base_doc["providers"][1]["protocol"] = "grpc"
    base_doc["providers"][4]["model_prefix_match"] = "(?=x)"
    base_doc["runtimes"]["rt"]["providers"].append({"name": "nope"})
    base_doc["runtimes"]["solo"]["providers"].append({"name": "platform"})
    found = problems_of(base_doc)
    assert {
        "schema_version",
        "providers[1].protocol",
        "providers[4].model_prefix_match",
        "runtimes.rt.providers[6]",
        "runtimes.solo.providers[1]",
    } <= set(found)


def test_not_yaml() -> None:
    found = problems_of("providers: [unclosed")
    assert any("not valid YAML" in message for message in found.values())


def test_not_a_mapping() -> None:
    assert "<document>" in problems_of("- just\n- a list\n")


def test_unreadable_file(tmp_path) -> None:
    with pytest.raises(InvalidManifest, match="cannot read"):
        load_manifest(tmp_path / "missing.yaml")


def test_fingerprint_ignores_comments_and_layout(base_doc, to_yaml) -> None:
    text = to_yaml(base_doc)
    relaid = "# a comment\n" + yaml.safe_dump(base_doc, sort_keys=True, indent=4)
    assert parse_manifest(text).fingerprint == parse_manifest(relaid).fingerprint


def test_fingerprint_changes_with_data(base_doc, to_yaml) -> None:
    before = parse_manifest(to_yaml(base_doc)).fingerprint
    base_doc["providers"][2]["display_name"] = "Beta, renamed"
    assert parse_manifest(to_yaml(base_doc)).fingerprint != before


def test_menu_is_ordered_and_deduplicated(crafted: Registry) -> None:
    assert crafted.menu("rt") == ("alpha/one", "both-arms", "Gamma-Menu", "platform/listed", "alpha/paid")


def test_a_duplicate_key_fails_closed_instead_of_the_last_one_winning(base_doc, to_yaml) -> None:
    text = to_yaml(base_doc).replace(
        "  model_prefix_match: ^beta[:/]\n", "  model_prefix_match: ^beta[:/]\n  model_prefix_match: ^\n"
    )
    text += "runtimes:\n  other:\n    providers:\n    - name: beta\n"
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(text, source="test")
    messages = [p.message for p in caught.value.problems]
    assert any("duplicate key 'model_prefix_match'" in m for m in messages)
    assert any("duplicate key 'runtimes'" in m for m in messages)
    assert all(p.where.startswith("line ") for p in caught.value.problems if "duplicate" in p.message)


def test_fingerprint_follows_runtime_order(base_doc, to_yaml) -> None:
    before = parse_manifest(to_yaml(base_doc)).fingerprint
    base_doc["runtimes"] = dict(reversed(list(base_doc["runtimes"].items())))
    assert parse_manifest(to_yaml(base_doc)).fingerprint != before


@pytest.mark.parametrize("vendor", ["open/ai", "open:ai"])
def test_upstream_vendor_cannot_hold_a_separator(base_doc, vendor) -> None:
    base_doc["providers"][1]["upstream_vendor"] = vendor
    assert "never be resolved" in problems_of(base_doc)["providers[1].upstream_vendor"]


def test_an_unreadable_manifest_is_its_own_error(tmp_path) -> None:
    from routegate import UnreadableManifest

    with pytest.raises(UnreadableManifest):
        load_manifest(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"schema_version: 1 # caf\xe9\n")
    with pytest.raises(UnreadableManifest):
        load_manifest(tmp_path / "latin1.yaml")
