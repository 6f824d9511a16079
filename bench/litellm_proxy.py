"""What routegate's gate costs inside the real LiteLLM proxy: the gated proxy beside the bare one, one run.

    .venv/bin/python bench/litellm_proxy.py [--rounds 5] [--requests 400] [--connections 4] [--smoke]

Starts a loopback vendor (tests/integrations/vendor.py), routegate (``routegate serve`` on
SQLite, one worker) and three LiteLLM proxies on the same model list: two on the config
``routegate gen --target litellm`` writes (routegate's custom_auth and hooks: every call
authorized, its receipt committed, then completed with usage) -- one asking the service over
HTTP, one deciding in its own process on the service's database -- and one with only its
master key and no hooks. Interleaved rounds of the same chat completion against each, over
``--connections`` keep-alive connections: per round the median and p99 latency and the
requests per second. The added latency is the gated median (or p99) minus the bare one.
Prints JSON, then a short table.
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
from _serving import free_port, keep_alive_load, wait_for_health

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its test vendor and proxy helpers

from routegate.gen.litellm import render
from routegate.manifest import load_manifest
from tests.integrations.proxy import MASTER_KEY, Proxy
from tests.integrations.vendor import Vendor

MODEL = "openai/gpt-5.4"
VENDORS = ("anthropic", "openai", "moonshot", "minimax")


@contextmanager
def routegate(folder: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    command = [sys.executable, "-m", "routegate.cli", "serve", "--database-url", f"sqlite:///{folder / 'rg.db'}"]
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_health(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


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
        with routegate(folder) as url:
            token = issue_token(url)
            gated_config, bare_config = configs(folder, vendor, url)
            database = f"sqlite:///{folder / 'rg.db'}"
            proxies = {
                "bare": Proxy(bare_config, folder / "bare.log"),
                "service": Proxy(gated_config, folder / "service.log", ROUTEGATE_URL=url),
                "in-process": Proxy(gated_config, folder / "in-process.log", ROUTEGATE_DATABASE_URL=database),
            }
            try:
                for proxy in proxies.values():
                    proxy.wait()
                return compare(proxies, {"bare": MASTER_KEY, "service": token, "in-process": token}, args)
            finally:
                for proxy in proxies.values():
                    proxy.stop()
    finally:
        vendor.stop()


def compare(proxies: dict[str, Proxy], keys: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Interleaved rounds on both proxies; per round each one's median, p99 and rate."""
    rounds: dict[str, dict[str, list[float]]] = {name: {"p50": [], "p99": [], "rate": []} for name in proxies}
    for name, proxy in proxies.items():
        measure(proxy.port, keys[name], args.connections * 4, args.connections)  # warm-up
    for _ in range(args.rounds):
        for name, proxy in proxies.items():
            latencies, rate = measure(proxy.port, keys[name], args.requests, args.connections)
            rounds[name]["p50"].append(statistics.median(latencies))
            rounds[name]["p99"].append(_percentile(latencies, 0.99))
            rounds[name]["rate"].append(rate)
    bare = rounds["bare"]
    gated = {name: r for name, r in rounds.items() if name != "bare"}
    return {
        "latency_ms": {name: {"p50": _spread(r["p50"]), "p99": _spread(r["p99"])} for name, r in rounds.items()},
        "requests_per_s": {name: _spread(r["rate"]) for name, r in rounds.items()},
        "added_ms": {
            name: {key: _spread([g - b for g, b in zip(r[key], bare[key], strict=True)]) for key in ("p50", "p99")}
            for name, r in gated.items()
        },
        "throughput_ratio": {
            name: _spread([g / b for g, b in zip(r["rate"], bare["rate"], strict=True)]) for name, r in gated.items()
        },
    }


def floors(figures: dict[str, Any], smoke: bool) -> list[dict[str, Any]]:
    rows = []
    for name, added in figures["added_ms"].items():
        p50, p99 = added["p50"]["median"], added["p99"]["median"]
        ratio = figures["throughput_ratio"][name]["median"]
        rows += [
            {"floor": f"{name}: median latency added <= 1 ms", "figure": f"{p50} ms", "pass": judged(p50 <= 1, smoke)},
            {"floor": f"{name}: p99 latency added <= 3 ms", "figure": f"{p99} ms", "pass": judged(p99 <= 3, smoke)},
            {"floor": f"{name}: throughput >= 0.9 of bare", "figure": f"{ratio}", "pass": judged(ratio >= 0.9, smoke)},
        ]
    return rows


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['reproduce']}  ({result['machine']})",
        "",
        f"{'proxy':<12}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}",
    ]
    for name, latency in result["latency_ms"].items():
        rate = result["requests_per_s"][name]["median"]
        lines.append(f"{name:<12}{latency['p50']['median']:>9.2f}{latency['p99']['median']:>9.2f}{rate:>9.0f}")
    for name, added in result["added_ms"].items():
        lines.append(f"added by routegate ({name}): p50 {added['p50']['median']} ms, p99 {added['p99']['median']} ms")
    lines += ["", "floors"] + [f"  [{verdict(f['pass'])}] {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400, help="calls per round and proxy")
    parser.add_argument("--connections", type=int, default=4)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.requests, args.connections = 2, 8, 2
    with tempfile.TemporaryDirectory(prefix="routegate-bench-litellm-") as temp:
        figures = run(args, Path(temp))
    result = {
        "reproduce": reproduce(),
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.rounds} rounds",
        "smoke": args.smoke,
        **figures,
        "floors": floors(figures, args.smoke),
    }
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
