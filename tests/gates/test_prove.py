"""``routegate lint --prove``: disjoint patterns proven, overlaps shown with a witness RE2 confirms."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import Budget, _ids, _re2, resolution
from routegate.manifest import Manifest, load_manifest, parse_manifest
from routegate.proof import _automata, _budget, _nfa
from routegate.proof import overlaps as prover
from routegate.proof.overlaps import ProofReport, Scope, prove
from tests.manifests import manifest_doc, provider


def both_match(witness: str, *patterns: str) -> bool:
    return all(_re2.compile(p).search(witness) for p in patterns)


def test_the_reference_manifest_is_proven_disjoint_in_every_runtime_and_across_the_catalog(cli: Any) -> None:
    code, report = cli.json("lint", "--prove", "--strict")
    assert code == 0 and report["ok"] is True
    assert report["overlaps"] == [] and report["unproven"] == []
    manifest = load_manifest()
    runtime_pairs = sum(len(r.arms) * (len(r.arms) - 1) // 2 for r in manifest.runtimes.values())
    catalog_pairs = len(manifest.providers) * (len(manifest.providers) - 1) // 2
    assert report["pairs"] == {Scope.RUNTIME: runtime_pairs, Scope.CATALOG: catalog_pairs}
    assert report["proven_disjoint"] == report["pairs"]
    # codex lists the gpt-* family under two auth arms: information, not an error.
    shared = {(s["runtime"], s["id"]): s["providers"] for s in report["shared_ids"]}
    assert shared[("codex", "gpt-5.5")] == ["openai-subscription", "openai-api"]
    assert {runtime for runtime, _ in shared} == {"codex"}


def test_an_overlap_inside_a_runtime_fails_with_a_witness_both_patterns_match(cli: Any, write_manifest: Any) -> None:
    patterns = {"alpha": "^gpt-", "beta": "(?i)^GPT-4O", "gamma": "^claude"}
    path = write_manifest(
        manifest_doc(
            [provider(name, pattern) for name, pattern in patterns.items()],
            {"rt": [{"name": "alpha"}, {"name": "beta"}, {"name": "gamma"}]},
        )
    )
    code, report = cli.json("lint", "--prove", "--manifest", path)
    assert code == 1 and report["ok"] is False
    runtime_overlaps = [o for o in report["overlaps"] if o["scope"] == Scope.RUNTIME]
    assert [(o["runtime"], o["providers"]) for o in runtime_overlaps] == [("rt", ["alpha", "beta"])]
    witness = runtime_overlaps[0]["witness"]
    assert both_match(witness, patterns["alpha"], patterns["beta"])
    assert witness == witness.strip() and witness.isprintable()
    # The catalog scope sees the same pair; gamma is disjoint from both.
    assert [o["providers"] for o in report["overlaps"] if o["scope"] == Scope.CATALOG] == [["alpha", "beta"]]
    text = cli("lint", "--prove", "--manifest", path)
    assert text.returncode == 1 and "alpha and beta both match" in text.stdout


def test_a_catalog_only_overlap_fails_unless_allowed(cli: Any, write_manifest: Any) -> None:
    path = write_manifest(
        manifest_doc(
            [provider("alpha", "^minimax"), provider("beta", "(?i)^MINIMAX-m"), provider("gamma", "^x")],
            {"one": [{"name": "alpha"}, {"name": "gamma"}], "two": [{"name": "beta"}, {"name": "gamma"}]},
        )
    )
    code, report = cli.json("lint", "--prove", "--manifest", path)
    assert code == 1 and report["ok"] is False
    (overlap,) = report["overlaps"]
    assert (
        overlap["scope"] == Scope.CATALOG and overlap["runtime"] is None and overlap["providers"] == ["alpha", "beta"]
    )
    assert both_match(overlap["witness"], "^minimax", "(?i)^MINIMAX-m")
    code, report = cli.json("lint", "--prove", "--allow-catalog-overlap", "--manifest", path)
    assert code == 0 and report["ok"] is True


def test_case_folding_and_search_semantics_are_modelled(write_manifest: Any) -> None:
    from routegate.manifest import load_manifest as load

    cases = {
        ("(?i)^k", r"^\x{212A}"): True,  # RE2 folds k with the Kelvin sign
        ("(?i)^s-", "^\u017f"): True,  # and s with the long s
        ("claude", "^anthropic/"): True,  # unanchored: anywhere in the id
        ("^claude", "^anthropic/"): False,
        ("^(sonnet|opus|haiku)$", "^sonnet-"): False,
        ("^a.c$", r"^a\x{2028}"): True,  # RE2's dot takes U+2028
        ("^a.c$", r"^a\nc"): False,  # ... not a newline, and no id holds one anyway
        ("^gpt-[0-9]+$", "^gpt-4o"): False,
        ("x$", "^x"): True,
    }
    for (first, second), overlapping in cases.items():
        path = write_manifest(
            manifest_doc([provider("a", first), provider("b", second)], {"rt": [{"name": "a"}, {"name": "b"}]})
        )
        report = prove(load(path))
        assert not report.unproven, (first, second, report.unproven)
        assert bool(report.overlaps) is overlapping, (first, second)
        for overlap in report.overlaps:
            assert both_match(overlap.witness, first, second)


def test_a_pattern_beyond_the_prover_is_unproven_never_disjoint(cli: Any, write_manifest: Any) -> None:
    path = write_manifest(
        manifest_doc(
            [provider("alpha", r"\bgpt"), provider("beta", "^gpt")], {"rt": [{"name": "alpha"}, {"name": "beta"}]}
        )
    )
    code, report = cli.json("lint", "--prove", "--manifest", path)
    assert code == 0 and report["overlaps"] == []
    assert {(u["scope"], tuple(u["providers"])) for u in report["unproven"]} == {
        (Scope.RUNTIME, ("alpha", "beta")),
        (Scope.CATALOG, ("alpha", "beta")),
    }
    assert "beyond the prover" in report["unproven"][0]["reason"]
    assert report["proven_disjoint"] == {Scope.RUNTIME: 0, Scope.CATALOG: 0}
    code, report = cli.json("lint", "--prove", "--strict", "--manifest", path)
    assert code == 1 and report["ok"] is False


def test_an_invalid_manifest_still_reports_its_problems(cli: Any, write_manifest: Any) -> None:
    path = write_manifest(manifest_doc([provider("alpha", "^(")], {"rt": [{"name": "alpha"}]}))
    code, report = cli.json("lint", "--prove", "--manifest", path)
    assert code == 1 and report["ok"] is False and report["problems"]


_ATOMS = ["a", "b", "k", "-", "/", ".", "[ab]", "[^a]", r"\d", "(?:a|bb)", "K"]


@st.composite
def patterns(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=4)))
    if draw(st.booleans()):
        body += draw(st.sampled_from(["*", "+", "?", "{1,2}"]))
    return (
        draw(st.sampled_from(["", "(?i)"])) + draw(st.sampled_from(["", "^"])) + body + draw(st.sampled_from(["", "$"]))
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=patterns(),
    second=patterns(),
    probes=st.lists(st.text(alphabet="abkK-/.1 xs", min_size=1, max_size=6), max_size=40),
)
def test_proofs_are_sound_against_re2(first: str, second: str, probes: list[str]) -> None:
    """Disjoint means no probe RE2 matches with both; an overlap's witness RE2 matches with both."""
    import yaml

    from routegate.manifest import parse_manifest

    doc = manifest_doc([provider("a", first), provider("b", second)], {"rt": [{"name": "a"}, {"name": "b"}]})
    report = prove(parse_manifest(yaml.safe_dump(doc)))
    runtime = [o for o in report.overlaps if o.scope == Scope.RUNTIME]
    if runtime:
        assert both_match(runtime[0].witness, first, second)
    elif not report.unproven:
        servable = [p for p in probes if p == p.strip()]
        assert not [p for p in servable if both_match(p, first, second)], (first, second)


