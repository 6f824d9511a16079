"""The call gate's speed: the in-process call decision on a warm view, and POST /calls/authorize over loopback.

    .venv/bin/python bench/calls.py [--rounds 5] [--decisions 200000] [--seconds 3] [--connections 8 32]
        [--no-access-log] [--postgres URL] [--smoke]

First, in this process: a token looked up in a warm caller view and decided by the
core's CallGate, timed call by call over a mix of ids (platform menu ids, BYOK ids,
refusals), per round p50 and p99. Then it serves routegate (one worker) and loads
``POST /calls/authorize`` (the same ids in turn) and ``GET /healthz`` on the same server
with wrk, a load generator in C in its own process, as a gateway's connection pool
would: each at 8 and at 32 keep-alive connections, in interleaved rounds. Per round:
requests per second, wrk's p50 and p99, and the server's CPU time per request (every
thread, from /proc). Every authorization commits its receipt before it is answered.
SQLite always; PostgreSQL when a server URL is given (a fresh database, dropped at the
end). Needs wrk on PATH (scripts/wrk.sh). Prints JSON, then a short table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _serving import add_postgres_flag, cpu_seconds, postgres_database, routegate_serving, wrk_load
from _timing import interleave, percentile

HERMES_MODEL = "moonshot/kimi-k2.6"
ASKED = [
    "moonshot/kimi-k2.6",
    "moonshot/kimi-k2.5",
    "openrouter/anthropic/claude-3.5-sonnet",
    "anthropic/claude-opus-4-1",
]


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
        return statistics.median(samples) / 1000, percentile(samples, 0.99) / 1000

    return measure


def _post(connection: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> dict[str, Any]:
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status not in (200, 201, 403):
        raise SystemExit(f"{path} answered {response.status}: {answer}")
    return answer  # type: ignore[no-any-return]


def _load(
    port: int, pid: int, path: str, args: argparse.Namespace, connections: int, **request: Any
) -> Callable[[], dict[str, float]]:
    """A measure: one wrk run against ``path``, and the server's CPU per request meanwhile."""

    def measure() -> dict[str, float]:
        before = cpu_seconds(pid)
        url = f"http://127.0.0.1:{port}{path}"
        run = wrk_load(url, seconds=args.seconds, connections=connections, folder=args.folder, **request)
        unexpected = {status: count for status, count in run.statuses.items() if status not in (200, 403)}
        if unexpected:
            raise SystemExit(f"{path} answered statuses {unexpected} under load")
        answered = sum(run.statuses.values())
        cpu_ms = (cpu_seconds(pid) - before) * 1000 / max(answered, 1)
        return {"rate": run.rate, "p50_ms": run.p50_ms, "p99_ms": run.p99_ms, "cpu_ms": cpu_ms}

    return measure


def setup(name: str, url: str, args: argparse.Namespace, flags: Sequence[str] = ()) -> dict[str, Any]:
    """Serve routegate; measure authorize and /healthz on it in turns, at each number of connections."""
    with routegate_serving(url, args.folder, *flags) as (port, pid):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        created = _post(connection, "/workspaces", {"name": "bench", "runtime": "hermes", "model": HERMES_MODEL})
        token = _post(connection, f"/workspaces/{created['id']}/call-tokens", {"note": "bench"})["token"]
        connection.close()
        bodies = [json.dumps({"token": token, "model": model}) for model in ASKED]
        json_header = {"Content-Type": "application/json"}
        measures: dict[str, Callable[[], dict[str, float]]] = {}
        for connections in args.connections:
            measures[f"authorize@{connections}"] = _load(
                port, pid, "/calls/authorize", args, connections, method="POST", bodies=bodies, headers=json_header
            )
            measures[f"healthz@{connections}"] = _load(port, pid, "/healthz", args, connections)
        for measure in measures.values():
            measure()  # warm-up
        runs: dict[str, list[dict[str, float]]] = {key: [] for key in measures}
        interleave(args.rounds, {key: _keeping(measure, runs[key]) for key, measure in measures.items()})
    return {"setup": name, "at": [_at(connections, runs) for connections in args.connections]}


