"""A runtime that vanishes or appears changes every id of it: ``diff`` reports those classes, proven.

Removing a runtime turns every id it admitted into ``RUNTIME_UNSUPPORTED`` (``lost``), or into a
fail-open admission when the runtime stays a foreign one; adding one turns refusals (or fail-open
admissions) into its decisions. Each case is checked against ``check()`` itself: every reported
witness reproduces its class, and every probe id (menu ids, ids built on pattern literals, and every
short string over the patterns' alphabet) whose outcome changes falls into a reported class.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import ChangeKind, ManifestDiff, Registry, diff
from routegate.errors import InvalidManifest
from routegate.proof.diff import RISKY, Outcome
from routegate.publishing import StoredWorkspace, assess
from tests.manifests import manifest_doc, provider

from .conftest import Cli
from .test_diff import REFERENCE, REFERENCE_DOC, _probe_ids

Doc = dict[str, Any]
_UNPATTERNED = ("", " ", "\x00", "a\x07b")


def without(doc: Doc, runtime: str, foreign: Iterable[str] = ()) -> Registry:
    trimmed = copy.deepcopy(doc)
    del trimmed["runtimes"][runtime]
    return Registry.from_yaml(yaml.safe_dump(trimmed, sort_keys=False), foreign_runtimes=tuple(foreign))


def registry(doc: Doc, foreign: Iterable[str] = ()) -> Registry:
    return Registry.from_yaml(yaml.safe_dump(doc, sort_keys=False), foreign_runtimes=tuple(foreign))


def assert_agrees_with_check(
    result: ManifestDiff, old: Registry, new: Registry, runtime: str, probes: list[str]
) -> None:
    """Every witness reproduces its class; every probe whose outcome changes is in a reported class."""
    assert result.proven, result.unproven
    assert {c.runtime for c in result.changes} <= {runtime}
    found = {(c.old, c.new): c for c in result.changes}
    assert len(found) == len(result.changes), "one class per (old, new)"
    for change in result.changes:
        for model in (change.witness, *change.ids):
            assert (Outcome.of(old.check(runtime, model)), Outcome.of(new.check(runtime, model))) == (
                change.old,
                change.new,
            ), (change, model)
        assert change.kind is ChangeKind.of(change.old, change.new)
    for model in probes:
        before, after = Outcome.of(old.check(runtime, model)), Outcome.of(new.check(runtime, model))
        if before != after:
            assert (before, after) in found, (runtime, model, before, after)
    assert result.failed() == any(c.kind in RISKY for c in result.changes)


def reference_probes(runtime: str) -> list[str]:
    return [*_probe_ids(REFERENCE, REFERENCE), *REFERENCE.menu(runtime), *_UNPATTERNED]


# --- crafted families: each runtime of the bundled manifest removed, and added ------------------


@pytest.mark.parametrize("runtime", REFERENCE.runtimes)
def test_a_removed_runtime_loses_every_id_it_admitted(runtime: str) -> None:
    new = without(REFERENCE_DOC, runtime)
    result = diff(REFERENCE, new)
    assert result.runtimes_removed == (runtime,)
    probes = reference_probes(runtime)
    assert_agrees_with_check(result, REFERENCE, new, runtime, probes)
    assert result.changes and {c.kind for c in result.changes} == {ChangeKind.LOST}
    assert all(c.new == Outcome(False) for c in result.changes)
    lost_menu = {model for c in result.changes for model in c.ids}
    assert lost_menu == set(REFERENCE.menu(runtime)), "every menu id is named"
    assert {c.old for c in result.changes} >= {Outcome.of(REFERENCE.check(runtime, m)) for m in probes} - {
        Outcome(False)
    }, "every kind of admission it made is lost"
    assert result.failed()


@pytest.mark.parametrize("runtime", REFERENCE.runtimes)
def test_a_removed_runtime_that_stays_foreign_fails_open(runtime: str) -> None:
    new = without(REFERENCE_DOC, runtime, foreign=[runtime])
    result = diff(REFERENCE, new)
    assert_agrees_with_check(result, REFERENCE, new, runtime, reference_probes(runtime))
    assert all(c.new == Outcome(True) for c in result.changes)
    refused_before = [c for c in result.changes if not c.old.allowed]
    assert [c.kind for c in refused_before] == [ChangeKind.GAINED], "refusals now fail open"


@pytest.mark.parametrize("runtime", REFERENCE.runtimes)
def test_an_added_runtime_gains_what_it_admits(runtime: str) -> None:
    old = without(REFERENCE_DOC, runtime)
    result = diff(old, REFERENCE)
    assert result.runtimes_added == (runtime,)
    assert_agrees_with_check(result, old, REFERENCE, runtime, reference_probes(runtime))
    platform_ids = {m for m in REFERENCE.menu(runtime) if Outcome.of(REFERENCE.check(runtime, m)).platform_billed}
    assert {c.kind for c in result.changes} == {ChangeKind.GAINED} | (
        {ChangeKind.TO_PLATFORM} if platform_ids else set()
    )
    assert {m for c in result.changes if c.kind is ChangeKind.TO_PLATFORM for m in c.ids} == platform_ids
    assert {model for c in result.changes for model in c.ids} == set(REFERENCE.menu(runtime))


@pytest.mark.parametrize("runtime", REFERENCE.runtimes)
def test_a_foreign_runtime_joining_the_registry_shows_who_pays_now(runtime: str) -> None:
    old = without(REFERENCE_DOC, runtime, foreign=[runtime])
    result = diff(old, REFERENCE)
    assert_agrees_with_check(result, old, REFERENCE, runtime, reference_probes(runtime))
    kinds = {c.new.billing_mode: c.kind for c in result.changes}
    platform_ids = [m for m in REFERENCE.menu(runtime) if Outcome.of(REFERENCE.check(runtime, m)).platform_billed]
    assert (ChangeKind.TO_PLATFORM in kinds.values()) == bool(platform_ids)
    assert all(c.kind is ChangeKind.GAINED for c in result.changes if c.new.allowed and not c.new.platform_billed)
    assert any(c.kind is ChangeKind.LOST for c in result.changes), "fail-open admitted ids the registry refuses"
    assert result.failed()


# --- generated manifests, brute force over every short id ---------------------------------------

_ALPHABET = "ab/-A"
_PATTERNS = ["^a", "^ab/", "(?i)^b", "a$", "b-", "^a(b|/)", "^b/[ab]+$", "/", "^A-", "(?i)ba"]
_IDS = ["a", "ab/a", "b-a", "ba", "A-b", "b/ab", "aa", "/"]
_SHORT = ["".join(chars) for size in range(1, 4) for chars in itertools.product(_ALPHABET, repeat=size)]


@st.composite
def manifests(draw: st.DrawFn) -> Doc:
    names = [f"p{i}" for i in range(draw(st.integers(2, 5)))]
    patterns = draw(st.lists(st.sampled_from(_PATTERNS), min_size=len(names), max_size=len(names)))
    catalog = [provider(n, p) for n, p in zip(names, patterns, strict=True)]
    catalog.append(provider("platform", "^platform/"))
    runtimes: dict[str, list[Doc]] = {}
    for index in range(draw(st.integers(1, 3))):
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
        arms: list[Doc] = []
        for name in chosen:
            menu = draw(st.lists(st.sampled_from(_IDS), max_size=2, unique=True))
            arms.append({"name": name, "models": menu} if menu else {"name": name})
        if draw(st.booleans()):
            arms.append({"name": "platform", "models": draw(st.lists(st.sampled_from(_IDS), min_size=1, unique=True))})
        runtimes[f"rt{index}"] = arms
    runtimes["kept"] = [{"name": names[0]}]  # so the manifest keeps a runtime when one goes
    return manifest_doc(catalog, runtimes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=manifests(), pick=st.integers(0, 2), foreign=st.booleans(), adding=st.booleans())
def test_generated_runtimes_removed_or_added_agree_with_brute_force(
    doc: Doc, pick: int, foreign: bool, adding: bool
) -> None:
    runtime = f"rt{pick % (len(doc['runtimes']) - 1)}"
    try:
        full = registry(doc)
    except InvalidManifest:
        return  # a draw the load rules refuse: nothing to diff
    lacking = without(doc, runtime, foreign=[runtime] if foreign else [])
    old, new = (lacking, full) if adding else (full, lacking)
    result = diff(old, new)
    probes = [*_SHORT, *_probe_ids(full, full), *full.menu(runtime), *_UNPATTERNED]
    assert_agrees_with_check(result, old, new, runtime, probes)


# --- the CLI's exit code, and the publish gate's impact ---------------------------------------------


def test_cli_fails_on_a_vanished_or_new_runtime(cli: Cli, write_manifest: Any) -> None:
    reference = write_manifest(REFERENCE_DOC, "old.yaml")
    no_hermes = copy.deepcopy(REFERENCE_DOC)
    del no_hermes["runtimes"]["hermes"]
    removed = write_manifest(no_hermes, "removed.yaml")
    with_langgraph = copy.deepcopy(REFERENCE_DOC)
    with_langgraph["runtimes"]["langgraph"] = {"providers": [{"name": "platform", "models": ["lg/gpt-x"]}]}
    added = write_manifest(with_langgraph, "added.yaml")

    done = cli("diff", reference, removed)
    assert done.returncode == 1, done.stdout
    assert "runtimes - hermes" in done.stdout and "lost" in done.stdout
    assert cli("diff", reference, removed, "--fail-on", "").returncode == 0
    assert cli("diff", reference, removed, "--fail-on", "to_platform").returncode == 0

    code, payload = cli.json("diff", reference, added)
    assert code == 1
    kinds = {(c["runtime"], c["kind"]) for c in payload["changes"]}
    assert ("langgraph", "to_platform") in kinds
    assert any(c["witness"] == "lg/gpt-x" and c["kind"] == "to_platform" for c in payload["changes"])
    assert cli("diff", reference, added, "--fail-on", "to_platform").returncode == 1
    assert cli("diff", reference, added, "--fail-on", "").returncode == 0


def test_the_publish_gate_impact_shows_a_vanished_and_a_new_runtime() -> None:
    stored = StoredWorkspace("hermes", "moonshot/kimi-k2.6", False, frozenset(), "platform", None, id="ws-1", name="h")
    no_hermes = without(REFERENCE_DOC, "hermes")
    impact = assess(no_hermes, [stored], current=REFERENCE)
    assert impact.diff is not None
    assert {c["kind"] for c in impact.diff["changes"] if c["runtime"] == "hermes"} == {"lost"}
    assert [w.id for w in impact.stranded] == ["ws-1"]

    doc = copy.deepcopy(REFERENCE_DOC)
    doc["runtimes"]["langgraph"] = {"providers": [{"name": "platform", "models": ["lg/gpt-x"]}]}
    impact = assess(registry(doc), [], current=REFERENCE)
    assert impact.diff is not None
    assert {"runtime": "langgraph", "kind": "to_platform"}.items() <= next(
        c for c in impact.diff["changes"] if c["witness"] == "lg/gpt-x"
    ).items()
