"""The call gate's speed: the in-process call decision on a warm view, and POST /calls/authorize over loopback.

    .venv/bin/python bench/calls.py [--rounds 5] [--decisions 200000] [--requests 2000] [--connections 8]
        [--postgres URL] [--smoke]

First, in this process: a token looked up in a warm caller view and decided by the
core's CallGate, timed call by call over a mix of ids (platform menu ids, BYOK ids,
refusals), per round p50 and p99. Then it serves routegate (one worker) and drives
``POST /calls/authorize`` and ``GET /healthz`` on the same server with the same
keep-alive load generator in interleaved rounds: requests per second at
``--connections`` connections, and authorize's p99 there. Every authorization commits
its receipt before it is answered. SQLite always; PostgreSQL when a server URL is
given (a fresh database, dropped at the end). Prints JSON, then a short table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _serving import add_postgres_flag, free_port, keep_alive_load, postgres_database, wait_for_health
from _timing import interleave

ROUTEGATE = [sys.executable, "-m", "routegate.cli", "serve"]
HERMES_MODEL = "moonshot/kimi-k2.6"
ASKED = [
    "moonshot/kimi-k2.6",
    "moonshot/kimi-k2.5",
    "openrouter/anthropic/claude-3.5-sonnet",
    "anthropic/claude-opus-4-1",
]


def _percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def decision_latency(decisions: int) -> Callable[[], tuple[float, float]]:
    """A measure: (p50, p99) microseconds of one call decided in process, from token to CallDecision."""
    from routegate import Registry
    from routegate.calls import CallGate, Scope
    from routegate.service.call_tokens import Caller, CallerView, hash_token
    from routegate.service.db import Database

    folder = tempfile.mkdtemp(prefix="routegate-bench-view-")
    view = CallerView(Database(f"sqlite:///{folder}/view.db"))
    tokens = [f"rgc_bench_{number}" for number in range(1000)]
    for number, token in enumerate(tokens):
        caller = Caller(str(number), f"w{number}", "hermes", HERMES_MODEL, frozenset(), Scope.MENU, None)
        view.issued(hash_token(token), caller)
    gate = CallGate(Registry.load())
    clock = time.perf_counter_ns

    def measure() -> tuple[float, float]:
        samples = []
        now = time.time()
        for number in range(decisions):
            token, model = tokens[number % len(tokens)], ASKED[number % len(ASKED)]
            started = clock()
            caller = view.caller(token, now)
            assert caller is not None
            gate.decide(caller.runtime, caller.model, caller.auth_env, model, caller.scope)
            samples.append(clock() - started)
        return statistics.median(samples) / 1000, _percentile(samples, 0.99) / 1000

    return measure


def _post(connection: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> dict[str, Any]:
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status not in (200, 201, 403):
        raise SystemExit(f"{path} answered {response.status}: {answer}")
    return answer  # type: ignore[no-any-return]


Send = Callable[[http.client.HTTPConnection, int], None]


def load(port: int, requests: int, connections: int, send: Send) -> Callable[[], tuple[float, float]]:
    """A measure: (requests per second, p99 ms) over ``connections`` keep-alive connections at once."""

    def measure() -> tuple[float, float]:
        latencies, rate = keep_alive_load(port, requests, connections, send)
        return rate, _percentile(latencies, 0.99)

    return measure


@contextmanager
def served(url: str, folder: Path) -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    command = [*ROUTEGATE, "--database-url", url, "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_health(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def setup(name: str, url: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Serve routegate; measure authorize and /healthz on it in turns."""
    with served(url, folder) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        created = _post(connection, "/workspaces", {"name": "bench", "runtime": "hermes", "model": HERMES_MODEL})
        token = _post(connection, f"/workspaces/{created['id']}/call-tokens", {"note": "bench"})["token"]
        connection.close()

        def authorize(http_: http.client.HTTPConnection, number: int) -> None:
            _post(http_, "/calls/authorize", {"token": token, "model": ASKED[number % len(ASKED)]})

        def health(http_: http.client.HTTPConnection, _number: int) -> None:
            http_.request("GET", "/healthz")
            http_.getresponse().read()

        measures = {"authorize": load(port, args.requests, args.connections, authorize)}
        measures["healthz"] = load(port, args.requests, args.connections, health)
        for measure in measures.values():
            measure()  # warm-up
        pairs: dict[str, list[tuple[float, float]]] = {key: [] for key in measures}
        rates = interleave(args.rounds, {key: _keeping(m, pairs[key]) for key, m in measures.items()})
    return {
        "setup": name,
        "requests_per_s": {k: s.scaled(1, 0) for k, s in rates.items()},
        "ratio_to_healthz": round(rates["authorize"].median / rates["healthz"].median, 2),
        "authorize_p99_ms": _spread([p99 for _, p99 in pairs["authorize"]]),
        "healthz_p99_ms": _spread([p99 for _, p99 in pairs["healthz"]]),
    }


