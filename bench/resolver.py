"""How fast routegate decides, cold and cached, against LiteLLM's get_llm_provider and the floors.

    .venv/bin/python bench/resolver.py [--quick] [--seed N] [--no-litellm]

Prints every figure as JSON, then a short table. Timings are CPU time per
call, medians of interleaved rounds (bench/_timing.py); every input comes
from --seed. LiteLLM is the `bench` extra (pip install litellm==1.110.2);
without it the LiteLLM floors are reported as unmeasured.
"""

from __future__ import annotations

import argparse
import gc
import json
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

import yaml
from _timing import Stats, interleave, per_call

import routegate
from routegate import Registry
from routegate.registry import DEFAULT_CACHE_SIZE
from routegate.templates import TemplateRoot

CLASSES = ("menu", "route", "refusal")
_SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")
Ids = Sequence[tuple[str, str]]


def word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables))


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


def wide_manifest(rng: random.Random, providers: int, runtimes: int) -> tuple[str, dict[str, list[str]]]:
    """YAML for a large catalog (anchored, disjoint patterns; 10-30 arms per runtime) and ids each routes."""
    names = list(dict.fromkeys(word(rng, rng.choice((2, 3))) for _ in range(providers * 2)))[: providers - 1]
    styles = ("^{w}[:/]", "(?i)^({w}-|{w}[:/])", "^{w}-(chat|coder|mini)", "^{w}/[a-z0-9.-]+$")
    samples = ("{w}:x-{n}", "{W}-x-{n}", "{w}-coder-{n}", "{w}/x-{n}.1")
    style = {name: rng.randrange(4) for name in names}
    docs = [{"name": "platform", "pattern": "^platform/", "env": "PLATFORM_API_KEY"}]
    docs += [{"name": n, "pattern": styles[style[n]].format(w=n), "env": f"{n.upper()}_API_KEY"} for n in names]
    catalog = [
        {
            "name": d["name"],
            "display_name": d["name"].title(),
            "protocol": "openai",
            "auth_mode": "oauth",
            "auth_env": [d["env"]],
            "model_prefix_match": d["pattern"],
        }
        for d in docs
    ]
    spec: dict[str, Any] = {}
    routed: dict[str, list[str]] = {}
    for number in range(runtimes):
        name = f"runtime-{number:03d}"
        arms: list[dict[str, Any]] = [{"name": "platform", "models": [f"{rng.choice(names)}/{word(rng, 2)}"]}]
        for vendor in rng.sample(names, rng.randint(9, 29)):
            ids = [samples[style[vendor]].format(w=vendor, W=vendor.upper(), n=n) for n in range(rng.randint(0, 3))]
            arms.append({"name": vendor, "models": ids} if ids else {"name": vendor})
            if not ids:
                routed.setdefault(name, []).append(samples[style[vendor]].format(w=vendor, W=vendor, n=7))
        spec[name] = {"providers": arms}
    return yaml.safe_dump({"schema_version": 1, "providers": catalog, "runtimes": spec}, sort_keys=False), routed


def big_menu_manifest(size: int) -> str:
    """One runtime whose menu holds ``size`` ids, beside a routing-only arm."""
    rng = random.Random(size)
    ids = [f"alpha/{word(rng, 2)}-{n}" for n in range(size)]
    catalog = [
        {"name": n, "display_name": n, "protocol": "openai", "auth_mode": "oauth", "auth_env": [f"{n.upper()}_KEY"]}
        | {"model_prefix_match": f"^{n}[:/]"}
        for n in ("alpha", "beta")
    ]
    spec = {"big": {"providers": [{"name": "alpha", "models": ids}, {"name": "beta"}]}}
    return yaml.safe_dump({"schema_version": 1, "providers": catalog, "runtimes": spec}, sort_keys=False)


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


def decide(registry: Registry, ids: Ids, read: bool = False) -> Callable[[], None]:
    """A job checking every id once; ``read`` also reads each decision out (reason and suggestions)."""
    check = registry.check

    def job() -> None:
        for runtime, model in ids:
            answer = check(runtime, model)
            if read:
                answer.to_dict()

    return job


def resolve(registry: Registry, models: Sequence[str]) -> Callable[[], None]:
    upstream = registry.upstream

    def job() -> None:
        for model in models:
            upstream(model)

    return job


