"""What a refusal costs as a user sees it, beside an admission: the reason and nearest menu ids read, cold.

    .venv/bin/python bench/refusals.py [--smoke] [--rounds N] [--menu-size N] [--seed N]

The CLI and the service read every decision's reason (a refusal's with its
nearest menu ids) through ``to_dict()``, so each call here is
``check(runtime, id).to_dict()`` on a registry without a decision cache: every
id is new to it. Measured on the bundled reference manifest and on a synthetic
runtime whose menu holds ``--menu-size`` ids:

- admission vs refusal, CPU microseconds per call (median of interleaved
  rounds, bench/_timing.py), and their ratio;
- p50 and p99 of single calls' wall time in one pass over the ids, then
  their median and spread over rounds;
- the first decision on a freshly built registry, which compiles the runtime:
  a first admission, and a first refusal with its reason read (its nearest
  ids found by a scan of the menu); then the second refusal read on that
  runtime, which builds the suggestion index every later one uses.

Prints every figure as JSON, then a short table. Only public API is used, so
the same script measures an older checkout (``PYTHONPATH=<old>/src``).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _manifests import big_menu_manifest, word
from _report import add_smoke_flag, emit, judged, ratio_row, reproduce, spread_row, verdict
from _timing import interleave, per_call, ratio

import routegate
from routegate import Registry

# The floor: a refusal, reason and nearest menu ids read, costs at most twice an admission.
RATIO_FLOOR = 2.0

Ids = Sequence[tuple[str, str]]
_SHAPES = ("{h}-{w}-{n}b", "{h}/{w}-{n}.{d}", "{h}:{w}", "{H}-{W}{d}", "{v}/{w}-{n}")


def refused(registry: Registry, runtimes: Sequence[str], count: int, rng: random.Random) -> list[tuple[str, str]]:
    """``count`` plausible ids, spread over ``runtimes``, each one its runtime refuses as unregistered."""
    found: list[tuple[str, str]] = []
    while len(found) < count:
        runtime = runtimes[len(found) % len(runtimes)]
        head = word(rng, rng.randint(2, 4))
        vendor = rng.choice(registry.menu(runtime)).partition("/")[0]  # refusals that share a vendor's prefix too
        fields = {"h": head, "H": head.capitalize(), "w": word(rng, 2), "W": word(rng, 1).upper(), "v": vendor}
        model = rng.choice(_SHAPES).format(**fields, n=rng.randint(1, 99), d=rng.randint(0, 9))
        decision = registry.check(runtime, model)
        if decision.code is routegate.Code.UNREGISTERED_MODEL_FOR_RUNTIME:
            found.append((runtime, model))
    return found


def admitted(registry: Registry, runtimes: Sequence[str], count: int, rng: random.Random) -> list[tuple[str, str]]:
    """``count`` menu ids, spread over ``runtimes``."""
    return [(rt, rng.choice(registry.menu(rt))) for rt in (runtimes[i % len(runtimes)] for i in range(count))]


def read(registry: Registry, ids: Ids) -> Callable[[], None]:
    """A job deciding each id and reading the decision as the CLI and the service do."""
    check = registry.check

    def job() -> None:
        for runtime, model in ids:
            check(runtime, model).to_dict()

    return job


def single_calls(registry: Registry, ids: Ids, percentile: int) -> Callable[[], float]:
    """A measure timing every call of one pass on its own: that pass's ``percentile``, in wall microseconds."""
    check, clock = registry.check, time.perf_counter_ns

    def measure() -> float:
        samples = []
        gc.disable()
        try:
            for runtime, model in ids:
                started = clock()
                check(runtime, model).to_dict()
                samples.append(clock() - started)
        finally:
            gc.enable()
        return statistics.quantiles(samples, n=100, method="inclusive")[percentile - 1] / 1e3

    return measure


def first_call(manifest: routegate.Manifest, runtime: str, model: str) -> Callable[[], float]:
    """A measure of the first decision on a registry built for it: milliseconds, the runtime compiled on the way."""

    def measure() -> float:
        registry = Registry(manifest, cache_size=0)
        started = time.perf_counter()
        registry.check(runtime, model).to_dict()
        return (time.perf_counter() - started) * 1e3

    return measure


