"""Manifests whose proof explodes, for ``lint --prove``'s one budget per run (issue 18, item 3).

    .venv/bin/python bench/prove_budget.py N [-o FILE]     # write the family's manifest with N providers
    .venv/bin/python bench/prove_budget.py --smoke         # N=2 written and proven in process, budget held

N providers on one runtime, provider i with ``^p{i}/[ab]*a[ab]{20}c{i}``: every
pattern's deterministic automaton needs about 2^21 states, so every pair is
past any reasonable budget. Measure a run of the real command from outside,
for example with ``/usr/bin/time -v .venv/bin/routegate lint --prove --manifest FILE``;
the figures depend on the machine and are never asserted in a test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from routegate import _budget
from routegate.manifest import parse_manifest
from routegate.prove import prove


def family(size: int) -> str:
    """The manifest: ``size`` providers with exploding patterns, all on one runtime."""
    providers = [
        {
            "name": f"p{i}",
            "display_name": f"P{i}",
            "protocol": "openai",
            "auth_mode": "oauth",
            "auth_env": [f"P{i}_KEY"],
            "model_prefix_match": f"[ab]*a[ab]{{20}}c{{{i}}}",
        }
        for i in range(size)
    ]
    runtime = {"providers": [{"name": p["name"]} for p in providers]}
    return yaml.safe_dump({"schema_version": 1, "providers": providers, "runtimes": {"rt": runtime}}, sort_keys=False)


def smoke() -> int:
    """A small run in process: every pair answered, unproven, and no more states spent than the budget."""
    budget = _budget.Budget(states=20_000, seconds=60)
    spent: list[int] = []
    original = _budget.Ledger.meter

    def watched(ledger: _budget.Ledger, what: str) -> _budget.Meter:
        spent.append(ledger.spent)
        return original(ledger, what)

    _budget.Ledger.meter = watched  # type: ignore[method-assign,assignment]
    report = prove(parse_manifest(family(2)), budget)
    _budget.Ledger.meter = original  # type: ignore[method-assign]
    answered = len(report.unproven) + sum(report.disjoint.values()) + len(report.overlaps)
    ok = answered == sum(report.pairs.values()) and bool(report.unproven) and max(spent) <= budget.states
    print(f"smoke: {answered} pair(s) answered, {len(report.unproven)} unproven: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("size", type=int, nargs="?", help="providers in the family")
    parser.add_argument("-o", "--output", type=Path, help="write here (default: standard output)")
    parser.add_argument("--smoke", action="store_true", help="a small family proven in process, checked")
    args = parser.parse_args()
    if args.smoke:
        return smoke()
    if args.size is None or args.size < 2:
        parser.error("give the family's size (2 or more providers), or --smoke")
    text = family(args.size)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
