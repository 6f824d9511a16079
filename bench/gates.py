"""How long the CI gates take: lint --prove (reference and synthetic catalogs), each generator, a sync check.

    .venv/bin/python bench/gates.py [--manifest PATH] [--repeat N] [--sizes 100,250,500,1000] [--seed N] [--smoke]

Prints one JSON document, then a short table. The synthetic catalogs are the
first N providers of bench/_manifests.py's wide manifest (1,000 providers and
100 runtimes; runtimes keep the arms whose provider remains), plus a planted provider that
copies one vendor's pattern: the prover must find that overlap and RE2 must
confirm its witness. Floor, printed and never asserted in a test: lint --prove
on 1,000 providers and 100 runtimes under 30 s. Figures depend on the machine;
compare medians taken in one run.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import platform
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from _manifests import WIDE_RUNTIMES, wide_manifest
from _report import add_smoke_flag, judged, reproduce, verdict
from _timing import Stats, measure

from routegate import _re2
from routegate.gen import generate
from routegate.manifest import Manifest, bundled_manifest_path, load_manifest, parse_manifest
from routegate.proof.overlaps import ProofReport, Scope, prove
from routegate.sync import sync_check

PROVE_FLOOR_S = 30.0
PLANTED = "planted-overlap"


def subset(doc: dict[str, Any], size: int) -> tuple[dict[str, Any], str]:
    """The first ``size`` providers of the synthetic document, a planted copy of one pattern, and its vendor."""
    kept = doc["providers"][:size]
    names = {p["name"] for p in kept}
    runtimes = {}
    for name, runtime in doc["runtimes"].items():
        arms = [arm for arm in runtime["providers"] if arm["name"] in names]
        if arms:
            runtimes[name] = {"providers": arms}
    vendor = next(p for p in kept if p["name"] != "platform" and not p["model_prefix_match"].endswith("$"))
    planted = {**vendor, "name": PLANTED, "upstream_vendor": None, "model_prefix_match": vendor["model_prefix_match"]}
    return {"schema_version": 1, "providers": [*kept, planted], "runtimes": runtimes}, vendor["name"]


def planted_witness(report: ProofReport, vendor: str, pattern: str) -> str | None:
    """The witness of the planted overlap, if the prover found it and RE2 confirms it."""
    for overlap in report.overlaps:
        if set(overlap.providers) == {vendor, PLANTED} and _re2.compile(pattern).search(overlap.witness):
            return overlap.witness
    return None


def reference_figures(manifest: Manifest, source: Path, repeat: int) -> dict[str, Any]:
    report = prove(manifest)
    figures: dict[str, Any] = {
        "manifest": str(manifest.source),
        "providers": len(manifest.providers),
        "runtimes": len(manifest.runtimes),
        "pairs": {scope.value: report.pairs[scope] for scope in Scope},
        "proven_disjoint": {scope.value: report.disjoint[scope] for scope in Scope},
        "prove": measure(lambda: prove(manifest), repeat).seconds(),
        "gen": {},
    }
    for target in ("typescript", "python", "jsonschema"):
        timing = measure(functools.partial(generate, manifest, target), repeat)
        figures["gen"][target] = {**timing.seconds(), "bytes": len(generate(manifest, target).encode())}
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "copy.yaml"
        copy.write_bytes(source.read_bytes())
        pin = hashlib.sha256(copy.read_bytes()).hexdigest()
        figures["sync_check"] = measure(lambda: sync_check(copy, source, pin=pin), repeat).seconds()
    return figures


def _prove_into(reports: list[ProofReport], manifest: Manifest) -> None:
    reports.append(prove(manifest))


def growth_figures(sizes: list[int], runtimes: int, seed: int, repeat: int) -> list[dict[str, Any]]:
    """Prove each catalog size's subset of one wide manifest of ``max(sizes)`` providers."""
    text, _ = wide_manifest(random.Random(seed), max(sizes), runtimes)
    doc = yaml.safe_load(text)
    rows = []
    for size in sizes:
        small, vendor = subset(doc, size)
        manifest = parse_manifest(yaml.safe_dump(small, sort_keys=False), source=f"synthetic-{size}")
        reports: list[ProofReport] = []
        timing: Stats = measure(functools.partial(_prove_into, reports, manifest), repeat)
        report = reports[-1]
        pattern = next(p["model_prefix_match"] for p in small["providers"] if p["name"] == vendor)
        rows.append(
            {
                "providers": len(manifest.providers),
                "runtimes": len(manifest.runtimes),
                "runtime_pairs": report.pairs[Scope.RUNTIME],
                "catalog_pairs": report.pairs[Scope.CATALOG],
                "overlaps": len(report.overlaps),
                "unproven": len(report.unproven),
                "planted_witness": planted_witness(report, vendor, pattern),
                **timing.seconds(),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--manifest", help="default: the bundled reference registry")
    parser.add_argument("--repeat", type=int, default=5, help="runs per reference figure (median, min, max)")
    parser.add_argument("--growth-repeat", type=int, default=1, help="runs per synthetic catalog size")
    parser.add_argument("--sizes", default="100,250,500,1000", help="synthetic catalog sizes (providers)")
    parser.add_argument("--seed", type=int, default=7)
    add_smoke_flag(parser)
    args = parser.parse_args()
    source = Path(args.manifest) if args.manifest else bundled_manifest_path()
    sizes = [int(size) for size in args.sizes.split(",")]
    runtimes = WIDE_RUNTIMES
    if args.smoke:
        sizes, runtimes, args.repeat, args.growth_repeat = [20, 40], 6, 2, 2

    growth = growth_figures(sizes, runtimes, args.seed, args.growth_repeat)
    largest = growth[-1]
    floors = [
        {
            "name": f"lint --prove on {largest['providers']} providers / {largest['runtimes']} runtimes",
            "limit_s": PROVE_FLOOR_S,
            "median_s": largest["median_s"],
            "pass": judged(largest["median_s"] < PROVE_FLOOR_S and largest["planted_witness"] is not None, args.smoke),
        }
    ]
    result: dict[str, Any] = {
        "reproduce": reproduce(),
        "smoke": args.smoke,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "reference": reference_figures(load_manifest(source), source, args.repeat),
        "prove_growth": growth,
        "growth_ratio": round(largest["median_s"] / growth[0]["median_s"], 1) if growth[0]["median_s"] else None,
        "floors": floors,
    }
    print(json.dumps(result, indent=2))

    reference = result["reference"]
    print(f"\n{'figure':<44} {'median':>10} {'min':>10} {'max':>10}")
    rows = [("lint --prove, reference", reference["prove"])]
    rows += [(f"gen {target}", timing) for target, timing in reference["gen"].items()]
    rows += [("sync-check", reference["sync_check"])]
    rows += [(f"lint --prove, {g['providers']} providers / {g['runtimes']} runtimes", g) for g in growth]
    for label, timing in rows:
        print(f"{label:<44} {timing['median_s']:>9.3f}s {timing['min_s']:>9.3f}s {timing['max_s']:>9.3f}s")
    print(f"growth {growth[0]['providers']} -> {largest['providers']} providers: x{result['growth_ratio']}")
    for floor in floors:
        print(f"floor {floor['name']} < {floor['limit_s']:g} s: {verdict(floor['pass'])} ({floor['median_s']:.2f} s)")
    print(f"planted overlap witness: {largest['planted_witness']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