def test_proof_flags_without_prove_are_a_usage_error(cli: Any) -> None:
    for flag in ("--strict", "--allow-catalog-overlap"):
        done = cli("lint", flag)
        assert done.returncode == 2 and "--prove" in done.stderr


def _pair(first: str, second: str) -> Manifest:
    doc = manifest_doc([provider("a", first), provider("b", second)], {"rt": [{"name": "a"}, {"name": "b"}]})
    return parse_manifest(yaml.safe_dump(doc))


def test_an_automaton_that_misses_ids_re2_matches_leaves_the_pair_unproven(monkeypatch: pytest.MonkeyPatch) -> None:
    """A translation dropping (?i) under-accepts; its own samples all pass RE2, only samples of the pattern catch it."""
    manifest = _pair("(?i)^GPT-", "^gpt-")
    assert [o.witness for o in prove(manifest).overlaps if o.scope == Scope.RUNTIME]  # the truth: they overlap

    faithful = _nfa.pattern_nfa
    monkeypatch.setattr(
        _automata, "pattern_nfa", lambda regex, meter: faithful(dataclasses.replace(regex, fold_case=False), meter)
    )
    report = prove(manifest)
    assert report.disjoint == {Scope.RUNTIME: 0, Scope.CATALOG: 0}, "a false 'disjoint' from an automaton missing ids"
    assert not report.overlaps
    (unproven, _) = report.unproven
    assert unproven.providers == ("a", "b") and "which the automaton rejects" in unproven.reason


