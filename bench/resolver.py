"""How fast routegate decides, cold and cached, against LiteLLM's get_llm_provider and the floors.

    .venv/bin/python bench/resolver.py [--quick] [--seed N] [--no-litellm] [--smoke]

Prints every figure as JSON, then a short table. Timings are CPU time per
call, medians of interleaved rounds (bench/_timing.py); every input comes
from --seed. LiteLLM comes with the test lock (litellm 1.106.12, `make setup-test`):
without it the comparison is skipped and its floors are reported as
unmeasured.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _manifests import WIDE_PROVIDERS, WIDE_RUNTIMES, big_menu_manifest, wide_manifest, word
from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _timing import interleave, per_call

import routegate
from routegate import Registry
from routegate.registry import DEFAULT_CACHE_SIZE
from routegate.templates import TemplateRoot

CLASSES = ("menu", "route", "refusal")
Ids = Sequence[tuple[str, str]]


def outcome(decision: routegate.Decision) -> str:
    return "refusal" if decision.path is None else decision.path.value


def refused_ids(registry: Registry, runtimes: Sequence[str], rng: random.Random) -> list[tuple[str, str]]:
    """One plausible id per runtime given, each one that runtime refuses."""
    shapes = ("{h}-{w}-{n}b", "{h}/{w}-{n}.{d}", "{h}:{w}", "{H}-{W}{d}")
    corpus = []
    for runtime in runtimes:
        while True:
            h = word(rng, 4)
            fields = {"h": h, "H": h.capitalize(), "w": word(rng, 2), "W": word(rng, 1).upper()}
            model = rng.choice(shapes).format(**fields, n=rng.randint(1, 99), d=rng.randint(0, 9))
            if outcome(registry.check(runtime, model)) == "refusal":
                corpus.append((runtime, model))
                break
    return corpus


def reference_corpus(registry: Registry, rng: random.Random) -> list[tuple[str, str]]:
    """Every bundled template's offered id on its runtime, then as many refused ids on the same runtimes."""
    offered = [(t.runtime, o.id) for t in TemplateRoot().all() if t.runtime for o in t.offered]
    return offered + refused_ids(registry, [rt for rt, _ in offered if rt in registry.runtimes], rng)


