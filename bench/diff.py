"""How long ``routegate diff`` takes for single edits, on the reference manifest and on 1,000 providers.

    .venv/bin/python bench/diff.py [--repeat N] [--seed N] [--smoke]

Each edit is applied to a copy of the manifest's YAML, both manifests are
loaded once, and ``routegate.diff(old, new)`` is timed (median, min, max of
N runs; every run builds its automata afresh, and decisions are not cached). The 1,000-provider, 100-runtime
manifest is bench/_manifests.py's wide one. Prints one JSON document, then
a short table. Floors, printed and never asserted in a test: any single edit of
the reference under 2 s, of the synthetic manifest under 30 s.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import platform
import random
import sys
from collections.abc import Callable
from typing import Any

import yaml
from _manifests import WIDE_PROVIDERS, WIDE_RUNTIMES, wide_manifest
from _report import add_smoke_flag, judged, reproduce, verdict
from _timing import measure

from routegate import Registry, diff
from routegate.manifest import bundled_manifest_path

REFERENCE_FLOOR_S = 2.0
SYNTHETIC_FLOOR_S = 30.0

Doc = dict[str, Any]
Edit = Callable[[Doc], None]


def provider(doc: Doc, name: str) -> Doc:
    return next(p for p in doc["providers"] if p["name"] == name)


def arms(doc: Doc, runtime: str) -> list[Doc]:
    return doc["runtimes"][runtime]["providers"]  # type: ignore[no-any-return]


def set_pattern(name: str, pattern: Callable[[str], str]) -> Edit:
    def edit(doc: Doc) -> None:
        entry = provider(doc, name)
        entry["model_prefix_match"] = pattern(entry["model_prefix_match"])

    return edit


def menu_arm(doc: Doc, runtime: str) -> Doc:
    return next(arm for arm in arms(doc, runtime) if len(arm.get("models") or []) > 1)


REFERENCE_EDITS: dict[str, Edit] = {
    "routing-only arm added": lambda d: arms(d, "hermes").append({"name": "google"}),
    "menu id dropped": lambda d: menu_arm(d, "hermes")["models"].pop(),
    "pattern widened": set_pattern("openrouter", lambda p: p.replace("[:/]", "[:/-]")),
    "pattern narrowed": set_pattern("openrouter", lambda p: p.replace("[:/]", "/")),
    "pattern made case-insensitive": set_pattern("openrouter", lambda p: "(?i)" + p),
    "two patterns made to overlap": set_pattern("arcee", lambda p: "^(arcee|openrouter)[:/]"),
    "platform-billed menu id added": lambda d: next(a for a in arms(d, "hermes") if a["name"] == "platform")[
        "models"
    ].append("gpt-4o"),
    "arms reordered": lambda d: arms(d, "codex").reverse(),
    "nothing (same manifest)": lambda d: None,
}


def synthetic_edits(doc: Doc) -> dict[str, Edit]:
    """The same kinds of single edit, aimed at the synthetic manifest's first runtime and a vendor it routes."""
    runtime = next(iter(doc["runtimes"]))
    routed = next(arm["name"] for arm in arms(doc, runtime) if not arm.get("models"))
    present = {arm["name"] for arm in arms(doc, runtime)}
    extra = next(p["name"] for p in doc["providers"] if p["name"] not in present and "upstream_vendor" not in p)
    return {
        "routing-only arm added": lambda d: arms(d, runtime).append({"name": extra}),
        "menu id dropped": lambda d: menu_arm(d, runtime)["models"].pop(),
        "pattern widened": set_pattern(routed, lambda p: p.replace("^", "", 1)),
        "pattern made case-insensitive": set_pattern(routed, lambda p: "(?i)" + p.removeprefix("(?i)")),
        "arms reordered": lambda d: arms(d, runtime).reverse(),
        "nothing (same manifest)": lambda d: None,
    }


def time_edits(text: str, edits: dict[str, Edit], repeat: int) -> list[dict[str, Any]]:
    doc = yaml.safe_load(text)
    old = Registry.from_yaml(text, cache_size=0)  # cold decisions: no run reuses another's
    rows = []
    for name, edit in edits.items():
        changed = copy.deepcopy(doc)
        edit(changed)
        new = Registry.from_yaml(yaml.safe_dump(changed, sort_keys=False), cache_size=0)
        result = diff(old, new)
        timing = measure(functools.partial(diff, old, new), repeat)
        rows.append(
            {
                "edit": name,
                "changes": len(result.changes),
                "kinds": sorted({c.kind.value for c in result.changes}),
                "proven": result.proven,
                **timing.seconds(),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per edit (median, min, max)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic manifest")
    add_smoke_flag(parser)
    args = parser.parse_args()
    providers, runtimes = (40, 2) if args.smoke else (WIDE_PROVIDERS, WIDE_RUNTIMES)
    if args.smoke:
        args.repeat = 2

    reference = time_edits(bundled_manifest_path().read_text(encoding="utf-8"), REFERENCE_EDITS, args.repeat)
    synthetic_text, _ = wide_manifest(random.Random(args.seed), providers, runtimes)
    synthetic = time_edits(synthetic_text, synthetic_edits(yaml.safe_load(synthetic_text)), args.repeat)
    floors = []
    for label, rows, limit in (
        ("reference", reference, REFERENCE_FLOOR_S),
        (f"{providers:,} providers / {runtimes} runtimes", synthetic, SYNTHETIC_FLOOR_S),
    ):
        slowest = max(rows, key=lambda row: row["median_s"])
        floors.append(
            {
                "name": f"any single edit, {label}",
                "limit_s": limit,
                "slowest_edit": slowest["edit"],
                "median_s": slowest["median_s"],
                "pass": judged(slowest["median_s"] < limit and all(row["proven"] for row in rows), args.smoke),
            }
        )
    result = {
        "reproduce": reproduce(),
        "smoke": args.smoke,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "reference": reference,
        "synthetic": synthetic,
        "floors": floors,
    }
    print(json.dumps(result, indent=2))

    print(f"\n{'manifest':<10} {'edit':<32} {'classes':>7} {'median':>9} {'min':>9} {'max':>9}")
    for label, rows in (("reference", reference), ("synthetic", synthetic)):
        for row in rows:
            print(
                f"{label:<10} {row['edit']:<32} {row['changes']:>7} "
                f"{row['median_s']:>8.3f}s {row['min_s']:>8.3f}s {row['max_s']:>8.3f}s"
            )
    for floor in floors:
        print(f"floor {floor['name']} < {floor['limit_s']:g} s: {verdict(floor['pass'])} ({floor['median_s']:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
