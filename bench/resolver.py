"""How fast routegate decides, against LiteLLM and against the issue's floors.

Run from the repository root:

    .venv/bin/python bench/resolver.py            # text, about a minute
    .venv/bin/python bench/resolver.py --quick    # fewer rounds and runs
    .venv/bin/python bench/resolver.py --json     # the same figures as JSON

Every timing is the median of several rounds (timeit-style: each round
calls the code enough times to last a while, garbage collection off), and
rounds of the things being compared are interleaved, because the machine is
shared. Every input is generated from ``--seed``, so a run is repeatable.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from inspect import signature
from pathlib import Path
from typing import Any

import yaml

import routegate
from routegate import Registry, Unroutable
from routegate.registry import DEFAULT_CACHE_SIZE
from routegate.templates import TemplateRoot

LITELLM_QUOTED_US = 6.5
"""LiteLLM's get_llm_provider per call as quoted in issue 2: a quoted figure, never a measurement."""

FLOOR_SPEEDUP = 10.0  # check at least this many times faster than get_llm_provider
FLOOR_UPSTREAM_US = 0.5
FLOOR_PROCESS_RATIO = 10.0
FLOOR_SCALE_RATIO = 2.0
BOUNDED_GROWTH = 0.10  # after the cache is full, traced memory may grow by at most this share of the fill

SYNTHETIC_PROVIDERS = 1000
SYNTHETIC_RUNTIMES = 100
SYNTHETIC_ARMS = (10, 30)

REPO = Path(__file__).resolve().parent.parent
_SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")


@dataclass(frozen=True)
class Settings:
    rounds: int
    round_seconds: float
    process_runs: int
    hostile_ids: int
    junk_sample: int


FULL = Settings(rounds=7, round_seconds=0.12, process_runs=15, hostile_ids=200_000, junk_sample=30)
QUICK = Settings(rounds=5, round_seconds=0.05, process_runs=7, hostile_ids=50_000, junk_sample=12)


# --- timing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Seconds per unit (per decision, per call, per process), over rounds."""

    rounds: tuple[float, ...]
    number: int

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    def to_dict(self, scale: float, unit: str) -> dict[str, Any]:
        return {
            f"median_{unit}": round(self.median * scale, 4),
            f"min_{unit}": round(min(self.rounds) * scale, 4),
            f"max_{unit}": round(max(self.rounds) * scale, 4),
            "rounds": len(self.rounds),
            "calls_per_round": self.number,
        }


def interleaved(
    jobs: dict[str, tuple[Callable[[], object], int]], rounds: int, round_seconds: float
) -> dict[str, Timing]:
    """Time each job (a callable and the units it does per call) over interleaved rounds.

    Each job is first calibrated so one round lasts ``round_seconds``; then
    round k of every job runs before round k+1 of any, so a noisy neighbour
    hurts all of them alike. The clock is this process's CPU time: on a
    shared machine, time spent waiting for a core is not the code's cost.
    """
    timers: dict[str, tuple[timeit.Timer, int, int]] = {}
    for name, (job, units) in jobs.items():
        timer = timeit.Timer(job, timer=time.process_time)
        number = 1
        while timer.timeit(number) < round_seconds / 4:
            number *= 2
        timers[name] = (timer, number * 4, units)
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, (timer, number, units) in timers.items():
            samples[name].append(timer.timeit(number) / number / units)
    return {name: Timing(tuple(samples[name]), timers[name][1]) for name in jobs}


def decide(registry: Registry, ids: Sequence[tuple[str, str]]) -> Callable[[], None]:
    """A job that checks every (runtime, model) of ``ids`` once."""
    check = registry.check

    def job() -> None:
        for runtime, model in ids:
            check(runtime, model)

    return job


def resolve(registry: Registry, models: Sequence[str]) -> Callable[[], None]:
    """A job that resolves every model of ``models`` upstream once."""
    upstream = registry.upstream

    def job() -> None:
        for model in models:
            upstream(model)

    return job


# --- corpora --------------------------------------------------------------------------------


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables))


def _unroutable_id(rng: random.Random) -> str:
    """A plausible-looking id whose first token is longer than any synthetic vendor name."""
    head = _word(rng, 4)
    shape = rng.randrange(4)
    if shape == 0:
        return f"{head}-{_word(rng, 2)}-{rng.randint(1, 99)}b"
    if shape == 1:
        return f"{head}/{_word(rng, 2)}-{rng.randint(1, 9)}.{rng.randint(0, 9)}"
    if shape == 2:
        return f"{head}:{_word(rng, 3)}"
    return f"{head.capitalize()}-{_word(rng, 1).upper()}{rng.randint(1, 9)}"