def _keeping(measure: Callable[[], tuple[float, float]], kept: list[tuple[float, float]]) -> Callable[[], float]:
    """The rate of ``measure`` for interleave(), the whole sample kept aside."""

    def rate() -> float:
        sample = measure()
        kept.append(sample)
        return sample[0]

    return rate


def floors(decision: dict[str, Any], setups: list[dict[str, Any]], smoke: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def floor(name: str, figure: str, ok: bool) -> None:
        rows.append({"floor": name, "figure": figure, "pass": judged(ok, smoke)})

    p50, p99 = decision["p50_us"]["median"], decision["p99_us"]["median"]
    floor("call decision on a warm view: p50 <= 5 us", f"{p50} us", p50 <= 5)
    floor("call decision on a warm view: p99 <= 50 us", f"{p99} us", p99 <= 50)
    for run in setups:
        ratio, tail = run["ratio_to_healthz"], run["authorize_p99_ms"]["median"]
        floor(f"{run['setup']}: authorize >= 0.5 of /healthz's rate", f"{ratio:.2f}", ratio >= 0.5)
        floor(f"{run['setup']}: authorize p99 <= 5 ms", f"{tail} ms", tail <= 5)
    return rows


def table(result: dict[str, Any]) -> str:
    decision = result["decision"]
    lines = [
        f"{result['reproduce']}  ({result['machine']})",
        "",
        f"call decision in process: p50 {decision['p50_us']['median']} us, p99 {decision['p99_us']['median']} us",
        "",
        f"{'setup':<24}{'authorize/s':>12}{'healthz/s':>11}{'ratio':>7}{'p99 ms':>8}{'healthz p99':>12}",
    ]
    for run in result["setups"]:
        rate = run["requests_per_s"]
        lines.append(
            f"{run['setup']:<24}{rate['authorize']['median']:>12.0f}{rate['healthz']['median']:>11.0f}"
            f"{run['ratio_to_healthz']:>7.2f}{run['authorize_p99_ms']['median']:>8.2f}"
            f"{run['healthz_p99_ms']['median']:>12.2f}"
        )
    lines += ["", "floors"] + [f"  [{verdict(f['pass'])}] {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=200_000, help="in-process decisions per round")
    parser.add_argument("--requests", type=int, default=2000, help="requests per round and endpoint")
    parser.add_argument("--connections", type=int, default=8)
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.decisions, args.requests, args.connections = 2, 2000, 32, 4
    measure = decision_latency(args.decisions)
    measure()  # warm: the gate's cache and the view
    samples = [measure() for _ in range(args.rounds)]
    decision = {
        "p50_us": _spread([p50 for p50, _ in samples]),
        "p99_us": _spread([p99 for _, p99 in samples]),
    }
    with tempfile.TemporaryDirectory(prefix="routegate-bench-") as temp, ExitStack() as stack:
        folder = Path(temp)
        setups = [setup("sqlite, 1 worker", f"sqlite:///{folder / 'calls.db'}", args, folder)]
        if args.postgres:
            database = stack.enter_context(postgres_database(args.postgres))
            setups.append(setup("postgresql, 1 worker", database, args, folder))
    result = {
        "reproduce": reproduce(),
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.rounds} rounds",
        "smoke": args.smoke,
        "decision": decision,
        "setups": setups,
        "floors": floors(decision, setups, args.smoke),
    }
    emit(result, table(result))
    return 0


def _spread(samples: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), 2),
        "min": round(min(samples), 2),
        "max": round(max(samples), 2),
        "rounds": len(samples),
    }


if __name__ == "__main__":
    sys.exit(main())
