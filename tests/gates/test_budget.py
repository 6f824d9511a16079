"""One budget per run of ``prove`` and ``diff``: what it guarantees, whatever the machine's load.

A run never makes more states than its budget, every question is answered
(proven, overlapping, or unproven with a reason), a runaway question cannot
starve the others, and ``--strict`` fails on what the budget left unproven.
No assertion here depends on how long anything takes: the time budgets are
set out of reach, so the states decide.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import _re2, diff
from routegate.manifest import parse_manifest
from routegate.proof import _budget
from routegate.proof import overlaps as prover
from routegate.proof.overlaps import ProofReport, Scope, prove
from routegate.registry import Registry
from tests.manifests import manifest_doc, provider

from .conftest import Cli
from .test_diff import REFERENCE, REFERENCE_DOC

OUT_OF_REACH = 10**6  # seconds: no run here comes near it, so the states budget is what binds


def runaway(index: int) -> str:
    """Valid RE2 whose deterministic automaton needs about 2^21 states: past any budget used here."""
    return f"[ab]*a[ab]{{20}}c{{{index}}}"


def family(runaways: int, easy: int) -> dict[str, Any]:
    entries = [provider(f"r{i}", runaway(i)) for i in range(runaways)]
    entries += [provider(f"e{i}", f"^e{i}/x$") for i in range(easy)]
    return manifest_doc(entries, {"rt": [{"name": e["name"]} for e in entries]})


class _Recorded(_budget.Ledger):
    """A ledger that remembers itself, so a test can read what the run spent."""

    made: list[_budget.Ledger] = []  # noqa: RUF012 - one list for the run at hand

    def __init__(self, budget: _budget.Budget, questions: int = 0) -> None:
        super().__init__(budget, questions)
        _Recorded.made.append(self)


@contextmanager
def recorded() -> Iterator[list[_budget.Ledger]]:
    _Recorded.made = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prover, "Ledger", _Recorded)
        patch.setattr(_budget, "Ledger", _Recorded)
        yield _Recorded.made


def assert_every_pair_answered(report: ProofReport, doc: dict[str, Any]) -> None:
    patterns = {p["name"]: p["model_prefix_match"] for p in doc["providers"]}
    for scope in Scope:
        overlaps = sum(o.scope == scope for o in report.overlaps)
        unproven = sum(u.scope == scope for u in report.unproven)
        assert report.disjoint[scope] + overlaps + unproven == report.pairs[scope], scope
    for overlap in report.overlaps:  # an answer is never a guess: RE2 confirms every witness
        a, b = (patterns[name] for name in overlap.providers)
        assert _re2.compile(a).search(overlap.witness) and _re2.compile(b).search(overlap.witness)
    assert all(u.reason for u in report.unproven)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runaways=st.integers(2, 3), easy=st.integers(0, 4), states=st.integers(50, 6_000))
def test_a_proof_never_spends_more_states_than_its_budget_and_answers_every_pair(
    runaways: int, easy: int, states: int
) -> None:
    doc = family(runaways, easy)
    budget = _budget.Budget(states=states, seconds=OUT_OF_REACH)
    with recorded() as ledgers:
        report = prove(parse_manifest(yaml.safe_dump(doc)), budget)
    (ledger,) = ledgers
    assert ledger.spent <= states
    assert_every_pair_answered(report, doc)
    assert report.unproven, "a runaway pair is past any of these budgets"


def test_a_runaway_question_does_not_starve_the_others() -> None:
    doc = family(2, 8)
    report = prove(parse_manifest(yaml.safe_dump(doc)), _budget.Budget(states=30_000, seconds=OUT_OF_REACH))
    assert_every_pair_answered(report, doc)
    assert {(u.scope, u.providers) for u in report.unproven} == {(s, ("r0", "r1")) for s in Scope}
    assert not report.overlaps, "the easy patterns meet nobody, and each was proven so"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states=st.integers(50, 8_000), runtimes=st.sets(st.sampled_from(REFERENCE.runtimes), min_size=1))
def test_a_diff_never_spends_more_states_than_its_budget(states: int, runtimes: set[str]) -> None:
    doc = copy.deepcopy(REFERENCE_DOC)
    doc["providers"].append(provider("runaway", runaway(1)))
    for runtime in runtimes:
        doc["runtimes"][runtime]["providers"].append({"name": "runaway"})
    new = Registry.from_yaml(yaml.safe_dump(doc, sort_keys=False))
    with recorded() as ledgers:
        result = diff(REFERENCE, new, budget=_budget.Budget(states=states, seconds=OUT_OF_REACH))
    (ledger,) = ledgers
    assert ledger.spent <= states
    assert {u.runtime for u in result.unproven} <= runtimes
    assert result.unproven, "the runaway pattern's ids are past any of these budgets"


def test_strict_fails_on_what_the_budget_left_unproven(cli: Cli, write_manifest: Any) -> None:
    path = write_manifest(family(2, 0))
    code, report = cli.json("lint", "--prove", "--max-states", "3000", "--manifest", path)
    assert code == 0 and report["overlaps"] == []
    assert len(report["unproven"]) == sum(report["pairs"].values())
    assert all("3000 states" in u["reason"] and "--max-states" in u["reason"] for u in report["unproven"])
    code, report = cli.json("lint", "--prove", "--strict", "--max-states", "3000", "--manifest", path)
    assert code == 1 and report["ok"] is False

    old = write_manifest(REFERENCE_DOC, "old.yaml")
    doc = copy.deepcopy(REFERENCE_DOC)
    doc["providers"].append(provider("runaway", runaway(1)))
    doc["runtimes"]["hermes"]["providers"].append({"name": "runaway"})
    new = write_manifest(doc, "new.yaml")
    assert cli("diff", old, new, "--max-states", "3000", "--fail-on", "").returncode == 0
    done = cli("diff", old, new, "--max-states", "3000", "--fail-on", "", "--strict")
    assert done.returncode == 1 and "unproven" in done.stdout


@pytest.mark.parametrize("command", ["lint", "diff"])
def test_help_states_the_budget(cli: Cli, command: str) -> None:
    done = cli(command, "--help")
    text = " ".join(done.stdout.split())
    assert f"default: {_budget.DEFAULT_BUDGET.states:,}" in text
    assert f"default: {_budget.DEFAULT_BUDGET.seconds:g}" in text