def second_refusal(manifest: routegate.Manifest, runtime: str, models: tuple[str, str]) -> Callable[[], float]:
    """A measure of the second refusal read on a registry built for it: milliseconds, the suggestion index built."""

    def measure() -> float:
        registry = Registry(manifest, cache_size=0)
        registry.check(runtime, models[0]).to_dict()
        started = time.perf_counter()
        registry.check(runtime, models[1]).to_dict()
        return (time.perf_counter() - started) * 1e3

    return measure


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    size, count, rounds, seconds = (40, 12, 3, 0.01) if args.smoke else (args.menu_size, 300, args.rounds, 0.1)
    menus = {"reference": Registry.load(cache_size=0), f"{size}-id menu": Registry.from_yaml(big_menu_manifest(size))}
    menus[f"{size}-id menu"] = Registry(menus[f"{size}-id menu"].manifest, cache_size=0)
    per_call_jobs: dict[str, Callable[[], float]] = {}
    latency_jobs: dict[str, Callable[[], float]] = {}
    first_jobs: dict[str, Callable[[], float]] = {}
    for name, registry in menus.items():
        runtimes = registry.runtimes
        corpus = {
            "admission": admitted(registry, runtimes, count, rng),
            "refusal": refused(registry, runtimes, count, rng),
        }
        largest = max(runtimes, key=lambda rt: len(registry.menu(rt)))
        for kind, ids in corpus.items():
            read(registry, ids)()  # every runtime compiled and its suggestion index built: the ids stay new
            per_call_jobs[f"{name}: {kind}"] = per_call(read(registry, ids), len(ids), seconds)
            for percentile in (50, 99):
                latency_jobs[f"{name}: {kind} p{percentile}"] = single_calls(registry, ids, percentile)
            earlier, later = _two(ids, largest)
            first_jobs[f"{name}: first {kind} on '{largest}'"] = first_call(registry.manifest, largest, earlier)
            if kind == "refusal":
                first_jobs[f"{name}: second refusal on '{largest}'"] = second_refusal(
                    registry.manifest, largest, (earlier, later)
                )
    cpu = interleave(rounds, per_call_jobs)
    latency = interleave(rounds, latency_jobs)
    first = interleave(rounds, first_jobs)
    ratios = {name: ratio(cpu[f"{name}: refusal"], cpu[f"{name}: admission"]) for name in menus}
    floors = [
        {
            "floor": f"{name}: a refusal with its reason within {RATIO_FLOOR:g}x an admission",
            "figure": f"{over['median']:.2f}x",
            "ok": judged(over["median"] <= RATIO_FLOOR, args.smoke),
        }
        for name, over in ratios.items()
    ]
    return {
        "smoke": args.smoke,
        "reproduce": reproduce(),
        "machine": f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "routegate": routegate.__version__,
        "seed": args.seed,
        "ids_per_kind": count,
        "menus": {name: {rt: len(r.menu(rt)) for rt in r.runtimes} for name, r in menus.items()},
        "cpu_us_per_call": {name: stats.scaled(1e6) for name, stats in cpu.items()},
        "refusal_over_admission": ratios,
        "wall_us_single_calls": {name: stats.scaled() for name, stats in latency.items()},
        "first_decision_ms": {name: stats.scaled(1, 3) for name, stats in first.items()},
        "floors": floors,
    }


def _two(ids: Ids, runtime: str) -> tuple[str, str]:
    """The first two ids of ``runtime`` among ``ids``."""
    first, second, *_ = (model for rt, model in ids if rt == runtime)
    return first, second


def cpu_rows(result: dict[str, Any], title: str, width: int) -> list[str]:
    """The table's head, which refusal_parts.py shares: the command, then each CPU figure under ``title``."""
    lines = [f"{result['reproduce']}  ({result['machine']}; routegate {result['routegate']})", "", title]
    return lines + [spread_row(name, s, width) for name, s in result["cpu_us_per_call"].items()]


def table(result: dict[str, Any]) -> str:
    lines = cpu_rows(result, "cold call, reason and suggestions read: CPU us per call (median, min..max)", 34)
    for name, r in result["refusal_over_admission"].items():
        lines.append(ratio_row(f"{name}: refusal / admission", r, 34))
    lines += ["", "single calls, wall us, one pass's percentile (median over rounds, min..max)"]
    for name, s in result["wall_us_single_calls"].items():
        lines.append(spread_row(name, s, 34))
    lines += ["", "first decision on a freshly built registry, ms (median, min..max)"]
    for name, s in result["first_decision_ms"].items():
        lines.append(spread_row(name, s, 50))
    lines.append("")
    lines += [f"  {verdict(f['ok']):10} {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options this bench shares with refusal_parts.py, which measures the same ids."""
    add_smoke_flag(parser)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds of every measure")
    parser.add_argument("--menu-size", type=int, default=3000, help="ids on the synthetic runtime's menu")
    parser.add_argument("--seed", type=int, default=20261203)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser)
    result = run(parser.parse_args())
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
