"""Benchmark propagation: from a manifest version's activation to the last of 3 instances serving it.

Starts three `routegate serve` processes (one worker each, loopback) on one database,
then publishes ``--rounds`` new manifest versions, one at a time. Each publish commits
through the same VersionStore the API and CLI use (its activation); the clock starts
when that commit returns and stops when the last instance's /healthz (polled every
2 ms on a keep-alive connection per instance) names the new fingerprint.

On PostgreSQL the push is LISTEN/NOTIFY with the 0.5 s poll as a safety net; on SQLite
the poll is the only mechanism, so its latency is bounded by the poll interval. Floors
(issue 9): p99 under 1 s on PostgreSQL; aim under 100 ms with NOTIFY.

PostgreSQL comes from ``--postgres-url`` or ROUTEGATE_TEST_POSTGRES_URL (a server the
bench may create and drop a database on); without either only SQLite runs.

    python bench/propagation.py [--rounds 30] [--poll 0.5] [--postgres-url URL] [--json-only] [--smoke]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _report import add_smoke_flag, reproduce
from _serving import free_port, postgres_database, wait_for_health

INSTANCES = 3


def _fingerprint(connection: http.client.HTTPConnection) -> str:
    connection.request("GET", "/registry")  # the served manifest, without a database round trip
    return str(json.loads(connection.getresponse().read())["fingerprint"])


@contextmanager
def _instances(url: str, folder: Path, poll: float) -> Iterator[list[int]]:
    """Three `routegate serve` processes on ``url``; their ports once each answers /healthz."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    env["ROUTEGATE_MANIFEST_POLL_SECONDS"] = str(poll)
    ports = [free_port() for _ in range(INSTANCES)]
    processes = []
    for index, port in enumerate(ports):
        log = (folder / f"serve-{index}.log").open("w")
        command = [sys.executable, "-m", "routegate.cli", "serve", "--port", str(port), "--database-url", url]
        processes.append(subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_for_health(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(15)


def _wait_all(ports: list[int], fingerprint: str, timeout: float = 10.0) -> None:
    """Return once every instance serves ``fingerprint`` (each polled by its own thread)."""
    errors: list[str] = []

    def watch(port: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        deadline = time.monotonic() + timeout
        while _fingerprint(connection) != fingerprint:
            if time.monotonic() > deadline:
                errors.append(f"instance on {port} never served {fingerprint}")
                return
            time.sleep(0.002)

    threads = [threading.Thread(target=watch, args=(port,)) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError("; ".join(errors))


def _with_extra_hermes_model(manifest: bytes, model: str) -> bytes:
    """The bundled manifest with one more id on hermes's platform arm: another fingerprint."""
    anchor = b"      - name: platform\n        models:\n          - moonshot/kimi-k2.6\n"
    at = manifest.index(anchor, manifest.index(b"  hermes:\n")) + len(anchor)
    return manifest[:at] + f"          - {model}\n".encode() + manifest[at:]


def measure(url: str, rounds: int, poll: float) -> list[float]:
    """Seconds from each activation's commit to the last of the instances serving it."""
    from routegate.manifest import bundled_manifest_path
    from routegate.service.db import Database
    from routegate.service.publication import VersionStore, candidate

    folder = Path(tempfile.mkdtemp(prefix="routegate-propagation-"))
    database = Database(url)
    try:
        database.upgrade()
        versions = VersionStore(database, foreign_runtimes=("external", "langgraph"))
        bundled = bundled_manifest_path().read_bytes()
        first = versions.bootstrap(candidate(bundled, "bundled"), "bench: the bundled manifest")
        latencies = []
        with _instances(url, folder, poll) as ports:
            _wait_all(ports, first.fingerprint)
            for round_ in range(rounds):
                # A new version each round: every instance loads and compiles it, as on a real publish.
                fresh = candidate(_with_extra_hermes_model(bundled, f"moonshot/bench-{round_}"), "bench")
                versions.publish(fresh, note=f"bench round {round_}", dry_run=False, force=True)
                started = time.perf_counter()
                _wait_all(ports, fresh.registry.fingerprint)
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)
        return latencies
    finally:
        database.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "min_ms": round(ordered[0] * 1000, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "rounds": len(ordered),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--poll", type=float, default=0.5, help="ROUTEGATE_MANIFEST_POLL_SECONDS for the instances")
    parser.add_argument("--postgres-url", default=os.environ.get("ROUTEGATE_TEST_POSTGRES_URL"))
    parser.add_argument("--json-only", action="store_true")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 2

    results: dict[str, Any] = {"instances": INSTANCES, "poll_seconds": args.poll, "smoke": args.smoke, "backends": {}}
    if args.postgres_url:
        with postgres_database(args.postgres_url) as url:
            results["backends"]["postgresql"] = _summary(measure(url, args.rounds, args.poll))
    with tempfile.TemporaryDirectory(prefix="routegate-propagation-db-") as folder:
        sqlite_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        results["backends"]["sqlite"] = _summary(measure(sqlite_url, args.rounds, args.poll))
    results["reproduce"] = reproduce()
    print(json.dumps(results, indent=2))
    if not args.json_only:
        print(f"\npropagation, activation -> last of {INSTANCES} instances serving it (poll {args.poll} s)")
        print(f"{'backend':<12}{'min ms':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'rounds':>8}")
        for backend, figures in results["backends"].items():
            row = "".join(f"{figures[key]:>10}" for key in ("min_ms", "p50_ms", "p99_ms", "max_ms"))
            print(f"{backend:<12}{row}{figures['rounds']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
