"""What routegate's gate costs inside the real LiteLLM proxy: the gated proxy beside the bare one, one run.

    .venv/bin/python bench/litellm_proxy.py [--rounds 5] [--requests 400] [--connections 4] [--postgres URL] [--smoke]

Starts a loopback vendor (tests/integrations/vendor.py), routegate (``routegate serve``, one
worker, on SQLite or, with ``--postgres``, on a database made for the run) and three LiteLLM
proxies on the same model list: two on the config
``routegate gen --target litellm`` writes (routegate's custom_auth and hooks: every call
authorized, its receipt committed, then completed with usage) -- one asking the service over
HTTP, one deciding in its own process on the service's database -- and one with only its
master key and no hooks. Interleaved rounds of the same chat completion against each, over
``--connections`` keep-alive connections: per round the median and p99 latency and the
requests per second, and the CPU time each call cost the proxy's process and routegate's service
(read from /proc: the one figure a machine shared with other work does not inflate). The added
latency is the gated median (or p99) minus the bare one in the same round. Prints JSON, then a
table of medians with their min-max over the rounds.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _serving import add_postgres_flag, free_port, keep_alive_load, postgres_database, wait_for_health

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its test vendor and proxy helpers

from routegate.gen.litellm import render
from routegate.manifest import load_manifest
from tests.integrations.proxy import MASTER_KEY, Proxy
from tests.integrations.vendor import Vendor

MODEL = "openai/gpt-5.4"
VENDORS = ("anthropic", "openai", "moonshot", "minimax")


@contextmanager
def database(folder: Path, postgres: str) -> Iterator[str]:
    if postgres:
        with postgres_database(postgres) as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'rg.db'}"


@contextmanager
def routegate(folder: Path, database_url: str) -> Iterator[tuple[str, int]]:
    """``routegate serve`` on ``database_url``: its URL and process id."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    command = [sys.executable, "-m", "routegate.cli", "serve", "--database-url", database_url]
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_health(port, process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(30)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used, all its threads (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def issue_token(url: str) -> str:
    """A codex workspace whose model is platform-paid, and a call token for it."""
    port = int(url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        answer: dict[str, Any] = json.loads(connection.getresponse().read())
        return answer

    created = post("/workspaces", {"name": "bench", "runtime": "codex", "model": MODEL})
    return str(post(f"/workspaces/{created['id']}/call-tokens", {"note": "bench"})["token"])


def configs(folder: Path, vendor: Vendor, routegate_url: str) -> tuple[Path, Path]:
    """The generated config, and the same model list with no auth and no hooks."""
    generated = render(load_manifest(), routegate_url=routegate_url, api_bases={v: f"{vendor.url}/v1" for v in VENDORS})
    gated, bare = folder / "gated.yaml", folder / "bare.yaml"
    gated.write_text(generated, encoding="utf-8")
    bare.write_text(yaml.safe_dump({"model_list": yaml.safe_load(generated)["model_list"]}), encoding="utf-8")
    return gated, bare


def measure(port: int, key: str, requests: int, connections: int) -> tuple[list[float], float]:
    """(every latency in ms, requests per second) of chat completions over keep-alive connections."""
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    failures: list[str] = []

    def complete(connection: http.client.HTTPConnection, _: int) -> None:
        connection.request("POST", "/v1/chat/completions", body, headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            failures.append(f"{response.status}: {answer[:300]!r}")

    latencies, rate = keep_alive_load(port, requests, connections, complete)
    if failures:
        raise SystemExit(f"{len(failures)} calls failed, the first: {failures[0]}")
    return latencies, rate


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _spread(samples: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
        "rounds": len(samples),
    }


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    vendor = Vendor(record=False).start()
    try:
        with database(folder, args.postgres) as database_url, routegate(folder, database_url) as (url, service_pid):
            token = issue_token(url)
            gated_config, bare_config = configs(folder, vendor, url)
            proxies = {
                "bare": Proxy(bare_config, folder / "bare.log"),
                "service": Proxy(gated_config, folder / "service.log", ROUTEGATE_URL=url),
                "in-process": Proxy(gated_config, folder / "in-process.log", ROUTEGATE_DATABASE_URL=database_url),
            }
            try:
                for proxy in proxies.values():
                    proxy.wait()
                keys = {"bare": MASTER_KEY, "service": token, "in-process": token}
                return compare(proxies, keys, service_pid, args)
            finally:
                for proxy in proxies.values():
                    proxy.stop()
    finally:
        vendor.stop()


def compare(
    proxies: dict[str, Proxy], keys: dict[str, str], service_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Interleaved rounds on every proxy; per round each one's median, p99, rate and CPU per call."""
    kinds = ("p50", "p99", "rate", "proxy_cpu_ms", "service_cpu_ms")
    rounds: dict[str, dict[str, list[float]]] = {name: {kind: [] for kind in kinds} for name in proxies}
    for name, proxy in proxies.items():
        measure(proxy.port, keys[name], args.connections * 4, args.connections)  # warm-up
    for _ in range(args.rounds):
        for name, proxy in proxies.items():
            before = cpu_seconds(proxy.process.pid), cpu_seconds(service_pid)
            latencies, rate = measure(proxy.port, keys[name], args.requests, args.connections)
            after = cpu_seconds(proxy.process.pid), cpu_seconds(service_pid)  # the post-call hooks are done
            figures = rounds[name]
            figures["p50"].append(statistics.median(latencies))
            figures["p99"].append(_percentile(latencies, 0.99))
            figures["rate"].append(rate)
            figures["proxy_cpu_ms"].append((after[0] - before[0]) * 1000 / len(latencies))
            figures["service_cpu_ms"].append((after[1] - before[1]) * 1000 / len(latencies))
    bare = rounds["bare"]
    gated = {name: r for name, r in rounds.items() if name != "bare"}
    return {
        "latency_ms": {name: {"p50": _spread(r["p50"]), "p99": _spread(r["p99"])} for name, r in rounds.items()},
        "requests_per_s": {name: _spread(r["rate"]) for name, r in rounds.items()},
        "cpu_ms_per_call": {
            name: {"proxy": _spread(r["proxy_cpu_ms"]), "service": _spread(r["service_cpu_ms"])}
            for name, r in rounds.items()
        },
        "added_ms": {
            name: {key: _spread([g - b for g, b in zip(r[key], bare[key], strict=True)]) for key in ("p50", "p99")}
            for name, r in gated.items()
        },
        "added_cpu_ms_per_call": {
            name: _spread(
                [
                    gp + gs - bp - bs
                    for gp, gs, bp, bs in zip(
                        r["proxy_cpu_ms"],
                        r["service_cpu_ms"],
                        bare["proxy_cpu_ms"],
                        bare["service_cpu_ms"],
                        strict=True,
                    )
                ]
            )
            for name, r in gated.items()
        },
        "throughput_ratio": {
            name: _spread([g / b for g, b in zip(r["rate"], bare["rate"], strict=True)]) for name, r in gated.items()
        },
    }


def floors(figures: dict[str, Any], smoke: bool) -> list[dict[str, Any]]:
    rows = []
    for name, added in figures["added_ms"].items():
        p50, p99, ratio = added["p50"], added["p99"], figures["throughput_ratio"][name]
        rows += [
            {
                "floor": f"{name}: median latency added <= 1 ms",
                "figure": f"{_shown(p50)} ms",
                "pass": judged(p50["median"] <= 1, smoke),
            },
            {
                "floor": f"{name}: p99 latency added <= 3 ms",
                "figure": f"{_shown(p99)} ms",
                "pass": judged(p99["median"] <= 3, smoke),
            },
            {
                "floor": f"{name}: throughput >= 0.9 of bare",
                "figure": _shown(ratio),
                "pass": judged(ratio["median"] >= 0.9, smoke),
            },
        ]
    return rows


def _shown(spread: dict[str, Any]) -> str:
    return f"{spread['median']} [{spread['min']}, {spread['max']}]"


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['reproduce']}  ({result['machine']})",
        "medians over the rounds [min, max]",
        "",
        f"{'proxy':<12}{'p50 ms':>26}{'p99 ms':>26}{'req/s':>22}{'CPU ms/call proxy+service':>30}",
    ]
    for name, latency in result["latency_ms"].items():
        cpu = result["cpu_ms_per_call"][name]
        lines.append(
            f"{name:<12}{_shown(latency['p50']):>26}{_shown(latency['p99']):>26}"
            f"{_shown(result['requests_per_s'][name]):>22}"
            f"{cpu['proxy']['median']:>20} + {cpu['service']['median']}"
        )
    lines.append("")
    for name, added in result["added_ms"].items():
        lines.append(
            f"added by routegate ({name}): p50 {_shown(added['p50'])} ms, p99 {_shown(added['p99'])} ms, "
            f"CPU {_shown(result['added_cpu_ms_per_call'][name])} ms per call"
        )
    lines += ["", "floors"] + [f"  [{verdict(f['pass'])}] {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400, help="calls per round and proxy")
    parser.add_argument("--connections", type=int, default=4)
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.requests, args.connections = 2, 8, 2
    with tempfile.TemporaryDirectory(prefix="routegate-bench-litellm-") as temp:
        figures = run(args, Path(temp))
    result = {
        "reproduce": reproduce(),
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.rounds} rounds; "
        f"routegate's database: {'postgresql' if args.postgres else 'sqlite'}",
        "smoke": args.smoke,
        **figures,
        "floors": floors(figures, args.smoke),
    }
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