def test_the_prover_only_weighs_ids_the_core_would_match() -> None:
    """Its servable set is routegate._ids.UNSERVABLE plus str.strip(), like resolution.servable()."""
    meter = _budget.Ledger(_budget.Budget(states=10**9, seconds=10**6), 1).meter("servable")
    servable = _automata.Automata().servable(meter)
    for cp in [*range(0x0, 0xE001), 0xFEFF, 0x1F600, 0x10FFFF]:
        char = chr(cp)
        for text in (char, f"a{char}b", f"{char}{char}"):
            wanted = resolution.servable(text) and text == text.strip()
            assert servable.accepts(text, meter) is wanted, (hex(cp), text)


def test_the_servable_set_follows_the_shared_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = _pair("^x\\x{200B}", "^x\\x{200B}y")
    (overlap,) = [o for o in prove(manifest).overlaps if o.scope == Scope.RUNTIME]
    assert overlap.witness == "x\u200by"

    monkeypatch.setattr(_ids, "UNSERVABLE", re.compile("[\x00-\x1f\x7f-\x9f\u200b\ud800-\udfff]"))
    report = prove(manifest)
    assert not report.overlaps and report.disjoint == {Scope.RUNTIME: 1, Scope.CATALOG: 1}


def test_a_report_is_read_only() -> None:
    counts = {Scope.RUNTIME: 3, Scope.CATALOG: 5}
    report = ProofReport((), (), (), counts, dict(counts))
    counts[Scope.RUNTIME] = 99
    assert report.pairs == {Scope.RUNTIME: 3, Scope.CATALOG: 5}
    for mapping in (report.pairs, report.disjoint):
        with pytest.raises(TypeError):
            mapping[Scope.RUNTIME] = 0  # type: ignore[index]
    assert json.loads(json.dumps(report.to_dict()))["proven_disjoint"] == {Scope.RUNTIME: 3, Scope.CATALOG: 5}
    reference = prove(load_manifest())
    with pytest.raises(TypeError):
        reference.disjoint[Scope.CATALOG] += 1  # type: ignore[index]


# --- the budget and the prefix index ---------------------------------------------------------------

EXPLOSIVE = "^arcee[:/](a|b)*a(a|b){14}"  # valid RE2; its deterministic automaton has 2^15 states


def names_an_exceeded_budget(reason: str, budget: Budget) -> bool:
    """Whether an unproven pair's reason names one of ``budget``'s limits, states or seconds:
    whichever ran out first, which depends on the machine's speed and load."""
    return re.search(rf"\b{budget.states}\b", reason) is not None or f"{budget.seconds:g} s" in reason


