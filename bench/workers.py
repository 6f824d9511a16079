"""Benchmark `serve --workers 2` against one worker: creates per second, interleaved rounds, medians.

Each round starts `routegate serve` (SQLite file, loopback) once per configuration and
drives it with bench/service.py's throughput phase (4 keep-alive connections). Before
the listener got TCP_NODELAY, every keep-alive response from a worker process waited for
a delayed ACK (~40 ms) and two workers served a fraction of one. ``--baseline-src DIR``
adds a third configuration: `--workers 2` with routegate imported from DIR (for example
an older checkout's ``src``), measured in the same rounds.

    python bench/workers.py [--rounds 3] [--requests 400] [--baseline-src DIR] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from service import throughput_round  # bench/service.py, beside this file

SOURCE = str(Path(__file__).resolve().parents[1] / "src")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_round(source: str, workers: int, requests: int, label: str) -> float:
    """Creates per second of a fresh `serve --workers N` (routegate imported from ``source``)."""
    folder = Path(tempfile.mkdtemp(prefix="routegate-workers-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    env["PYTHONPATH"] = source
    command = [sys.executable, "-m", "routegate.cli", "serve", "--port", str(port), "--workers", str(workers)]
    command += ["--database-url", f"sqlite:///{folder / 'bench.db'}"]
    server = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"routegate serve --workers {workers} did not start") from None
                time.sleep(0.2)
        time.sleep(2.0 if workers > 1 else 0.5)  # every worker up, not only the first
        throughput_round(port, f"{label}-warm", 100, 4)
        return throughput_round(port, label, requests, 4)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--baseline-src", help="also measure --workers 2 with routegate imported from this folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    configurations = {"workers 1": (SOURCE, 1), "workers 2": (SOURCE, 2)}
    if args.baseline_src:
        configurations["baseline workers 2"] = (args.baseline_src, 2)
    rates: dict[str, list[float]] = {name: [] for name in configurations}
    for round_ in range(args.rounds):
        for name, (source, workers) in configurations.items():
            rates[name].append(one_round(source, workers, args.requests, f"r{round_}-{workers}"))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    result = {
        "creates_per_s": {name: round(value) for name, value in medians.items()},
        "rounds": {name: [round(v) for v in values] for name, values in rates.items()},
        "ratio_workers_2_to_1": round(medians["workers 2"] / medians["workers 1"], 2),
        "command": " ".join(["python", "bench/workers.py", *sys.argv[1:]]),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name, value in result["creates_per_s"].items():
        print(f"{name:<20} {value:6d} creates/s (median of {args.rounds}; rounds {result['rounds'][name]})")
    print(f"workers 2 / workers 1: {result['ratio_workers_2_to_1']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