def import_litellm(disabled: bool) -> tuple[Any, str]:
    if disabled:
        return None, "not measured (--no-litellm)"
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: the bundled cost map
    try:
        import litellm
    except ImportError:
        return None, "NOT MEASURED: litellm is not installed (pip install litellm==1.110.2, the 'bench' extra)"
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
    reference = Registry.load()
    cold = Registry(reference.manifest, cache_size=0)
    corpus = reference_corpus(reference, rng)
    classes = by_class(reference, corpus)
    models = [m for _, m in corpus]
    upstream_ids = namespaced(reference, [*models, *(m for rt in reference.runtimes for m in reference.menu(rt))])

    big = Registry.from_yaml(big_menu_manifest(3000), cache_size=0)
    refusals = [(rt, m) for rt, m in classes["refusal"] if outcome(big.check("big", m)) == "refusal"]
    wide_text, routed = wide_manifest(rng, 1000, 100)
    wide = Registry.from_yaml(wide_text)
    wide_cold = Registry(wide.manifest, cache_size=0)
    wide_corpus = [(rt, rng.choice(wide.menu(rt))) for rt in rng.choices(wide.runtimes, k=len(classes["menu"]))]
    wide_corpus += [(rt, rng.choice(routed[rt])) for rt in rng.choices(sorted(routed), k=len(classes["route"]))]
    wide_corpus += refused_ids(wide, rng.choices(wide.runtimes, k=len(classes["refusal"])), rng)
    memory = bounded_cache(reference.manifest, corpus, 30_000 if args.quick else 100_000)

    litellm, litellm_note = import_litellm(args.no_litellm)
    jobs: dict[str, tuple[Callable[[], object], int]] = {
        "cached": (decide(reference, corpus), len(corpus)),
        "cold": (decide(cold, corpus), len(corpus)),
        **{f"cold_{c}": (decide(cold, classes[c]), len(classes[c])) for c in CLASSES},
        "cold_refusal_reference_menu": (decide(cold, refusals), len(refusals)),
        "cold_refusal_3000_id_menu": (decide(big, [("big", m) for _, m in refusals]), len(refusals)),
        "cold_refusal_read_reference_menu": (decide(cold, refusals, read=True), len(refusals)),
        "cold_refusal_read_3000_id_menu": (decide(big, [("big", m) for _, m in refusals], read=True), len(refusals)),
        "wide_cached": (decide(wide, wide_corpus), len(wide_corpus)),
        "wide_cold": (decide(wide_cold, wide_corpus), len(wide_corpus)),
        "upstream_cached": (resolve(reference, upstream_ids), len(upstream_ids)),
        "upstream_cold": (resolve(cold, upstream_ids), len(upstream_ids)),
    }
    if litellm is not None:
        jobs["litellm"] = (litellm_job(litellm, models), len(models))
        jobs |= {f"litellm_{c}": (litellm_job(litellm, [m for _, m in classes[c]]), len(classes[c])) for c in CLASSES}
    for job, _ in jobs.values():
        job()  # fills the caches of the cached registries
    us = interleave(rounds, {name: per_call(job, units, seconds) for name, (job, units) in jobs.items()})
    median = {name: stats.median for name, stats in us.items()}
    return {
        "reproduce": " ".join([".venv/bin/python bench/resolver.py", *sys.argv[1:]]),
        "machine": f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "routegate": routegate.__version__,
        "seed": args.seed,
        "corpus": {"ids": len(corpus), **{c: len(classes[c]) for c in CLASSES}, "upstream_ids": len(upstream_ids)},
        "litellm": litellm_note,
        "us_per_call": {name: stats.scaled(1e6) for name, stats in us.items()},
        "wide_manifest": {"providers": len(wide.catalog), "runtimes": len(wide.runtimes), "ids": len(wide_corpus)},
        "bounded_cache": memory,
        "process_ms": process_ratio(5 if args.quick else 11),
        "floors": floors(median, litellm is not None, memory),
    }


def floors(us: dict[str, float], measured: bool, memory: dict[str, Any]) -> list[dict[str, Any]]:
    """Each floor with its figure; ``pass`` is None when the figure could not be measured."""
    rows = []

    def floor(name: str, value: float | None, limit: float, above: bool, unit: str) -> None:
        ok = None if value is None else (value >= limit if above else value <= limit)
        figure = "not measured" if value is None else f"{value:.2f}{unit}"
        rows.append({"floor": name, "figure": figure, "pass": ok})

    def faster(name: str) -> float | None:
        litellm = "litellm" + name.removeprefix("cold").removeprefix("cached")
        return us[litellm] / us[name] if measured else None

    floor("cached check vs get_llm_provider", faster("cached"), 10, True, "x")
    floor("cold check vs get_llm_provider", faster("cold"), 10, True, "x")
    for kind in CLASSES:
        floor(f"cold {kind} vs get_llm_provider on the same ids", faster(f"cold_{kind}"), 5, True, "x")
    refusal_growth = us["cold_refusal_3000_id_menu"] / us["cold_refusal_reference_menu"]
    floor("cold refusal, 3,000-id menu / reference menu", refusal_growth, 1.5, False, "x")
    floor("cold upstream", us["upstream_cold"] * 1e6, 0.5, False, " us")
    floor("1,000 providers / reference, cached", us["wide_cached"] / us["cached"], 2, False, "x")
    floor("1,000 providers / reference, cold", us["wide_cold"] / us["cold"], 2, False, "x")
    bounded = memory["growth_kib"] / max(memory["unbounded_growth_kib"], 1)
    floor("memory growth past a full cache / unbounded growth", bounded, 0.1, False, "x")
    return rows


_VERDICT = {True: "PASS", False: "FAIL", None: "n/a"}


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['reproduce']}  ({result['machine']}; {result['litellm']})", "", "us per call (median, min..max)"]
    for name, stats in result["us_per_call"].items():
        lines.append(f"  {name:<36} {stats['median']:>8.3f}  {stats['min']:.3f}..{stats['max']:.3f}")
    process = result["process_ms"]
    lines += ["", f"routegate check process: {process['ratio']}x python -c pass (wall, medians)", "", "floors"]
    lines += [f"  [{_VERDICT[f['pass']]}] {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter rounds")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM comparison")
    result = run(parser.parse_args())
    print(json.dumps(result, indent=2))
    print()
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
