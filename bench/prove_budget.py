"""What `lint --prove` costs when every question explodes: one budget bounds the whole run.

    .venv/bin/python bench/prove_budget.py [--sizes 2,5,10] [--repeat N] [--smoke]
    .venv/bin/python bench/prove_budget.py --write N -o FILE     # just the family's manifest

N providers on one runtime, provider i with ``[ab]*a[ab]{20}c{i}``: each pattern's
deterministic automaton needs about 2^21 states, so no pair can be proven within any
reasonable budget. Before the run-wide budget, each pair had a budget of its own and
N=10 took 279 s and 1.09 GB. Each size runs the real command as a process, in
interleaved rounds, and reports its wall time and peak memory (median, min, max).
Floor, printed and never asserted in a test: every size finishes within the time
budget plus 15 s of start-up and reporting, and every pair is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _report import add_smoke_flag, judged, reproduce, verdict

from routegate.proof._budget import DEFAULT_BUDGET

SLACK_S = 15.0


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


def run_once(manifest: Path, budget: list[str]) -> tuple[float, float, dict[str, Any]]:
    """One `routegate lint --prove --json` process: wall seconds, peak MB (its own), and its report."""
    routegate = shutil.which("routegate", path=str(Path(sys.executable).parent)) or "routegate"
    command = [routegate, "lint", "--prove", "--json", "--manifest", str(manifest), *budget]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # reaped here, so the usage is this process's alone
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)} exited {process.returncode}: {err.read().decode()[-2000:]}")
        return wall, usage.ru_maxrss / 1024, json.loads(out.read())


def spread(samples: list[float], digits: int = 2) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), digits),
        "min": round(min(samples), digits),
        "max": round(max(samples), digits),
        "rounds": len(samples),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="2,5,10", help="providers in each family, comma-separated (default: 2,5,10)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default: 3)")
    parser.add_argument("--write", type=int, metavar="N", help="only write the family of N providers, then stop")
    parser.add_argument("-o", "--output", type=Path, help="with --write: the file (default: standard output)")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.write is not None:
        text = family(args.write)
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
        return 0

    sizes = [2] if args.smoke else [int(size) for size in args.sizes.split(",")]
    repeat = 2 if args.smoke else args.repeat
    # The smoke run spends a small budget: the same code paths, in seconds.
    states, seconds = (20_000, 5.0) if args.smoke else (DEFAULT_BUDGET.states, DEFAULT_BUDGET.seconds)
    budget = ["--max-states", str(states), "--time-budget", str(seconds)]
    walls: dict[int, list[float]] = {size: [] for size in sizes}
    peaks: dict[int, list[float]] = {size: [] for size in sizes}
    answered: dict[int, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as folder:
        files = {size: Path(folder) / f"family-{size}.yaml" for size in sizes}
        for size, path in files.items():
            path.write_text(family(size), encoding="utf-8")
        for _ in range(repeat):
            for size in sizes:
                wall, peak, report = run_once(files[size], budget)
                walls[size].append(wall)
                peaks[size].append(peak)
                # Every pair, in the runtime and across the catalog, is answered: disjoint, overlapping or unproven.
                reported = len(report["unproven"]) + len(report["overlaps"]) + sum(report["proven_disjoint"].values())
                answered[size] = (reported, sum(report["pairs"].values()))

    floors: list[dict[str, Any]] = []
    for size in sizes:
        reported, pairs = answered[size]
        ok = statistics.median(walls[size]) <= seconds + SLACK_S and reported == pairs
        floors.append(
            {
                "floor": f"N={size}: within the {seconds:g} s budget + {SLACK_S:g} s, every pair reported",
                "figure": f"{statistics.median(walls[size]):.1f} s, {reported}/{pairs} pairs reported",
                "ok": judged(ok, args.smoke),
            }
        )
    figures = {
        "smoke": args.smoke,
        "reproduce": reproduce(),
        "budget": {"states": states, "seconds": seconds},
        "wall_s": {str(size): spread(walls[size]) for size in sizes},
        "peak_mb": {str(size): spread(peaks[size], 0) for size in sizes},
        "floors": floors,
    }
    print(json.dumps(figures, indent=2))
    print(f"\nlint --prove, every pair exploding (budget {states:,} states, {seconds:g} s; median [min-max])")
    for size in sizes:
        w, m = figures["wall_s"][str(size)], figures["peak_mb"][str(size)]
        print(
            f"  N={size:<3} {w['median']:7.2f} s [{w['min']:.2f}-{w['max']:.2f}]"
            f"  {m['median']:6.0f} MB [{m['min']:.0f}-{m['max']:.0f}]"
        )
    for floor in floors:
        print(f"  {verdict(floor['ok']):10} {floor['floor']}: {floor['figure']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