def _at(connections: int, runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """The figures at one number of connections: each endpoint's spreads, and the rate ratio."""
    figures: dict[str, Any] = {"connections": connections}
    for endpoint in ("authorize", "healthz"):
        samples = runs[f"{endpoint}@{connections}"]
        figures[endpoint] = {
            "requests_per_s": _spread([run["rate"] for run in samples], 0),
            "p50_ms": _spread([run["p50_ms"] for run in samples]),
            "p99_ms": _spread([run["p99_ms"] for run in samples]),
            "server_cpu_ms_per_request": _spread([run["cpu_ms"] for run in samples], 3),
        }
    authorize, healthz = figures["authorize"], figures["healthz"]
    figures["ratio_to_healthz"] = round(authorize["requests_per_s"]["median"] / healthz["requests_per_s"]["median"], 2)
    return figures


def _keeping(measure: Callable[[], dict[str, float]], kept: list[dict[str, float]]) -> Callable[[], float]:
    """The rate of ``measure`` for interleave(), the whole run kept aside."""

    def rate() -> float:
        run = measure()
        kept.append(run)
        return run["rate"]

    return rate


def floors(decision: dict[str, Any], setups: list[dict[str, Any]], smoke: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def floor(name: str, figure: str, ok: bool) -> None:
        rows.append({"floor": name, "figure": figure, "pass": judged(ok, smoke)})

    p50, p99 = decision["p50_us"]["median"], decision["p99_us"]["median"]
    floor("call decision on a warm view: p50 <= 5 us", f"{p50} us", p50 <= 5)
    floor("call decision on a warm view: p99 <= 50 us", f"{p99} us", p99 <= 50)
    for run in setups:
        for at in run["at"]:
            where = f"{run['setup']}, {at['connections']} connections"
            ratio = at["ratio_to_healthz"]
            floor(f"{where}: authorize >= 0.5 of /healthz's rate", f"{ratio:.2f}", ratio >= 0.5)
            if at["connections"] == 8:
                tail = at["authorize"]["p99_ms"]["median"]
                floor(f"{where}: authorize p99 <= 5 ms", f"{tail} ms", tail <= 5)
    return rows


def table(result: dict[str, Any]) -> str:
    decision = result["decision"]
    lines = [
        f"{result['reproduce']}  ({result['machine']})",
        "",
        f"call decision in process: p50 {decision['p50_us']['median']} us, p99 {decision['p99_us']['median']} us",
        "",
        "medians over the rounds (min-max); cpu: the server's CPU per request, every thread",
        f"{'setup':<22}{'conns':>6} {'endpoint':<10}{'req/s':>18}{'p50 ms':>17}{'p99 ms':>20}{'cpu ms':>8}{'ratio':>7}",
    ]
    for run in result["setups"]:
        for at in run["at"]:
            for endpoint in ("authorize", "healthz"):
                figures = at[endpoint]
                ratio = f"{at['ratio_to_healthz']:>7.2f}" if endpoint == "authorize" else ""
                lines.append(
                    f"{run['setup']:<22}{at['connections']:>6} {endpoint:<10}"
                    f"{_shown(figures['requests_per_s'], 0):>18}{_shown(figures['p50_ms'], 1):>17}"
                    f" {_shown(figures['p99_ms'], 1):>19}{figures['server_cpu_ms_per_request']['median']:>8.2f}{ratio}"
                )
    lines += ["", "floors"] + [f"  [{verdict(f['pass'])}] {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def _shown(spread: dict[str, Any], digits: int) -> str:
    return f"{spread['median']:.{digits}f} ({spread['min']:.{digits}f}-{spread['max']:.{digits}f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=200_000, help="in-process decisions per round")
    parser.add_argument("--seconds", type=float, default=3, help="seconds of load per round, endpoint and connections")
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[8, 32], help="keep-alive connections (default 8 and 32)"
    )
    parser.add_argument(
        "--no-access-log", action="store_true", help="serve with --no-access-log (no log line per request)"
    )
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.decisions, args.seconds, args.connections = 2, 2000, 1, [4]
    measure = decision_latency(args.decisions)
    measure()  # warm: the gate's cache and the view
    samples = [measure() for _ in range(args.rounds)]
    decision = {
        "p50_us": _spread([p50 for p50, _ in samples]),
        "p99_us": _spread([p99 for _, p99 in samples]),
    }
    flags = ["--no-access-log"] if args.no_access_log else []
    logged = ", no access log" if args.no_access_log else ""
    with tempfile.TemporaryDirectory(prefix="routegate-bench-") as temp, ExitStack() as stack:
        args.folder = Path(temp)
        setups = [setup(f"sqlite{logged}", f"sqlite:///{args.folder / 'calls.db'}", args, flags)]
        if args.postgres:
            database = stack.enter_context(postgres_database(args.postgres))
            setups.append(setup(f"postgresql{logged}", database, args, flags))
    result = {
        "reproduce": reproduce(),
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.rounds} rounds of {args.seconds:g} s",
        "smoke": args.smoke,
        "decision": decision,
        "setups": setups,
        "floors": floors(decision, setups, args.smoke),
    }
    emit(result, table(result))
    return 0


def _spread(samples: list[float], digits: int = 2) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), digits),
        "min": round(min(samples), digits),
        "max": round(max(samples), digits),
        "rounds": len(samples),
    }


if __name__ == "__main__":
    sys.exit(main())