def by_class(registry: Registry, ids: Ids) -> dict[str, list[tuple[str, str]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for runtime, model in ids:
        groups.setdefault(outcome(registry.check(runtime, model)), []).append((runtime, model))
    return groups


def namespaced(registry: Registry, models: Sequence[str]) -> list[str]:
    """The distinct ids of ``models`` that upstream() resolves."""
    found = []
    for model in dict.fromkeys(models):
        try:
            registry.upstream(model)
        except routegate.NotNamespaced:
            continue
        found.append(model)
    return found


def calls(function: Callable[..., object], arguments: Sequence[tuple[Any, ...]]) -> tuple[Callable[[], None], int]:
    """A job calling ``function`` once with each argument tuple, and how many calls it makes."""

    def job() -> None:
        for args in arguments:
            function(*args)

    return job, len(arguments)


def import_litellm(disabled: bool) -> tuple[Any, str]:
    """LiteLLM, or None and why the comparison is skipped."""
    if disabled:
        return None, "comparison skipped (--no-litellm)"
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: the bundled cost map
    try:
        litellm: Any = importlib.import_module("litellm")
    except ImportError:
        return None, "comparison skipped: litellm is not installed (make setup-test installs the test lock's litellm)"
    litellm.suppress_debug_info = True
    from importlib.metadata import version

    return litellm, f"litellm {version('litellm')}"


def litellm_job(litellm: Any, models: Sequence[str]) -> Callable[[], None]:
    get = litellm.get_llm_provider

    def job() -> None:
        for model in models:
            try:  # noqa: SIM105 - a context manager would be timed too
                get(model)
            except Exception:
                pass  # an unknown provider raises: that call is timed like the others

    return job


def process_ratio(runs: int) -> dict[str, Any]:
    """Wall time of a whole `routegate check hermes gpt-4o` against `python -c pass`, interleaved."""
    script = shutil.which("routegate", path=str(Path(sys.executable).parent))
    routegate_cli = [script] if script else [sys.executable, "-m", "routegate.cli"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "routegate check hermes gpt-4o": [*routegate_cli, "check", "hermes", "gpt-4o"],
    }

    def wall(command: list[str]) -> Callable[[], float]:
        def measure() -> float:
            started = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            return time.perf_counter() - started

        return measure

    for command in commands.values():
        wall(command)()  # untimed: writes the manifest cache and warms the page cache
    stats = interleave(runs, {name: wall(command) for name, command in commands.items()})
    bare, check = stats["python -c pass"], stats["routegate check hermes gpt-4o"]
    return {name: s.scaled(1e3, 1) for name, s in stats.items()} | {"ratio": round(check.median / bare.median, 2)}


def bounded_cache(manifest: routegate.Manifest, corpus: Ids, count: int) -> dict[str, Any]:
    """Distinct ids through one default Registry: traced memory once its cache is full, then at the end."""
    registry = Registry(manifest)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    full = 0
    for fed in range(1, count + 1):
        runtime, model = corpus[fed % len(corpus)]
        registry.check(runtime, f"{model}-{fed:x}")  # distinct: every one a cache miss
        if fed == DEFAULT_CACHE_SIZE:
            gc.collect()
            full = tracemalloc.get_traced_memory()[0] - base
    gc.collect()
    end = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    unbounded_extra = full / DEFAULT_CACHE_SIZE * (count - DEFAULT_CACHE_SIZE)
    return {
        "ids": count,
        "kib_when_full": round(full / 1024),
        "kib_at_end": round(end / 1024),
        "growth_kib": round((end - full) / 1024),
        "unbounded_growth_kib": round(unbounded_extra / 1024),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    rounds, seconds = (5, 0.05) if args.quick else (9, 0.12)
    menu_size, (providers, runtimes), fed, processes = 3000, (WIDE_PROVIDERS, WIDE_RUNTIMES), 100_000, 11
    if args.quick:
        fed, processes = 30_000, 5
    if args.smoke:  # the cache must still overflow, so ``fed`` stays above its size
        rounds, seconds, menu_size, (providers, runtimes), fed, processes = 2, 0.002, 200, (40, 4), 9_000, 2
    reference = Registry.load()
    cold = Registry(reference.manifest, cache_size=0)
    corpus = reference_corpus(reference, rng)
    classes = by_class(reference, corpus)
    models = [m for _, m in corpus]
    upstream_ids = namespaced(reference, [*models, *(m for rt in reference.runtimes for m in reference.menu(rt))])

    big = Registry.from_yaml(big_menu_manifest(menu_size), cache_size=0)
    refusals = [(rt, m) for rt, m in classes["refusal"] if outcome(big.check("big", m)) == "refusal"]
    wide_text, routed = wide_manifest(rng, providers, runtimes)
    wide = Registry.from_yaml(wide_text)
    wide_cold = Registry(wide.manifest, cache_size=0)
    wide_corpus = [(rt, rng.choice(wide.menu(rt))) for rt in rng.choices(wide.runtimes, k=len(classes["menu"]))]
    wide_corpus += [(rt, rng.choice(routed[rt])) for rt in rng.choices(sorted(routed), k=len(classes["route"]))]
    wide_corpus += refused_ids(wide, rng.choices(wide.runtimes, k=len(classes["refusal"])), rng)
    memory = bounded_cache(reference.manifest, corpus, max(fed, DEFAULT_CACHE_SIZE + 1))

    litellm, litellm_note = import_litellm(args.no_litellm)
    on_big = [("big", m) for _, m in refusals]
    jobs = {
        "cached": calls(reference.check, corpus),
        "cold": calls(cold.check, corpus),
        **{f"cold_{c}": calls(cold.check, classes[c]) for c in CLASSES},
        "cold_refusal_reference_menu": calls(cold.check, refusals),
        f"cold_refusal_{menu_size}_id_menu": calls(big.check, on_big),
        "cold_refusal_read_reference_menu": calls(lambda rt, m: cold.check(rt, m).to_dict(), refusals),
        f"cold_refusal_read_{menu_size}_id_menu": calls(lambda rt, m: big.check(rt, m).to_dict(), on_big),
        "wide_cached": calls(wide.check, wide_corpus),
        "wide_cold": calls(wide_cold.check, wide_corpus),
        "upstream_cached": calls(reference.upstream, [(m,) for m in upstream_ids]),
        "upstream_cold": calls(cold.upstream, [(m,) for m in upstream_ids]),
    }
    if litellm is not None:
        jobs["litellm"] = (litellm_job(litellm, models), len(models))  # called as plainly as routegate is
        jobs |= {f"litellm_{c}": (litellm_job(litellm, [m for _, m in classes[c]]), len(classes[c])) for c in CLASSES}
    for job, _ in jobs.values():
        job()  # fills the caches of the cached registries
    us = interleave(rounds, {name: per_call(job, units, seconds) for name, (job, units) in jobs.items()})
    median = {name: stats.median for name, stats in us.items()}
    process = process_ratio(processes)
    sizes = {"menu": menu_size, "providers": providers}
    return {
        "reproduce": reproduce(),
        "machine": f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "routegate": routegate.__version__,
        "smoke": args.smoke,
        "seed": args.seed,
        "corpus": {"ids": len(corpus), **{c: len(classes[c]) for c in CLASSES}, "upstream_ids": len(upstream_ids)},
        "litellm": litellm_note,
        "us_per_call": {name: stats.scaled(1e6) for name, stats in us.items()},
        "wide_manifest": {"providers": len(wide.catalog), "runtimes": len(wide.runtimes), "ids": len(wide_corpus)},
        "bounded_cache": memory,
        "process_ms": process,
        "floors": floors(median, litellm is not None, memory, process, sizes, args.smoke),
    }


def floors(
    us: dict[str, float],
    measured: bool,
    memory: dict[str, Any],
    process: dict[str, Any],
    sizes: dict[str, int],
    smoke: bool,
) -> list[dict[str, Any]]:
    """Each floor with its figure; ``pass`` is None when the figure could not be measured or on a smoke run."""
    rows = []

    def floor(name: str, value: float | None, limit: float, above: bool, unit: str) -> None:
        ok = judged(None if value is None else (value >= limit if above else value <= limit), smoke)
        figure = "not measured" if value is None else f"{value:.2f}{unit}"
        rows.append({"floor": name, "figure": figure, "pass": ok})

    def faster(name: str) -> float | None:
        litellm = "litellm" + name.removeprefix("cold").removeprefix("cached")
        return us[litellm] / us[name] if measured else None

    floor("cached check vs get_llm_provider", faster("cached"), 10, True, "x")
    floor("cold check vs get_llm_provider", faster("cold"), 10, True, "x")
    for kind in CLASSES:
        floor(f"cold {kind} vs get_llm_provider on the same ids", faster(f"cold_{kind}"), 5, True, "x")
    refusal_growth = us[f"cold_refusal_{sizes['menu']}_id_menu"] / us["cold_refusal_reference_menu"]
    floor(f"cold refusal, {sizes['menu']:,}-id menu / reference menu", refusal_growth, 1.5, False, "x")
    floor("cold upstream", us["upstream_cold"] * 1e6, 0.5, False, " us")
    floor(f"{sizes['providers']:,} providers / reference, cached", us["wide_cached"] / us["cached"], 2, False, "x")
    floor(f"{sizes['providers']:,} providers / reference, cold", us["wide_cold"] / us["cold"], 2, False, "x")
    floor("`routegate check` process / `python -c pass`", process["ratio"], 10, False, "x")
    bounded = memory["growth_kib"] / max(memory["unbounded_growth_kib"], 1)
    floor("memory growth past a full cache / unbounded growth", bounded, 0.1, False, "x")
    return rows


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['reproduce']}  ({result['machine']}; {result['litellm']})", "", "us per call (median, min..max)"]
    for name, stats in result["us_per_call"].items():
        lines.append(f"  {name:<36} {stats['median']:>8.3f}  {stats['min']:.3f}..{stats['max']:.3f}")
    process = result["process_ms"]
    lines += ["", f"routegate check process: {process['ratio']}x python -c pass (wall, medians)", "", "floors"]
    lines += [f"  [{verdict(f['pass'])}] {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter rounds")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM comparison")
    add_smoke_flag(parser)
    result = run(parser.parse_args())
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