def _is_unroutable(registry: Registry, runtime: str, model: str) -> bool:
    try:
        registry.derive(runtime, model)
    except Unroutable:
        return True
    except routegate.DeriveError:  # ambiguous: routable enough not to count
        pass
    return False


def unroutable_ids(registry: Registry, runtimes: Sequence[str], rng: random.Random) -> list[tuple[str, str]]:
    """One unroutable id per runtime given, each checked to be unroutable on its runtime."""
    corpus = []
    for runtime in runtimes:
        model = _unroutable_id(rng)
        while not _is_unroutable(registry, runtime, model):
            model = _unroutable_id(rng)
        corpus.append((runtime, model))
    return corpus


def outcome(decision: routegate.Decision) -> str:
    return decision.path.value if decision.path is not None else "rejected"


def reference_corpus(registry: Registry, rng: random.Random) -> tuple[list[tuple[str, str]], int]:
    """Every bundled template's offered id with its runtime, then as many unroutable ids on the same runtimes."""
    offered = [(t.runtime, o.id) for t in TemplateRoot().all() if t.runtime for o in t.offered]
    known = [runtime for runtime, _ in offered if runtime in registry.runtimes]  # foreign runtimes fail open
    return offered + unroutable_ids(registry, known, rng), len(offered)


def namespaced_ids(registry: Registry, models: Sequence[str]) -> list[str]:
    """The distinct ids ``upstream`` accepts, from ``models`` and every runtime's menu."""
    candidates = dict.fromkeys([*models, *(m for rt in registry.runtimes for m in registry.menu(rt))])
    namespaced = []
    for model in candidates:
        try:
            registry.upstream(model)
        except routegate.NotNamespaced:
            continue
        namespaced.append(model)
    return namespaced


# --- the synthetic manifest ------------------------------------------------------------------


@dataclass(frozen=True)
class _Vendor:
    word: str
    style: int

    @property
    def pattern(self) -> str:
        w = self.word
        return (f"^{w}[:/]", f"(?i)^({w}-|{w}[:/])", f"^{w}-(chat|coder|mini|pro)", f"^{w}/[a-z0-9.-]+$")[self.style]

    def sample(self, rng: random.Random) -> str:
        """An id this vendor's pattern accepts."""
        w, tail = self.word, f"{_word(rng, 2)}-{rng.randint(1, 999)}"
        return (
            f"{w}{rng.choice(':/')}{tail}",
            f"{w.upper() if rng.random() < 0.3 else w}-{tail}",
            f"{w}-{rng.choice(('chat', 'coder', 'mini', 'pro'))}-{tail}",
            f"{w}/{tail}.{rng.randint(0, 9)}",
        )[self.style]