def test_an_exploding_pattern_is_unproven_within_the_budget_and_fails_under_strict(
    cli: Any, write_manifest: Any
) -> None:
    path = write_manifest(
        manifest_doc(
            [provider("arcee", EXPLOSIVE), provider("other", "^arcee[:/]"), provider("x", "^x")],
            {"rt": [{"name": "arcee"}, {"name": "x"}], "two": [{"name": "other"}]},
        )
    )
    # Room to spare in time, then in states: either limit may be the one that runs out.
    for states, seconds in ((5000, 600.0), (10_000_000, 0.05)):
        flags = ["--max-states", str(states), "--time-budget", f"{seconds:g}", "--manifest", str(path)]
        code, report = cli.json("lint", "--prove", *flags)
        assert code == 0 and report["overlaps"] == []
        reasons = {tuple(u["providers"]): u["reason"] for u in report["unproven"]}
        assert ("arcee", "other") in reasons
        assert all(names_an_exceeded_budget(reason, Budget(states, seconds)) for reason in reasons.values()), reasons
        if seconds >= 600:
            # The pair with x is still proven: an exploding automaton is only explored as far as a pair needs.
            assert set(reasons) == {("arcee", "other")} and report["proven_disjoint"]["runtime"] == 1
        code, report = cli.json("lint", "--prove", "--strict", *flags)
        assert code == 1 and report["ok"] is False


def test_with_room_a_smaller_explosion_is_decided_and_its_witness_confirmed() -> None:
    smaller = "^arcee[:/](a|b)*a(a|b){8}"  # 2^9 states: within the default budget
    report = prove(_pair(smaller, "^arcee[:/]"))
    assert not report.unproven
    (witness,) = {o.witness for o in report.overlaps}
    assert both_match(witness, smaller, "^arcee[:/]") and len(witness) == len("arcee/") + 9


@pytest.mark.parametrize("flags", [["--max-states", "10"], ["--time-budget", "1"]])
def test_budget_flags_without_prove_are_a_usage_error(cli: Any, flags: list[str]) -> None:
    done = cli("lint", *flags)
    assert done.returncode == 2 and "--prove" in done.stderr


@pytest.mark.parametrize("budget", [{"states": 0}, {"states": 1.5}, {"seconds": 0}, {"seconds": -1}])
def test_a_budget_is_validated_when_made(budget: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Budget(**budget)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patterns(), min_size=2, max_size=6))
def test_the_prefix_index_never_separates_patterns_that_meet(catalog: list[str]) -> None:
    """Every pair the automata find overlapping (or cannot decide) is among the pairs the index lets through."""
    checker = prover._Prover(_budget.Ledger(_budget.DEFAULT_BUDGET, 1 + len(catalog) * len(catalog)))
    meeting = checker.may_meet(catalog)
    for i, j in itertools.combinations(range(len(catalog)), 2):
        try:
            overlapping = checker.witness(catalog[i], catalog[j]) is not None
        except _budget.NotProven:
            overlapping = True
        if overlapping:
            assert (i, j) in meeting, (catalog[i], catalog[j])


def test_a_large_catalog_proves_only_pairs_that_can_meet_and_finds_the_planted_overlap() -> None:
    words = [f"{a}{b}{c}" for a in "bcdfg" for b in "aeiou" for c in "klmnprst"][:200]
    entries = [provider(w, rf"(?i)^{w}[:/]" if n % 3 else rf"^{w}-(chat|pro)") for n, w in enumerate(words)]
    entries.append(provider("planted", rf"^{words[6]}-pro"))  # meets words[6]'s ^w-(chat|pro)
    runtimes = {f"rt{n}": [{"name": w} for w in words[n * 10 : n * 10 + 10]] for n in range(20)}
    report = prove(parse_manifest(yaml.safe_dump(manifest_doc(entries, runtimes))))
    assert not report.unproven
    assert [(o.scope, o.providers) for o in report.overlaps] == [(Scope.CATALOG, (words[6], "planted"))]
    assert both_match(report.overlaps[0].witness, rf"^{words[6]}-(chat|pro)", rf"^{words[6]}-pro")
    assert report.pairs[Scope.CATALOG] == 201 * 200 // 2
    assert report.disjoint[Scope.CATALOG] == report.pairs[Scope.CATALOG] - 1
    assert report.disjoint[Scope.RUNTIME] == report.pairs[Scope.RUNTIME] == 20 * 45
