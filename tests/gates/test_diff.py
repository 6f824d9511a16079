"""``routegate.proof.diff``: every change class of a manifest edit, proven over all ids, each witness confirmed.

Crafted edits of the reference manifest pin the exact classes; a property test
compares the classes of random edits with a brute-force ``check()`` of both
manifests over thousands of ids.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import Budget, ChangeKind, ManifestDiff, Registry, diff
from routegate.billing import BillingMode
from routegate.errors import InvalidManifest
from routegate.manifest import bundled_manifest_path
from routegate.proof.diff import Outcome
from routegate.templates import TemplateRoot

from .test_prove import names_an_exceeded_budget

REFERENCE_TEXT = bundled_manifest_path().read_text(encoding="utf-8")
REFERENCE_DOC: dict[str, Any] = yaml.safe_load(REFERENCE_TEXT)
REFERENCE = Registry.from_yaml(REFERENCE_TEXT, cache_size=1 << 16)  # its decisions are reused by every example

Doc = dict[str, Any]


def edited(change: Callable[[Doc], object]) -> Registry:
    doc = copy.deepcopy(REFERENCE_DOC)
    change(doc)
    return Registry.from_yaml(yaml.safe_dump(doc, sort_keys=False))


def provider(doc: Doc, name: str) -> Doc:
    return next(p for p in doc["providers"] if p["name"] == name)


def arms(doc: Doc, runtime: str) -> list[Doc]:
    return doc["runtimes"][runtime]["providers"]  # type: ignore[no-any-return]


def classes(result: ManifestDiff) -> set[tuple[str, ChangeKind, Outcome, Outcome, tuple[str, ...], bool]]:
    return {(c.runtime, c.kind, c.old, c.new, c.ids, c.by_pattern) for c in result.changes}


def assert_witnesses_confirm(result: ManifestDiff, old: Registry, new: Registry, auth: tuple[str, ...] = ()) -> None:
    for change in result.changes:
        for model in (change.witness, *change.ids):
            assert Outcome.of(old.check(change.runtime, model, auth)) == change.old, (change, model)
            assert Outcome.of(new.check(change.runtime, model, auth)) == change.new, (change, model)
        menus = {*old.menu(change.runtime), *new.menu(change.runtime)}
        assert set(change.ids) <= menus
        if not change.ids:
            assert change.by_pattern and change.witness not in menus


REFUSED = Outcome(False)


PLATFORM_BILLED = Outcome(True, "platform", BillingMode.PLATFORM_MANAGED)


def byok(name: str) -> Outcome:
    return Outcome(True, name, BillingMode.BYOK)


# --- crafted edits ---------------------------------------------------------------------------------


def test_an_unchanged_manifest_and_a_comment_only_edit_report_nothing() -> None:
    commented = "# reviewed by nobody\n" + REFERENCE_TEXT.replace("runtimes:\n", "runtimes:  # the arms\n", 1)
    for new in (REFERENCE, Registry.from_yaml(commented)):
        result = diff(REFERENCE, new)
        assert result.changes == () and result.proven and result.unproven == ()
        assert result.old_fingerprint == result.new_fingerprint
        assert result.providers_changed == () and result.runtimes_added == ()


def test_a_routing_only_arm_added_gains_every_id_its_pattern_routes() -> None:
    new = edited(lambda d: arms(d, "hermes").append({"name": "google"}))
    result = diff(REFERENCE, new)
    assert classes(result) == {("hermes", ChangeKind.GAINED, REFUSED, byok("google"), (), True)}
    assert result.changes[0].witness == "gemini-"
    assert result.proven and not result.failed()
    assert_witnesses_confirm(result, REFERENCE, new)


def test_a_menu_id_dropped_is_lost_and_listed() -> None:
    def drop(doc: Doc) -> None:
        next(a for a in arms(doc, "hermes") if a["name"] == "platform")["models"].remove("moonshot/kimi-k2.5")

    new = edited(drop)
    result = diff(REFERENCE, new)
    assert classes(result) == {("hermes", ChangeKind.LOST, PLATFORM_BILLED, REFUSED, ("moonshot/kimi-k2.5",), False)}
    assert result.changes[0].witness == "moonshot/kimi-k2.5" and result.failed()
    assert_witnesses_confirm(result, REFERENCE, new)


@pytest.mark.parametrize(
    ("pattern", "kind", "witness"),
    [
        ("^openrouter[:/-]", ChangeKind.GAINED, "openrouter-"),  # widened
        ("^openrouter/", ChangeKind.LOST, "openrouter:"),  # narrowed
    ],
)
def test_a_pattern_widened_or_narrowed_changes_exactly_the_ids_between(
    pattern: str, kind: ChangeKind, witness: str
) -> None:
    new = edited(lambda d: provider(d, "openrouter").__setitem__("model_prefix_match", pattern))
    result = diff(REFERENCE, new)
    before, after = (REFUSED, byok("openrouter")) if kind is ChangeKind.GAINED else (byok("openrouter"), REFUSED)
    # openrouter is native to hermes and openclaw: both change, nothing else does.
    assert classes(result) == {(rt, kind, before, after, (), True) for rt in ("hermes", "openclaw")}
    assert {c.witness for c in result.changes} == {witness}
    assert [p.to_dict() for p in result.providers_changed] == [{"name": "openrouter", "fields": ["model_prefix_match"]}]
    assert_witnesses_confirm(result, REFERENCE, new)


def test_a_pattern_made_case_insensitive_gains_the_other_cases() -> None:
    new = edited(lambda d: provider(d, "openrouter").__setitem__("model_prefix_match", "(?i)^openrouter[:/]"))
    result = diff(REFERENCE, new)
    assert classes(result) == {
        (rt, ChangeKind.GAINED, REFUSED, byok("openrouter"), (), True) for rt in ("hermes", "openclaw")
    }
    for change in result.changes:
        assert len(change.witness) == len("openrouter/") and change.witness.lower() in ("openrouter/", "openrouter:")
        assert not re.search("^openrouter[:/]", change.witness)
    assert_witnesses_confirm(result, REFERENCE, new)


def test_two_patterns_made_to_overlap_lose_the_ids_they_now_share_unless_auth_env_settles_it() -> None:
    new = edited(lambda d: provider(d, "arcee").__setitem__("model_prefix_match", "^(arcee|openrouter)[:/]"))
    result = diff(REFERENCE, new)
    # Only hermes has both arms: its openrouter ids become ambiguous, so refused.
    assert classes(result) == {("hermes", ChangeKind.LOST, byok("openrouter"), REFUSED, (), True)}
    assert result.changes[0].witness == "openrouter/"
    assert new.check("hermes", "openrouter/").code == "AMBIGUOUS_MODEL_FOR_RUNTIME"
    assert_witnesses_confirm(result, REFERENCE, new)
    settled = diff(REFERENCE, new, ["OPENROUTER_API_KEY"])
    assert settled.changes == () and settled.proven


def test_a_platform_billed_menu_id_added_is_to_platform_and_fails() -> None:
    def add(doc: Doc) -> None:
        next(a for a in arms(doc, "hermes") if a["name"] == "platform")["models"].append("gpt-4o")

    new = edited(add)
    result = diff(REFERENCE, new)
    assert classes(result) == {("hermes", ChangeKind.TO_PLATFORM, REFUSED, PLATFORM_BILLED, ("gpt-4o",), False)}
    assert result.failed() and not result.failed({ChangeKind.LOST})
    assert_witnesses_confirm(result, REFERENCE, new)


def test_arms_reordered_move_shared_menu_ids_to_the_first_declared_arm() -> None:
    new = edited(lambda d: arms(d, "codex").reverse())
    result = diff(REFERENCE, new)
    shared = tuple(next(a for a in arms(REFERENCE_DOC, "codex") if a["name"] == "openai-api")["models"])
    assert classes(result) == {
        ("codex", ChangeKind.PROVIDER_CHANGED, byok("openai-subscription"), byok("openai-api"), shared, False)
    }
    assert_witnesses_confirm(result, REFERENCE, new)
    assert diff(REFERENCE, new, ["OPENAI_API_KEY"]).changes == ()  # the auth env decides, not the order


def test_runtimes_and_providers_added_and_removed_are_named() -> None:
    def edit(doc: Doc) -> None:
        doc["runtimes"]["new-rt"] = {"providers": [{"name": "google"}]}
        del doc["runtimes"]["google-adk"]
        doc["providers"].append({**provider(doc, "custom"), "name": "custom-two", "model_prefix_match": "^c2/"})
        provider(doc, "custom")["display_name"] = "Custom!"

    result = diff(REFERENCE, edited(edit))
    assert result.runtimes_added == ("new-rt",) and result.runtimes_removed == ("google-adk",)
    assert result.providers_added == ("custom-two",) and result.providers_removed == ()
    assert [(p.name, p.fields) for p in result.providers_changed] == [("custom", ("display_name",))]
    kinds = {(c.runtime, c.kind) for c in result.changes}
    assert {runtime for runtime, _ in kinds} == {"new-rt", "google-adk"}, "only the runtimes that came and went"
    assert {kind for runtime, kind in kinds if runtime == "google-adk"} == {ChangeKind.LOST}
    assert {kind for runtime, kind in kinds if runtime == "new-rt"} == {ChangeKind.GAINED}


def test_templates_list_each_offered_model_whose_decision_changes() -> None:
    new = edited(lambda d: provider(d, "openrouter").__setitem__("model_prefix_match", "^openrouter/"))
    templates = TemplateRoot().all()
    result = diff(REFERENCE, new, templates=templates)
    offered = {
        (t.name, m)
        for t in templates
        if t.runtime is not None
        for m in [*(o.id for o in t.offered), *([t.default_model] if t.default_model else [])]
    }
    runtime_of = {t.name: t.runtime for t in templates}
    changed = {
        (name, model)
        for name, model in offered
        if Outcome.of(REFERENCE.check(runtime_of[name] or "", model))
        != Outcome.of(new.check(runtime_of[name] or "", model))
    }
    assert changed, "the reference templates offer openrouter:... ids"
    assert {(t.template, t.id) for t in result.templates} == changed
    assert {t.kind for t in result.templates} == {ChangeKind.LOST}


def test_a_pattern_beyond_the_automata_makes_its_runtime_unproven_never_silent() -> None:
    new = edited(lambda d: provider(d, "openrouter").__setitem__("model_prefix_match", r"^openrouter\b"))
    result = diff(REFERENCE, new)
    assert not result.proven and result.to_dict()["proven"] is False
    assert {u.runtime for u in result.unproven} == {"hermes", "openclaw"}
    assert all("beyond the prover" in u.reason for u in result.unproven)


def test_an_exploding_pattern_is_cut_off_by_the_budget() -> None:
    explosive = "^openrouter[:/](a|b)*a(a|b){14}"
    new = edited(lambda d: provider(d, "openrouter").__setitem__("model_prefix_match", explosive))
    budget = Budget(states=2_000, seconds=5)
    result = diff(REFERENCE, new, budget=budget)
    assert not result.proven and {u.runtime for u in result.unproven} == {"hermes", "openclaw"}
    assert all(names_an_exceeded_budget(u.reason, budget) for u in result.unproven), result.unproven
    assert_witnesses_confirm(result, REFERENCE, new)


def test_auth_env_must_be_names_not_a_string() -> None:
    with pytest.raises(TypeError):
        diff(REFERENCE, REFERENCE, "OPENAI_API_KEY")


# --- the property: random edits against brute force ----------------------------------------------

_SEPARATORS = ["/", ":", "-", ""]
_TAILS = ["x", "gpt-4o"]
_TEMPLATE_IDS = tuple(dict.fromkeys(o.id for t in TemplateRoot().all() for o in t.offered))


def _probe_ids(old: Registry, new: Registry) -> list[str]:
    """Menu and template ids and their variants, and ids built on every literal a pattern holds, in each case."""
    listed: dict[str, None] = dict.fromkeys(_TEMPLATE_IDS)
    for registry in (old, new):
        for runtime in registry.runtimes:
            listed.update(dict.fromkeys(registry.menu(runtime)))
    ids = dict.fromkeys(variant for model in listed for variant in (model, model.upper(), f" {model} ", model + "x"))
    for registry in (old, new):
        for entry in registry.catalog.values():
            for word in re.findall(r"[A-Za-z0-9][A-Za-z0-9_.-]*", entry.model_prefix_match):
                for variant in (word, word.upper(), word.title()):
                    ids[variant] = None
                    ids.update(dict.fromkeys(f"{variant}{sep}{tail}" for sep in _SEPARATORS for tail in _TAILS))
    return list(ids)


@st.composite
def edits(draw: st.DrawFn) -> Doc:
    doc = copy.deepcopy(REFERENCE_DOC)
    rng = random.Random(draw(st.integers(0, 2**32)))
    names = [p["name"] for p in doc["providers"]]
    byok_names = [p["name"] for p in doc["providers"] if not p.get("upstream_vendor") and p["name"] != "platform"]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                ["widen", "narrow", "fold", "overlap", "add_arm", "drop_arm", "drop_id", "add_id", "reorder", "auth"]
            )
        )
        runtime = rng.choice(list(doc["runtimes"]))
        runtime_arms = arms(doc, runtime)
        entry = provider(doc, rng.choice(names))
        if op == "widen":
            entry["model_prefix_match"] = entry["model_prefix_match"].replace("[:/]", "[:/-]").replace("^", "", 1)
        elif op == "narrow":
            entry["model_prefix_match"] = entry["model_prefix_match"].replace("[:/]", "/") + "x"
        elif op == "fold":
            entry["model_prefix_match"] = "(?i)" + entry["model_prefix_match"].removeprefix("(?i)")
        elif op == "overlap":
            other = provider(doc, rng.choice(names))["model_prefix_match"].removeprefix("(?i)")
            entry["model_prefix_match"] = f"(?:{entry['model_prefix_match'].removeprefix('(?i)')})|(?:{other})"
        elif op == "add_arm":
            present = {a["name"] for a in runtime_arms}
            choices = [n for n in byok_names if n not in present]
            if choices:
                runtime_arms.insert(rng.randrange(len(runtime_arms) + 1), {"name": rng.choice(choices)})
        elif op == "drop_arm" and len(runtime_arms) > 1:
            runtime_arms.pop(rng.randrange(len(runtime_arms)))
        elif op == "drop_id":
            menus = [a for a in runtime_arms if len(a.get("models") or []) > 1]
            if menus:
                models = rng.choice(menus)["models"]
                models.pop(rng.randrange(len(models)))
        elif op == "add_id":
            menus = [a for a in runtime_arms if a.get("models")]
            pool = [m for rt in doc["runtimes"] for a in arms(doc, rt) for m in a.get("models") or []]
            pool += ["gpt-4o", "openrouter/x", "platform/anything", "gemini-x"]
            if menus:
                rng.choice(menus)["models"].append(rng.choice(pool))
        elif op == "reorder":
            rng.shuffle(runtime_arms)
        elif op == "auth":
            entry["auth_env"] = list(provider(doc, rng.choice(names))["auth_env"])
    return doc


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=edits(), auth=st.sampled_from([(), ("OPENROUTER_API_KEY",), ("OPENAI_API_KEY", "ZAI_API_KEY")]))
def test_every_changed_id_falls_in_a_reported_class_and_every_witness_reproduces(
    doc: Doc, auth: tuple[str, ...]
) -> None:
    try:
        new = Registry.from_yaml(yaml.safe_dump(doc, sort_keys=False))
    except InvalidManifest:
        return  # an edit the load rules refuse (G1, a duplicate arm, an empty runtime): nothing to diff
    result = diff(REFERENCE, new, auth)
    assert_witnesses_confirm(result, REFERENCE, new, auth)
    found = {(c.runtime, c.old, c.new): c for c in result.changes}
    assert len(found) == len(result.changes), "one class per (runtime, old, new)"
    unproven = {u.runtime for u in result.unproven}
    probes = _probe_ids(REFERENCE, new)
    for runtime in REFERENCE.runtimes:
        if runtime not in new.runtimes or runtime in unproven:
            continue
        menus = {*REFERENCE.menu(runtime), *new.menu(runtime)}
        for model in probes:
            before = Outcome.of(REFERENCE.check(runtime, model, auth))
            after = Outcome.of(new.check(runtime, model, auth))
            if before == after:
                continue
            change = found.get((runtime, before, after))
            assert change is not None, (runtime, model, before, after)
            trimmed = model.strip()
            assert (trimmed in change.ids) if trimmed in menus else change.by_pattern, (runtime, model, change)