def synthetic_manifest(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """YAML for 1,000 providers and 100 runtimes, plus facts about it.

    Names are distinct 2- or 3-syllable words and every pattern is anchored
    on its own word followed by a separator, so no two patterns can match the
    same id. A quarter of the providers are platform-keyed (they declare an
    upstream vendor): those only ever appear as menu arms (guardrail G1).
    """
    words: dict[str, None] = {}
    while len(words) < SYNTHETIC_PROVIDERS - 1:
        words[_word(rng, rng.choice((2, 3)))] = None
    vendors = [_Vendor(word, rng.randrange(4)) for word in words]
    keyed = {v.word for v in vendors if rng.random() < 0.25}

    providers: list[dict[str, Any]] = [
        {
            "name": "platform",
            "display_name": "Platform",
            "protocol": "openai",
            "auth_mode": "anthropic_api",
            "auth_env": ["PLATFORM_API_KEY"],
            "model_prefix_match": "^platform/",
        }
    ]
    for vendor in vendors:
        entry: dict[str, Any] = {
            "name": vendor.word,
            "display_name": vendor.word.capitalize(),
            "protocol": rng.choice(("openai", "anthropic")),
            "auth_mode": rng.choice(("anthropic_api", "oauth", "third_party_anthropic_compat")),
            "base_url_template": f"https://api.{vendor.word}.example/v1",
            "auth_env": [f"{vendor.word.upper()}_API_KEY"],
            "model_prefix_match": vendor.pattern,
        }
        if vendor.word in keyed:
            entry["upstream_vendor"] = vendor.word
        providers.append(entry)

    runtimes: dict[str, Any] = {}
    routing: dict[str, list[_Vendor]] = {}
    arm_counts, menu_sizes = [], []
    for number in range(SYNTHETIC_RUNTIMES):
        name = f"runtime-{number:03d}"
        chosen = rng.sample(vendors, rng.randint(*SYNTHETIC_ARMS) - 1)
        arms: list[dict[str, Any]] = []
        for vendor in chosen:
            if vendor.word in keyed or rng.random() < 0.4:
                arms.append({"name": vendor.word, "models": [vendor.sample(rng) for _ in range(rng.randint(1, 3))]})
            else:
                arms.append({"name": vendor.word})
                routing.setdefault(name, []).append(vendor)
        platform_ids = [
            f"{rng.choice(vendors).word}/{_word(rng, 2)}-{rng.randint(1, 9)}" for _ in range(rng.randint(1, 3))
        ]
        arms.insert(rng.randrange(len(arms) + 1), {"name": "platform", "models": platform_ids})
        runtimes[name] = {"providers": arms}
        arm_counts.append(len(arms))
        menu_sizes.append(len(dict.fromkeys(m for arm in arms for m in arm.get("models", ()))))

    text = yaml.safe_dump({"schema_version": 1, "providers": providers, "runtimes": runtimes}, sort_keys=False)
    facts = {
        "providers": len(providers),
        "runtimes": len(runtimes),
        "platform_keyed_providers": len(keyed) + 1,
        "arms_per_runtime": {
            "min": min(arm_counts),
            "mean": round(statistics.mean(arm_counts), 1),
            "max": max(arm_counts),
        },
        "menu_ids_per_runtime_mean": round(statistics.mean(menu_sizes), 1),
        "routing": routing,
    }
    return text, facts


def synthetic_corpus(
    registry: Registry, routing: dict[str, list[_Vendor]], mix: Counter[str], rng: random.Random
) -> list[tuple[str, str]]:
    """Decisions with the reference corpus's mix of outcomes: menu ids, pattern-routed ids, unroutable ids."""
    runtimes = list(registry.runtimes)
    corpus = [("external", _unroutable_id(rng)) for _ in range(mix["fail_open"])]
    corpus += [(rng.choice(runtimes), " ") for _ in range(mix["empty"])]
    for _ in range(mix["menu"]):
        runtime = rng.choice(runtimes)
        corpus.append((runtime, rng.choice(registry.menu(runtime))))
    for _ in range(mix["route"]):
        runtime = rng.choice(sorted(routing))
        corpus.append((runtime, rng.choice(routing[runtime]).sample(rng)))
    corpus += unroutable_ids(registry, [rng.choice(runtimes) for _ in range(mix["rejected"])], rng)
    rng.shuffle(corpus)
    return corpus


# --- memory -----------------------------------------------------------------------------------


_PEAK_RSS = """
import resource
try:  # VmHWM starts afresh at exec; ru_maxrss keeps the parent's high-water mark across it
    with open("/proc/self/status") as status:
        print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss_kib(code: str) -> int:
    """Peak resident set, in KiB, of a fresh interpreter running ``code`` (median of three)."""
    peaks = []
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code + _PEAK_RSS], capture_output=True, text=True, check=True)
        peaks.append(int(done.stdout.split()[-1]))
    return int(statistics.median(peaks))


def _traced(action: Callable[[], object]) -> tuple[int, int, object]:
    """(peak, retained) bytes tracemalloc saw while ``action`` ran, and its result (kept alive)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = action()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before, current - before, result


def _hostile_ids(
    rng: random.Random, runtimes: Sequence[str], routed: Sequence[tuple[str, str]], count: int
) -> Iterator[tuple[str, str]]:
    """Distinct ids an attacker might send: mostly routed ids with a unique tail, some junk, a few very long."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_./:ABCXYZ\u00e9\u4e2d\U0001f600\u202e\x00"
    for number in range(count):
        if number % 1000 == 999:
            yield rng.choice(runtimes), f"{number:x}" + "x" * rng.randint(300, 4000)  # too long to be cached
        elif number % 10 == 0:
            length = rng.randint(8, 40)
            yield rng.choice(runtimes), f"{number:x}~" + "".join(rng.choice(alphabet) for _ in range(length))
        else:
            runtime, model = routed[number % len(routed)]
            yield runtime, f"{model}-{number:x}"


def bounded_cache(
    manifest: routegate.Manifest, rng: random.Random, corpus: Sequence[tuple[str, str]], count: int
) -> dict[str, Any]:
    """Feed ``count`` distinct ids through a default Registry and watch traced memory."""
    registry = Registry(manifest)
    routed = [(rt, m) for rt, m in corpus if outcome(registry.check(rt, m)) == "route"]
    runtimes = sorted({rt for rt, _ in corpus})
    checkpoints = sorted({DEFAULT_CACHE_SIZE, count // 4, count // 2, count * 3 // 4, count})
    samples: dict[int, int] = {}
    outcomes: Counter[str] = Counter()
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for fed, (runtime, model) in enumerate(_hostile_ids(rng, runtimes, routed, count), 1):
            outcomes[outcome(registry.check(runtime, model))] += 1
            if fed in checkpoints:
                gc.collect()
                samples[fed] = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    filled, final = samples[DEFAULT_CACHE_SIZE], samples[count]
    growth = final - filled
    return {
        "ids_fed": count,
        "cache_size": DEFAULT_CACHE_SIZE,
        "outcomes": dict(outcomes),
        "traced_kib_at": {str(k): round(v / 1024, 1) for k, v in sorted(samples.items())},
        "growth_after_full_kib": round(growth / 1024, 1),
        "unbounded_estimate_kib": round(filled / DEFAULT_CACHE_SIZE * count / 1024, 1),
        "seconds_under_tracemalloc": round(elapsed, 1),
        "bounded": growth <= BOUNDED_GROWTH * filled,
    }


def junk_cost(manifest: routegate.Manifest, rng: random.Random, settings: Settings) -> dict[str, Timing]:
    """Cold check cost of distinct junk ids (16-256 chars, all cacheable lengths), per runtime."""
    cold = Registry(manifest, cache_size=0)
    jobs: dict[str, tuple[Callable[[], object], int]] = {}
    for runtime in cold.runtimes:
        ids = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(8, 128))) for _ in range(settings.junk_sample)]
        jobs[runtime] = (decide(cold, [(runtime, model) for model in ids]), len(ids))
    return interleaved(jobs, 3, settings.round_seconds)


# --- processes --------------------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: Sequence[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit code of one run of ``command``."""
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started, _children_cpu() - cpu, done.returncode


def _default_cache_entries() -> tuple[str | None, int | None]:
    """routegate's manifest cache folder as a one-shot command sees it, and how many entries it holds."""
    try:
        from routegate import _cache  # private: read here only to describe the state being measured

        folder = _cache._folder()
    except (ImportError, AttributeError):
        return None, None
    if folder is None:
        return "off", None
    return str(folder), len(list(folder.glob("manifest-*.json"))) if folder.is_dir() else 0


def processes(settings: Settings, manifest_cache: bool) -> dict[str, Any]:
    """``routegate check hermes gpt-4o`` against ``python -c pass``, interleaved, one untimed warm-up each.

    Besides the environment as it is, two states that change the answer: no
    manifest cache (every run validates), and a bytecode cache for every
    module (``PYTHONPYCACHEPREFIX``, warmed by the untimed run), which an
    editable install under ``PYTHONDONTWRITEBYTECODE`` never gets.
    """
    script = shutil.which("routegate", path=str(Path(sys.executable).parent))
    check = [script] if script else [sys.executable, "-m", "routegate.cli"]
    check += ["check", "hermes", "gpt-4o"]
    bare = [sys.executable, "-c", "pass"]
    env = dict(os.environ)
    folder, entries_before = _default_cache_entries()
    with tempfile.TemporaryDirectory() as pycache:
        bytecode = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPYCACHEPREFIX": pycache}
        variants: dict[str, tuple[list[str], dict[str, str]]] = {
            "bare_python": (bare, env),
            "routegate_check": (check, env),
        }
        if manifest_cache:
            variants["routegate_check_cache_off"] = (check, {**env, "ROUTEGATE_CACHE_DIR": "off"})
        variants["bare_python_bytecode"] = (bare, bytecode)
        variants["routegate_check_bytecode"] = (check, bytecode)
        codes: dict[str, set[int]] = {name: set() for name in variants}
        walls: dict[str, list[float]] = {name: [] for name in variants}
        cpus: dict[str, list[float]] = {name: [] for name in variants}
        for name, (command, environment) in variants.items():
            codes[name].add(_run(command, environment)[2])
        for _ in range(settings.process_runs):
            for name, (command, environment) in variants.items():
                wall, cpu, code = _run(command, environment)
                walls[name].append(wall)
                cpus[name].append(cpu)
                codes[name].add(code)
    return {
        "command": shlex.join(["routegate", *check[-3:]]),
        "runs": settings.process_runs,
        "wall": {name: Timing(tuple(t), 1) for name, t in walls.items()},
        "cpu": {name: Timing(tuple(t), 1) for name, t in cpus.items()},
        "exit_codes": {name: sorted(c) for name, c in codes.items()},
        "manifest_cache_folder": folder,
        "manifest_cache_entries_before_warmup": entries_before,
        "bytecode_env": {
            k: os.environ[k] for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX") if k in os.environ
        },
    }


# --- litellm ----------------------------------------------------------------------------------


def import_litellm(disabled: bool) -> tuple[Any, str]:
    """LiteLLM's module and a note, or (None, why not)."""
    if disabled:
        return None, "litellm disabled (--no-litellm)"
    # No network here: use the cost map LiteLLM bundles instead of fetching one at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    started = time.perf_counter()
    try:
        import litellm
    except ImportError:
        return None, "litellm not installed"
    litellm.suppress_debug_info = True  # it prints a banner to stdout on every unknown provider
    from importlib.metadata import version

    return litellm, f"litellm {version('litellm')} (import took {time.perf_counter() - started:.1f} s, one run)"


def litellm_job(litellm: Any, models: Sequence[str]) -> Callable[[], None]:
    get = litellm.get_llm_provider

    def job() -> None:
        for model in models:
            try:  # noqa: SIM105 - suppress() would add a context manager to every timed call
                get(model)
            except Exception:
                pass  # it raises for unknown providers: those calls are timed too

    return job


def litellm_outcomes(litellm: Any, models: Sequence[str]) -> tuple[list[str], list[str], Counter[str]]:
    resolved, raised, kinds = [], [], Counter[str]()
    for model in models:
        try:
            litellm.get_llm_provider(model)
            resolved.append(model)
        except Exception as error:
            raised.append(model)
            kinds[type(error).__name__] += 1
    return resolved, raised, kinds


# --- the run ---------------------------------------------------------------------------------


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = QUICK if args.quick else FULL
    rng = random.Random(args.seed)
    manifest_cache = "cached" in signature(Registry.load).parameters
    result: dict[str, Any] = {
        "reproduce": f"cd {shlex.quote(str(REPO))} && "
        + shlex.join([".venv/bin/python", "bench/resolver.py", *sys.argv[1:]]),
        "machine": f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs",
        "method": (
            f"median of {settings.rounds} interleaved rounds, each >= {settings.round_seconds} s of calls "
            "(timeit on this process's CPU clock, gc off while timing); min..max shown"
        ),
        "seed": args.seed,
        "routegate_version": routegate.__version__,
        "load_average_at_start": os.getloadavg()[0],
    }

    # Loading: validation each time, then (when routegate has it) the on-disk manifest cache.
    Registry.load()  # imports yaml and pydantic before timing
    load_jobs: dict[str, tuple[Callable[[], object], int]] = {"load": (Registry.load, 1)}
    with tempfile.TemporaryDirectory() as cache_dir, _env("ROUTEGATE_CACHE_DIR", cache_dir):
        if manifest_cache:
            Registry.load(cached=True)
            load_jobs["load_cached"] = (lambda: Registry.load(cached=True), 1)
        loads = interleaved(load_jobs, settings.rounds, settings.round_seconds)
    peak, retained, registry = _traced(Registry.load)
    assert isinstance(registry, Registry)
    result["load"] = {
        "manifest": "bundled reference",
        "fingerprint": registry.fingerprint,
        "providers": len(registry.catalog),
        "runtimes": len(registry.runtimes),
        **{name: timing.to_dict(1e3, "ms") for name, timing in loads.items()},
        "tracemalloc_peak_kib": round(peak / 1024, 1),
        "tracemalloc_retained_kib": round(retained / 1024, 1),
        "peak_rss_bare_python_kib": _peak_rss_kib("pass"),
        "peak_rss_import_and_load_kib": _peak_rss_kib("from routegate import Registry\nRegistry.load()"),
    }

    corpus, offered = reference_corpus(registry, rng)
    mix = Counter(outcome(registry.check(rt, m)) for rt, m in corpus)
    models = [m for _, m in corpus]
    upstream_ids = namespaced_ids(registry, models)
    cold = Registry(registry.manifest, cache_size=0)
    result["corpus"] = {
        "decisions": len(corpus),
        "template_ids": offered,
        "unroutable_ids": len(corpus) - offered,
        "outcomes": dict(mix),
    }

    text, facts = synthetic_manifest(rng)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "providers-1000.yaml"
        path.write_text(text, encoding="utf-8")
        synthetic_loads = interleaved({"load": (lambda: Registry.load(path), 1)}, 3, settings.round_seconds)
        synthetic = Registry.load(path)
    routing = facts.pop("routing")
    synthetic_cold = Registry(synthetic.manifest, cache_size=0)
    s_corpus = synthetic_corpus(synthetic, routing, mix, rng)
    s_mix = Counter(outcome(synthetic.check(rt, m)) for rt, m in s_corpus)
    if s_mix != mix:
        raise SystemExit(f"synthetic corpus has outcomes {dict(s_mix)}, expected {dict(mix)}: the generator is broken")

    # Before LiteLLM is imported: its ~370k tracked objects would slow every garbage collection here.
    junk = junk_cost(registry.manifest, rng, settings)
    result["junk_cold_us"] = {
        rt: {"menu_ids": len(registry.menu(rt)), **t.to_dict(1e6, "us")} for rt, t in junk.items()
    }
    result["bounded_cache"] = bounded_cache(registry.manifest, rng, corpus, settings.hostile_ids)

    litellm, litellm_note = import_litellm(args.no_litellm)

    by_outcome = {kind: [(rt, m) for rt, m in corpus if outcome(registry.check(rt, m)) == kind] for kind in mix}
    jobs: dict[str, tuple[Callable[[], object], int]] = {
        "check_warm": (decide(registry, corpus), len(corpus)),
        "check_cold": (decide(cold, corpus), len(corpus)),
        **{f"check_cold_{kind}": (decide(cold, ids), len(ids)) for kind, ids in sorted(by_outcome.items())},
        "synthetic_check_warm": (decide(synthetic, s_corpus), len(s_corpus)),
        "synthetic_check_cold": (decide(synthetic_cold, s_corpus), len(s_corpus)),
        "upstream_warm": (resolve(registry, upstream_ids), len(upstream_ids)),
        "upstream_cold": (resolve(cold, upstream_ids), len(upstream_ids)),
    }
    if litellm is not None:
        resolved, raised, kinds = litellm_outcomes(litellm, models)
        jobs["litellm"] = (litellm_job(litellm, models), len(models))
        if resolved:
            jobs["litellm_resolved"] = (litellm_job(litellm, resolved), len(resolved))
        if raised:
            jobs["litellm_raised"] = (litellm_job(litellm, raised), len(raised))
    for job, _ in jobs.values():
        job()  # fill the warm caches
    timings = interleaved(jobs, settings.rounds, settings.round_seconds)
    us = {name: timing.median * 1e6 for name, timing in timings.items()}

    result["check_us"] = {name: timings[name].to_dict(1e6, "us") for name in jobs if name.startswith("check_")}
    result["upstream_us"] = {
        "ids": len(upstream_ids),
        **{n: timings[n].to_dict(1e6, "us") for n in ("upstream_warm", "upstream_cold")},
    }
    if litellm is not None:
        result["litellm"] = {
            "note": litellm_note,
            "ids": len(models),
            "resolved": len(resolved),
            "raised": dict(kinds),
            **{n: timings[n].to_dict(1e6, "us") for n in jobs if n.startswith("litellm")},
        }
        litellm_us, litellm_label = us["litellm"], "measured get_llm_provider"
    else:
        result["litellm"] = {"note": litellm_note, "quoted_us": LITELLM_QUOTED_US}
        litellm_us, litellm_label = LITELLM_QUOTED_US, "QUOTED 6.5 us from issue 2, not measured"
    result["synthetic"] = {
        **facts,
        "fingerprint": synthetic.fingerprint,
        "load": synthetic_loads["load"].to_dict(1e3, "ms"),
        "corpus_outcomes": dict(s_mix),
        "check_warm": timings["synthetic_check_warm"].to_dict(1e6, "us"),
        "check_cold": timings["synthetic_check_cold"].to_dict(1e6, "us"),
        "ratio_warm": round(us["synthetic_check_warm"] / us["check_warm"], 2),
        "ratio_cold": round(us["synthetic_check_cold"] / us["check_cold"], 2),
    }

    proc = processes(settings, manifest_cache)
    wall, cpu = proc.pop("wall"), proc.pop("cpu")
    variants = {}
    for name in wall:
        bare = "bare_python_bytecode" if name.endswith("_bytecode") else "bare_python"
        variants[name] = {
            "wall": wall[name].to_dict(1e3, "ms"),
            "cpu": cpu[name].to_dict(1e3, "ms"),
            "wall_ratio": round(wall[name].median / wall[bare].median, 2),
            "cpu_ratio": round(cpu[name].median / cpu[bare].median, 2),
        }
    result["process"] = {**proc, "variants": variants}
    result["maxrss_this_run_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["load_average_at_end"] = os.getloadavg()[0]

    result["floors"] = floors(result, us, litellm_us, litellm_label)
    return result


def floors(result: dict[str, Any], us: dict[str, float], litellm_us: float, litellm_label: str) -> list[dict[str, Any]]:
    """The floors of issue 2, each with PASS or FAIL and the figure behind it."""

    def floor(name: str, ok: bool, figure: str) -> dict[str, Any]:
        return {"floor": name, "pass": ok, "figure": figure}

    speed_warm, speed_cold = litellm_us / us["check_warm"], litellm_us / us["check_cold"]
    check = result["process"]["variants"]["routegate_check"]
    return [
        floor(
            f"check warm (default cache) >= {FLOOR_SPEEDUP:g}x faster than get_llm_provider",
            speed_warm >= FLOOR_SPEEDUP,
            f"{speed_warm:.1f}x ({us['check_warm']:.3f} us vs {litellm_us:.2f} us, {litellm_label})",
        ),
        floor(
            f"check cold (cache_size=0) >= {FLOOR_SPEEDUP:g}x faster than get_llm_provider",
            speed_cold >= FLOOR_SPEEDUP,
            f"{speed_cold:.2f}x ({us['check_cold']:.2f} us vs {litellm_us:.2f} us, {litellm_label})",
        ),
        floor(
            f"upstream warm (default cache) < {FLOOR_UPSTREAM_US} us",
            us["upstream_warm"] < FLOOR_UPSTREAM_US,
            f"{us['upstream_warm']:.3f} us",
        ),
        floor(
            f"upstream cold (cache_size=0) < {FLOOR_UPSTREAM_US} us",
            us["upstream_cold"] < FLOOR_UPSTREAM_US,
            f"{us['upstream_cold']:.3f} us",
        ),
        floor(
            f"'{result['process']['command']}' process <= {FLOOR_PROCESS_RATIO:g}x "
            "'python -c pass' (default cache state)",
            check["wall_ratio"] <= FLOOR_PROCESS_RATIO,
            f"{check['wall_ratio']:.2f}x wall time (CPU time: {check['cpu_ratio']:.2f}x)",
        ),
        floor(
            f"1,000 providers: check warm <= {FLOOR_SCALE_RATIO:g}x reference",
            result["synthetic"]["ratio_warm"] <= FLOOR_SCALE_RATIO,
            f"{result['synthetic']['ratio_warm']:.2f}x",
        ),
        floor(
            f"1,000 providers: check cold <= {FLOOR_SCALE_RATIO:g}x reference",
            result["synthetic"]["ratio_cold"] <= FLOOR_SCALE_RATIO,
            f"{result['synthetic']['ratio_cold']:.2f}x",
        ),
        floor(
            f"cache bounded: {result['bounded_cache']['ids_fed']:,} distinct hostile ids",
            result["bounded_cache"]["bounded"],
            f"+{result['bounded_cache']['growth_after_full_kib']} KiB after the cache filled",
        ),
    ]


# --- text output --------------------------------------------------------------------------------


def _row(label: str, t: dict[str, Any], unit: str, extra: str = "") -> str:
    return (
        f"  {label:<46} {t[f'median_{unit}']:>10.3f} {unit}   "
        f"({t[f'min_{unit}']:.3f}..{t[f'max_{unit}']:.3f})  {extra}".rstrip()
    )


def render(r: dict[str, Any]) -> str:
    lines = [
        "routegate resolver benchmark",
        f"reproduce: {r['reproduce']}",
        f"{r['machine']}; routegate {r['routegate_version']}; seed {r['seed']}; "
        f"1-minute load average {r['load_average_at_start']:.1f} at start, {r['load_average_at_end']:.1f} at end",
        f"timing: {r['method']}",
        "",
    ]
    load = r["load"]
    lines += [
        f"manifest load ({load['manifest']}: {load['providers']} providers, {load['runtimes']} runtimes, "
        f"fingerprint {load['fingerprint']})",
        _row("Registry.load() (validates)", load["load"], "ms"),
    ]
    if "load_cached" in load:
        lines.append(_row("Registry.load(cached=True), cache hit", load["load_cached"], "ms"))
    lines += [
        f"  tracemalloc during one load: peak {load['tracemalloc_peak_kib']:.0f} KiB, "
        f"retained {load['tracemalloc_retained_kib']:.0f} KiB",
        f"  peak RSS (VmHWM) of a fresh interpreter: bare {load['peak_rss_bare_python_kib']} KiB, "
        f"import routegate + Registry.load() {load['peak_rss_import_and_load_kib']} KiB",
        "",
    ]
    c = r["corpus"]
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(c["outcomes"].items()))
    lines += [
        f"corpus: {c['decisions']} decisions = {c['template_ids']} bundled-template ids with their runtime "
        f"+ {c['unroutable_ids']} generated unroutable ids on the same runtimes ({outcomes})",
        f"{'Registry.check per decision':<48} {'median':>10}      (min..max)",
        _row("warm (default cache)", r["check_us"]["check_warm"], "us"),
        _row("cold (cache_size=0)", r["check_us"]["check_cold"], "us"),
    ]
    for name, timing in r["check_us"].items():
        if name.startswith("check_cold_"):
            kind = name.removeprefix("check_cold_")
            lines.append(_row(f"  cold, {kind} only ({c['outcomes'][kind]})", timing, "us"))
    u = r["upstream_us"]
    lines += [
        f"Registry.upstream per call ({u['ids']} namespaced ids)",
        _row("warm (default cache)", u["upstream_warm"], "us"),
        _row("cold (cache_size=0)", u["upstream_cold"], "us"),
    ]
    ll = r["litellm"]
    if "litellm" in ll:
        raised = ", ".join(f"{k} {v}" for k, v in ll["raised"].items()) or "none"
        lines += [
            f"litellm.get_llm_provider per call, same {ll['ids']} ids: {ll['note']}",
            f"  ({ll['resolved']} resolved, raised: {raised}; exceptions caught and timed)",
            _row("all ids", ll["litellm"], "us"),
        ]
        for part in ("resolved", "raised"):
            if f"litellm_{part}" in ll:
                lines.append(_row(f"  {part} only", ll[f"litellm_{part}"], "us"))
    else:
        lines.append(
            f"litellm.get_llm_provider: {ll['note']}; ratios use the QUOTED {ll['quoted_us']} us (not a measurement)"
        )
    s = r["synthetic"]
    arms = s["arms_per_runtime"]
    lines += [
        "",
        f"synthetic manifest: {s['providers']} providers ({s['platform_keyed_providers']} platform-keyed), "
        f"{s['runtimes']} runtimes, {arms['min']}..{arms['max']} arms (mean {arms['mean']}), "
        f"menu ids/runtime mean {s['menu_ids_per_runtime_mean']}, "
        f"fingerprint {s['fingerprint']}",
        _row("Registry.load(synthetic)", s["load"], "ms"),
        "  corpus with the reference mix: " + ", ".join(f"{k} {v}" for k, v in sorted(s["corpus_outcomes"].items())),
        _row("check warm", s["check_warm"], "us", f"x{s['ratio_warm']} reference"),
        _row("check cold", s["check_cold"], "us", f"x{s['ratio_cold']} reference"),
        "",
        "cold check of distinct junk ids (16-256 letters: cacheable lengths, every one a cache miss), per runtime",
    ]
    for runtime, t in r["junk_cold_us"].items():
        lines.append(_row(f"{runtime} (menu of {t['menu_ids']})", t, "us"))
    b = r["bounded_cache"]
    lines += [
        "",
        f"bounded cache: {b['ids_fed']:,} distinct hostile ids through one default Registry (cache {b['cache_size']}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(b["outcomes"].items()))
        + ")",
        "  traced memory after N ids: " + ", ".join(f"{int(k):,}: {v:,.0f} KiB" for k, v in b["traced_kib_at"].items()),
        f"  growth after the cache filled: {b['growth_after_full_kib']:,.0f} KiB "
        f"(an unbounded cache would hold ~{b['unbounded_estimate_kib']:,.0f} KiB); "
        f"{b['seconds_under_tracemalloc']} s under tracemalloc",
        "",
    ]
    p = r["process"]
    labels = {
        "bare_python": "python -c pass",
        "routegate_check": p["command"],
        "routegate_check_cache_off": "  same, no manifest cache (ROUTEGATE_CACHE_DIR=off)",
        "bare_python_bytecode": "python -c pass, bytecode cache",
        "routegate_check_bytecode": "routegate check, bytecode cache",
    }
    lines += [
        f"whole process, {p['runs']} interleaved runs each after one untimed warm-up (exit codes {p['exit_codes']})",
        f"  {'':<52} {'wall median':>11}  {'(min..max)':<12} {'ratio':<7} {'CPU median':>10}  {'ratio':<7}",
    ]
    for name, v in p["variants"].items():
        w, c = v["wall"], v["cpu"]
        spread = f"({w['min_ms']:.0f}..{w['max_ms']:.0f})"
        lines.append(
            f"  {labels[name]:<52} {w['median_ms']:>8.1f} ms  {spread:<12} {'x' + str(v['wall_ratio']):<7} "
            f"{c['median_ms']:>7.1f} ms  x{v['cpu_ratio']}"
        )
    lines += [
        "  (ratios against python -c pass in the same environment)",
        f"  manifest cache folder {p['manifest_cache_folder']} "
        f"held {p['manifest_cache_entries_before_warmup']} entries "
        "before the warm-up run (which writes one if missing)",
        f"  bytecode env as run: {p['bytecode_env'] or '(Python defaults)'}",
        f"maxrss of this benchmark process: {r['maxrss_this_run_kib']} KiB (includes litellm when imported)",
        "",
        "floors (issue 2)",
    ]
    for f in r["floors"]:
        lines.append(f"  [{'PASS' if f['pass'] else 'FAIL'}] {f['floor']}: {f['figure']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, runs and hostile ids")
    parser.add_argument(
        "--seed", type=int, default=20261125, help="seed for every generated id and the synthetic manifest"
    )
    parser.add_argument(
        "--no-litellm", action="store_true", help="do not import litellm: compare with the quoted figure"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a floor fails")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 1 if args.strict and not all(f["pass"] for f in result["floors"]) else 0


if __name__ == "__main__":
    sys.exit(main())
