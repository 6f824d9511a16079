"""Benchmark POST /workspaces: creates per second, p50/p99 latency, and the gate decision's share.

Starts `routegate serve` (one worker, SQLite file, bundled manifest) on a free
loopback port and drives it over keep-alive HTTP connections:

* latency: one connection, requests back to back, measured at the client;
* throughput: several connections at once, creates completed per second;
* one create in five uses a model id never seen before, so the gate's decision is
  computed afresh rather than served from the registry's bounded cache;
* gate share: the server reports, in its Server-Timing header, the time spent
  inside gate.admit_create ("gate") and in the whole app ("app") for each
  request; the share is sum(gate) / sum(app), and also sum(gate) / sum(client latency).

Each figure is the median over several rounds. Floors (issue 3): p50 < 10 ms,
>= 200 creates/s, gate < 2 % of request time.

With ``--prefill N`` the same figures are measured a second time on a database
that already holds N top-level workspaces (inserted straight into SQLite in one
transaction, timed and reported separately), so a create that reads the table
in proportion to its size shows. The temporary folder is removed at exit.

    python bench/service.py [--rounds 5] [--requests 400] [--connections 4] [--prefill 100000] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

MODELS = [  # admitted by different paths: menu (platform), prefix route (byok), menu (byok)
    ("hermes", "moonshot/kimi-k2.6"),
    ("hermes", "openrouter/anthropic/claude-3.5-sonnet"),
    ("claude-code", "claude-sonnet-4-6"),
    ("codex", "gpt-5.5"),
    ("hermes", None),  # a model id never seen before: the registry's decision cache cannot help
]
FLOORS = {"p50_ms": 10.0, "creates_per_s": 200.0, "gate_share": 0.02}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_timing(header: str) -> dict[str, float]:
    metrics = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";dur=")
        if rest:
            metrics[name] = float(rest)
    return metrics


class Connection:
    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def create(self, name: str, index: int) -> tuple[float, float, float]:
        """One create; (client ms, app ms, gate ms)."""
        runtime, model = MODELS[index % len(MODELS)]
        model = model or f"openrouter/bench/{name}"
        body = json.dumps({"name": name, "runtime": runtime, "model": model})
        started = time.perf_counter()
        self.http.request("POST", "/workspaces", body, {"Content-Type": "application/json"})
        response = self.http.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 201:
            raise SystemExit(f"create failed with {response.status}")
        timing = _server_timing(response.getheader("server-timing", ""))
        return elapsed, timing["app"], timing["gate"]

    def close(self) -> None:
        self.http.close()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency_round(port: int, label: str, count: int) -> dict[str, float]:
    connection = Connection(port)
    samples = [connection.create(f"{label}-{i}", i) for i in range(count)]
    connection.close()
    client = [s[0] for s in samples]
    app = sum(s[1] for s in samples)
    gate = sum(s[2] for s in samples)
    return {
        "p50_ms": statistics.median(client),
        "p99_ms": _percentile(client, 0.99),
        "gate_share": gate / app,
        "gate_share_of_client_time": gate / sum(client),
        "gate_ms_mean": gate / count,
    }


def throughput_round(port: int, label: str, count: int, connections: int) -> float:
    per = count // connections
    barrier = threading.Barrier(connections + 1)

    def drive(worker: int) -> None:
        connection = Connection(port)
        barrier.wait()
        for i in range(per):
            connection.create(f"{label}-{worker}-{i}", i)
        connection.close()

    threads = [threading.Thread(target=drive, args=(w,)) for w in range(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return per * connections / (time.perf_counter() - started)


def _migrate(database: Path, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "routegate.cli", "db", "upgrade", "--database-url", f"sqlite:///{database}"]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def prefill(database: Path, rows: int) -> float:
    """Insert ``rows`` top-level workspaces in one transaction; the seconds it took."""
    started = time.perf_counter()
    now = "2026-01-01 00:00:00.000000+00:00"
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO workspaces (id, name, runtime, model, external, provider, billing_mode, required_env,"
            " auth_env, manifest_fingerprint, created_at, updated_at)"
            " VALUES (?, ?, 'hermes', 'moonshot/kimi-k2.6', 0, 'platform', 'platform_managed', '[]', '[]',"
            " '0000000000000000', ?, ?)",
            ((str(uuid.uuid4()), f"prefilled workspace {i:07d}", now, now) for i in range(rows)),
        )
    return time.perf_counter() - started


def measure(folder: Path, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Serve the database in ``folder`` and measure it: the medians over ``args.rounds`` rounds."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "routegate.cli",
        "serve",
        "--port",
        str(port),
        "--database-url",
        f"sqlite:///{folder / 'bench.db'}",
    ]
    server = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("routegate serve did not start") from None
                time.sleep(0.1)
        latency_round(port, "warmup", 200)
        latencies = [latency_round(port, f"lat{r}", args.requests) for r in range(args.rounds)]
        rates = [throughput_round(port, f"tp{r}", args.requests, args.connections) for r in range(args.rounds)]
    finally:
        server.terminate()
        server.wait(15)
    figures = {
        "creates_per_s": statistics.median(rates),
        **{key: statistics.median(r[key] for r in latencies) for key in latencies[0]},
    }
    figures["floors_met"] = {
        "p50_ms": figures["p50_ms"] < FLOORS["p50_ms"],
        "creates_per_s": figures["creates_per_s"] >= FLOORS["creates_per_s"],
        "gate_share": figures["gate_share"] < FLOORS["gate_share"],
    }
    return figures


def report(title: str, figures: dict[str, Any], connections: int) -> None:
    passed = figures["floors_met"]
    print(title)
    print(
        f"  creates/s ({connections} connections)  {figures['creates_per_s']:8.0f}   floor >= 200  "
        f"{'ok' if passed['creates_per_s'] else 'MISSED'}"
    )
    print(
        f"  latency p50 (1 connection)     {figures['p50_ms']:8.2f} ms  floor < 10 ms  "
        f"{'ok' if passed['p50_ms'] else 'MISSED'}"
    )
    print(f"  latency p99 (1 connection)     {figures['p99_ms']:8.2f} ms")
    print(f"  gate decision, mean            {figures['gate_ms_mean'] * 1000:8.1f} us")
    print(
        f"  gate share of app time         {figures['gate_share'] * 100:8.2f} %   floor < 2 %  "
        f"{'ok' if passed['gate_share'] else 'MISSED'}"
    )
    print(f"  gate share of client latency   {figures['gate_share_of_client_time'] * 100:8.2f} %")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400, help="creates per round and phase")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections in the throughput phase")
    parser.add_argument(
        "--prefill", type=int, default=0, help="also measure with this many workspaces already in the table"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    runs: dict[str, dict[str, Any]] = {}
    folder = Path(tempfile.mkdtemp(prefix="routegate-bench-"))
    try:
        empty, filled = folder / "empty", folder / "prefilled"
        empty.mkdir()
        runs["empty"] = measure(empty, env, args)
        if args.prefill:
            filled.mkdir()
            _migrate(filled / "bench.db", env)
            prefill_seconds = prefill(filled / "bench.db", args.prefill)
            runs["prefilled"] = {**measure(filled, env, args), "rows": args.prefill, "prefill_s": prefill_seconds}
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    figures = {
        **runs,
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "connections": args.connections,
        "cpus": os.cpu_count(),
        "command": " ".join(["python bench/service.py", shlex.join(sys.argv[1:])]).strip(),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(
            "routegate service: POST /workspaces, loopback, SQLite (WAL), one worker, empty table",
            runs["empty"],
            args.connections,
        )
        if "prefilled" in runs:
            filled_run = runs["prefilled"]
            report(
                f"same, with {filled_run['rows']} top-level workspaces already in the table"
                f" (inserted in {filled_run['prefill_s']:.1f} s, not counted)",
                filled_run,
                args.connections,
            )
        print(f"  median of {args.rounds} rounds x {args.requests} creates; {os.cpu_count()} CPUs")
        print(f"  reproduce: {figures['command']}")
    return 0 if all(all(run["floors_met"].values()) for run in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
