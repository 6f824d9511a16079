"""What routegate's gate costs inside the real LiteLLM proxy: the gated proxy beside the bare one, one run.

    .venv/bin/python bench/litellm_proxy.py [--rounds 5] [--requests 400] [--slice 25] [--replicas 2]
        [--connections 1 8] [--paced SHARE] [--postgres URL] [--smoke]

Starts a loopback vendor (tests/integrations/vendor.py), routegate (``routegate serve``, one
worker, on SQLite or, with ``--postgres``, on a database made for the run) and four kinds of
LiteLLM proxy on the same model list, ``--replicas`` processes of each: two on the config
``routegate gen --target litellm`` writes (routegate's custom_auth and hooks: every call
authorized, its receipt committed, then completed with usage) -- one asking the service over
HTTP, one deciding in its own process on the service's database --, one with only its
master key and no hooks, and one whose custom_auth and hooks do nothing (bench/_hooks_only.py):
what LiteLLM itself spends on a proxy with a custom auth and callbacks. Rounds of the same chat
completion against each, over each number of ``--connections`` keep-alive connections, each proxy
keeping its own. In a round each proxy serves ``--requests`` calls, in slices of ``--slice`` calls per
connection taken in turn, in an order that turns every slice, the proxy's processes taking whole
cycles of the order in turn: the shared machine's load changes from one second to the next, and
slices of a fraction of a second meet every proxy with the same load; two processes of one program
differ by a fraction of a millisecond per call for as long as they run, and replicas average that out.
The median and p99 latency are over all of a proxy's calls; the latency routegate adds is the
gated proxy's minus the bare one's, its spread that of the same difference round by round, and its
95% interval that of the same difference over the turns drawn again with replacement, each turn's
slices kept together (a bootstrap: a floor inside the interval is within the run's own noise); the
part beyond LiteLLM's own cost of the hooks is the gated proxy's minus the hooks-only one's. Also:
the requests per second, the CPU time each call cost the proxy's process and routegate's service
(read from /proc), routegate's own time on each call's path, which the gated proxy's answer
names in its Server-Timing header (the decisions and receipts before the call left), and each
proxy's full collector passes during its rounds (bench/_collector), which hold its event loop.

Each connection sends its next call as soon as the last is answered, which keeps the proxy's one
event loop saturated over several connections: there a call waits for the ones queued before it,
so what routegate adds to each is multiplied by the queue. So over several connections the same
rounds run again with every proxy at one fixed rate (``--paced``, a share of the bare proxy's rate
just measured), as a proxy with room to spare is run; each call's latency counts from its turn in
the schedule. The issue's latency floors are judged there and at one connection; a saturated block,
whose latency is its queue, by its throughput. Prints JSON, then a table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _serving import (
    add_postgres_flag,
    call_token,
    cpu_seconds,
    free_port,
    keep_alive_load,
    postgres_database,
    wait_for_health,
)
from _timing import paired_interval, percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its test vendor and proxy helpers

from routegate.gen.litellm import render
from routegate.manifest import load_manifest
from tests.integrations.proxy import MASTER_KEY, Proxy
from tests.integrations.vendor import Vendor

HERE = Path(__file__).parent
MODEL = "openai/gpt-5.4"
HOOKS_ONLY = "hooks-only"  # the proxy on bench/_hooks_only.py: LiteLLM's extension points, nothing behind them
VENDORS = ("anthropic", "openai", "moonshot", "minimax")
# Each proxy keeps the bench's connections while the other proxies take their turns (uvicorn's default is 5 s).
KEEP_ALIVE_SECONDS = 3600


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


def issue_token(url: str) -> str:
    """A codex workspace whose model is platform-paid, and a call token for it."""
    return call_token(int(url.rsplit(":", 1)[1]), "codex", MODEL)


def configs(folder: Path, vendor: Vendor, routegate_url: str) -> tuple[Path, Path, Path]:
    """The generated config; the same model list with no auth and no hooks; and the generated config
    with bench/_hooks_only.py's custom_auth and hooks in place of routegate's."""
    generated = render(load_manifest(), routegate_url=routegate_url, api_bases={v: f"{vendor.url}/v1" for v in VENDORS})
    config = yaml.safe_load(generated)
    gated, bare, hooks_only = folder / "gated.yaml", folder / "bare.yaml", folder / f"{HOOKS_ONLY}.yaml"
    gated.write_text(generated, encoding="utf-8")
    bare.write_text(yaml.safe_dump({"model_list": config["model_list"]}), encoding="utf-8")
    config["general_settings"]["custom_auth"] = "_hooks_only.custom_auth"
    config["litellm_settings"]["callbacks"] = ["_hooks_only.hooks"]
    hooks_only.write_text(yaml.safe_dump(config), encoding="utf-8")
    return gated, bare, hooks_only


def started(folder: Path, name: str, config: Path, *on_path: Path, **env: str) -> Proxy:
    """A proxy on ``config`` with ``on_path`` importable, whose collector's full passes are recorded
    (bench/_collector)."""
    log = folder / f"{name}.log"
    path = os.pathsep.join(filter(None, (*map(str, on_path), str(HERE / "_collector"), os.environ.get("PYTHONPATH"))))
    return Proxy(
        config,
        log,
        *("--keepalive_timeout", str(KEEP_ALIVE_SECONDS)),
        PYTHONPATH=path,
        ROUTEGATE_BENCH_COLLECTOR_LOG=str(_passes_file(log)),
        **env,
    )


def _passes_file(log: Path) -> Path:
    """Where a proxy logging to ``log`` records its collector's full passes."""
    return log.with_suffix(".passes")


def full_passes(proxy: Proxy) -> list[float]:
    """Every full pass of ``proxy``'s collector so far, in milliseconds."""
    path = _passes_file(proxy.log)
    return [float(line) for line in path.read_text(encoding="utf-8").split()] if path.exists() else []


@dataclass
class Block:
    """One proxy's share of a round, summed over its slices: each slice's calls' latencies (ms), in
    the round's turns, routegate's time on each call's path as its Server-Timing names it (ms; none
    from the bare proxy), the seconds the slices took, the CPU seconds of the proxy's process and of
    routegate's service meanwhile, and the proxy's full collector passes (ms)."""

    slices: list[list[float]] = field(default_factory=list)
    on_path: list[float] = field(default_factory=list)
    seconds: float = 0.0
    proxy_cpu_s: float = 0.0
    service_cpu_s: float = 0.0
    full_passes: list[float] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [ms for taken in self.slices for ms in taken]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def proxy_cpu_ms(self) -> float:
        return self.proxy_cpu_s * 1000 / len(self.latencies)

    @property
    def service_cpu_ms(self) -> float:
        return self.service_cpu_s * 1000 / len(self.latencies)


_ON_PATH = re.compile(r"routegate;dur=([0-9.]+)")


def measure(
    block: Block, port: int, key: str, pool: list[http.client.HTTPConnection], calls: int, rate: float | None
) -> None:
    """Chat completions over the kept connections of ``pool``, added to ``block``: what a client of the
    proxy sees. Each connection sends its next call as soon as the last is answered, or with ``rate``
    at its turn in a schedule of that many calls per second."""
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    failures: list[str] = []

    def complete(connection: http.client.HTTPConnection, _: int) -> None:
        connection.request("POST", "/v1/chat/completions", body, headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            failures.append(f"{response.status}: {answer[:300]!r}")
        timing = _ON_PATH.search(response.getheader("server-timing") or "")
        if timing is not None:
            block.on_path.append(float(timing[1]))

    latencies, achieved = keep_alive_load(port, calls, len(pool), complete, pool, rate=rate)
    if failures:
        raise SystemExit(f"{len(failures)} calls failed, the first: {failures[0]}")
    block.slices.append(latencies)
    block.seconds += len(latencies) / achieved


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
            gated_config, bare_config, hooks_config = configs(folder, vendor, url)
            kinds: dict[str, tuple[Path, tuple[Path, ...], dict[str, str]]] = {
                "bare": (bare_config, (), {}),
                HOOKS_ONLY: (hooks_config, (HERE,), {}),
                "service": (gated_config, (), {"ROUTEGATE_URL": url}),
                "in-process": (gated_config, (), {"ROUTEGATE_DATABASE_URL": database_url}),
            }
            proxies = {
                name: [started(folder, f"{name}-{n}", config, *on_path, **env) for n in range(args.replicas)]
                for name, (config, on_path, env) in kinds.items()
            }
            try:
                for replicas in proxies.values():
                    for proxy in replicas:
                        proxy.wait()
                keys = {"bare": MASTER_KEY, HOOKS_ONLY: token, "service": token, "in-process": token}
                return {
                    str(connections): compare(proxies, keys, service_pid, args, connections)
                    for connections in args.connections
                }
            finally:
                for replicas in proxies.values():
                    for proxy in replicas:
                        proxy.stop()
    finally:
        vendor.stop()


@dataclass
class Lane:
    """One proxy process and the bench's kept connections to it."""

    proxy: Proxy
    pool: list[http.client.HTTPConnection]


def compare(
    proxies: dict[str, list[Proxy]], keys: dict[str, str], service_pid: int, args: argparse.Namespace, connections: int
) -> dict[str, Any]:
    """Each proxy as fast as the connections go; then, over several connections and with ``--paced``,
    every proxy at the same fixed rate below the bare proxy's: what a proxy run with room to spare
    adds, where the first measure, at saturation, multiplies each call's added work by the calls
    queued behind it. Each process keeps its connections for the whole comparison."""
    lanes = {
        name: [
            Lane(proxy, [http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=120) for _ in range(connections)])
            for proxy in replicas
        ]
        for name, replicas in proxies.items()
    }
    try:
        for name, replicas in lanes.items():
            for lane in replicas:
                measure(Block(), lane.proxy.port, keys[name], lane.pool, connections * 4, None)  # warm-up
        figures = compared(rounds(lanes, keys, service_pid, args))
        if connections > 1 and args.paced:
            rate = args.paced * figures["requests_per_s"]["bare"]["median"]
            figures["paced"] = compared(rounds(lanes, keys, service_pid, args, rate)) | {
                "rate": round(rate, 2),
                "share_of_bare": args.paced,
            }
        return figures
    finally:
        for replicas in lanes.values():
            for lane in replicas:
                for connection in lane.pool:
                    connection.close()


def slices(requests: int, connections: int, calls_each: int) -> list[int]:
    """``requests`` calls cut into slices of ``calls_each`` calls per connection (the last slice what
    is left), each a whole number of calls per connection."""
    size = connections * calls_each
    left = requests % size // connections * connections
    return [size] * (requests // size) + ([left] if left else [])


def rounds(
    lanes: dict[str, list[Lane]],
    keys: dict[str, str],
    service_pid: int,
    args: argparse.Namespace,
    rate: float | None = None,
) -> dict[str, list[Block]]:
    """Rounds in which every proxy serves ``--requests`` calls, in slices of ``--slice`` calls per
    connection taken in turn, in an order that turns every slice (so no proxy always follows the same
    one), each process of a proxy taking a full cycle of the order before the next does (so the
    process a slice runs on does not follow its place in the order)."""
    names = list(lanes)
    blocks: dict[str, list[Block]] = {name: [] for name in names}
    turn = 0
    for _ in range(args.rounds):
        round_blocks = {name: Block() for name in names}
        for calls in slices(args.requests, len(lanes[names[0]][0].pool), args.slice):
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                lane, block = lanes[name][turn // len(names) % args.replicas], round_blocks[name]
                before = cpu_seconds(lane.proxy.process.pid), cpu_seconds(service_pid)
                passes = len(full_passes(lane.proxy))
                measure(block, lane.proxy.port, keys[name], lane.pool, calls, rate)
                after = cpu_seconds(lane.proxy.process.pid), cpu_seconds(service_pid)  # the post-call hooks are done
                block.full_passes += full_passes(lane.proxy)[passes:]
                block.proxy_cpu_s += after[0] - before[0]
                block.service_cpu_s += after[1] - before[1]
            turn += 1
        for name in names:
            blocks[name].append(round_blocks[name])
    return blocks


def compared(blocks: dict[str, list[Block]]) -> dict[str, Any]:
    """Latency percentiles over all of a proxy's calls; the added figures are each proxy's minus the
    bare one's, with a 95% interval from the turns' slices drawn again, and their spread over the
    rounds; a gated proxy's part beyond the hooks alone is its figure minus the hooks-only proxy's."""
    names = list(blocks)

    def pooled(name: str, share: float) -> float:
        return percentile([ms for block in blocks[name] for ms in block.latencies], share)

    def turns(name: str) -> list[list[float]]:
        return [taken for block in blocks[name] for taken in block.slices]

    def added_interval(name: str, share: float) -> list[float]:
        return [round(end, 3) for end in paired_interval(turns(name), turns("bare"), share)]

    def per_round(name: str, figure: Callable[[Block], float]) -> list[float]:
        return [figure(block) for block in blocks[name]]

    bare = blocks["bare"]
    others = [name for name in names if name != "bare"]
    gated = [name for name in others if name != HOOKS_ONLY]
    return {
        "latency_ms": {
            name: {"p50": round(pooled(name, 0.5), 3), "p99": round(pooled(name, 0.99), 3)} for name in names
        },
        "requests_per_s": {name: _spread(per_round(name, lambda block: block.rate)) for name in names},
        "full_passes_ms": {name: _passes([ms for block in blocks[name] for ms in block.full_passes]) for name in names},
        "cpu_ms_per_call": {
            name: {
                "proxy": _spread(per_round(name, lambda block: block.proxy_cpu_ms)),
                "service": _spread(per_round(name, lambda block: block.service_cpu_ms)),
            }
            for name in names
        },
        "added_ms": {
            name: {
                key: {
                    "pooled": round(pooled(name, share) - pooled("bare", share), 3),
                    "interval_95": added_interval(name, share),
                    "rounds": _spread(
                        [
                            percentile(mine.latencies, share) - percentile(theirs.latencies, share)
                            for mine, theirs in zip(blocks[name], bare, strict=True)
                        ]
                    ),
                }
                for key, share in (("p50", 0.5), ("p99", 0.99))
            }
            for name in others
        },
        "beyond_hooks_ms": {
            name: {
                key: round(pooled(name, share) - pooled(HOOKS_ONLY, share), 3)
                for key, share in (("p50", 0.5), ("p99", 0.99))
            }
            | {
                "throughput_ratio": _spread(
                    [mine.rate / theirs.rate for mine, theirs in zip(blocks[name], blocks[HOOKS_ONLY], strict=True)]
                )
            }
            for name in gated
        },
        "on_path_ms": {
            name: {
                "p50": round(percentile([ms for block in blocks[name] for ms in block.on_path], 0.5), 3),
                "p99": round(percentile([ms for block in blocks[name] for ms in block.on_path], 0.99), 3),
            }
            for name in gated
        },
        "added_cpu_ms_per_call": {
            name: _spread(
                [
                    mine.proxy_cpu_ms + mine.service_cpu_ms - theirs.proxy_cpu_ms - theirs.service_cpu_ms
                    for mine, theirs in zip(blocks[name], bare, strict=True)
                ]
            )
            for name in others
        },
        "throughput_ratio": {
            name: _spread([mine.rate / theirs.rate for mine, theirs in zip(blocks[name], bare, strict=True)])
            for name in others
        },
    }


def _passes(passes: list[float]) -> dict[str, Any]:
    """How many full collector passes, and their median and longest, in milliseconds."""
    if not passes:
        return {"count": 0}
    return {"count": len(passes), "median": round(statistics.median(passes), 1), "max": round(max(passes), 1)}


def floors(figures: dict[str, Any], smoke: bool) -> list[dict[str, Any]]:
    """The issue's floors: latency added where a call is not queued behind others (one connection, and
    several at a paced rate), throughput wherever the proxy is saturated.

    Saturated over several connections, a call's latency is the connections over the rate (Little's
    law), so there the latency floors would ask for ~0.99 of the bare rate where the throughput floor
    asks for 0.9: those rows are printed, and judged as the throughput they are.
    """
    rows = []
    for connections, at in figures.items():
        for name in at["on_path_ms"]:  # the gated proxies: the hooks-only one is a measure, not a gate
            where = f"{name}, {connections} connection{'s' if connections != '1' else ''}"
            if connections == "1":
                rows += _latency_floors(where, at["added_ms"][name], smoke)
            ratio = at["throughput_ratio"][name]
            rows.append(
                {
                    "floor": f"{where}: throughput >= 0.9 of bare",
                    "figure": _shown(ratio),
                    "pass": judged(ratio["median"] >= 0.9, smoke),
                }
            )
        paced = at.get("paced")
        for name in (paced or {}).get("on_path_ms", {}):
            added = paced["added_ms"][name]
            where = f"{name}, {connections} connections at {paced['share_of_bare']:g} of bare's rate"
            rows += _latency_floors(where, added, smoke)
    return rows


def _latency_floors(where: str, added: dict[str, Any], smoke: bool) -> list[dict[str, Any]]:
    p50, p99 = added["p50"], added["p99"]
    return [
        {
            "floor": f"{where}: median latency added <= 1 ms",
            "figure": _added(p50),
            "pass": judged(p50["pooled"] <= 1, smoke),
        },
        {
            "floor": f"{where}: p99 latency added <= 3 ms",
            "figure": _added(p99),
            "pass": judged(p99["pooled"] <= 3, smoke),
        },
    ]


def _added(figure: dict[str, Any]) -> str:
    low, high = figure["interval_95"]
    return f"{figure['pooled']} ms (95% interval [{low}, {high}]; rounds {_shown(figure['rounds'])})"


def _shown(spread: dict[str, Any]) -> str:
    return f"{spread['median']} [{spread['min']}, {spread['max']}]"


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['reproduce']}  ({result['machine']})",
        "latency percentiles over all of a proxy's calls; other figures: medians over the rounds [min, max]",
    ]
    for connections, closed in result["by_connections"].items():
        lines += ["", f"{connections} keep-alive connection(s), each call sent as the last is answered", *_rows(closed)]
        if int(connections) > 1:
            lines.append(_queue(int(connections), closed["requests_per_s"]["bare"]["median"]))
        paced = closed.get("paced")
        if paced is not None:
            lines += ["", f"{connections} keep-alive connections, {paced['rate']} calls/s paced for every proxy"]
            lines += _rows(paced)
    lines += ["", "floors"] + [f"  [{verdict(f['pass'])}] {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def _queue(connections: int, bare_rate: float) -> str:
    """What a latency floor would ask of a saturated proxy: with ``connections`` calls always in flight a
    call's mean latency is ``connections`` over the rate (Little's law), so 1 ms more is a rate."""
    waited_ms = connections * 1000 / bare_rate
    return (
        f"saturated, a call's mean latency is {connections} over the rate (Little's law): {waited_ms:.1f} ms for "
        f"the bare proxy, so 1 ms added at most would mean at least {waited_ms / (waited_ms + 1):.3f} of its rate: "
        "this block is judged by its throughput, and latency where the calls are paced (--paced)"
    )


def _rows(at: dict[str, Any]) -> list[str]:
    lines = [f"{'proxy':<12}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>26}{'CPU ms/call proxy+service':>30}"]
    for name, latency in at["latency_ms"].items():
        cpu = at["cpu_ms_per_call"][name]
        lines.append(
            f"{name:<12}{latency['p50']:>10}{latency['p99']:>10}{_shown(at['requests_per_s'][name]):>26}"
            f"{cpu['proxy']['median']:>20} + {cpu['service']['median']}"
        )
    passes = [
        f"{name} {n['count']}" + (f" ({n['median']} ms, longest {n['max']})" if n["count"] else "")
        for name, n in at["full_passes_ms"].items()
    ]
    lines.append(f"full collector passes during the rounds (median ms, longest): {'; '.join(passes)}")
    for name, added in at["added_ms"].items():
        p50, p99 = added["p50"], added["p99"]
        summary = f"p50 {_added(p50)}, p99 {_added(p99)}"
        cpu = f"CPU {_shown(at['added_cpu_ms_per_call'][name])} ms per call"
        if name == HOOKS_ONLY:
            lines.append(
                f"added by LiteLLM's hooks alone ({name}): {summary}; {cpu}; "
                f"throughput {_shown(at['throughput_ratio'][name])} of bare"
            )
            continue
        on_path, beyond = at["on_path_ms"][name], at["beyond_hooks_ms"][name]
        lines += [
            f"added by routegate ({name}): {summary}; its own time on the path p50 {on_path['p50']} ms, "
            f"p99 {on_path['p99']} ms; {cpu}",
            f"  beyond the hooks alone: p50 {beyond['p50']} ms, p99 {beyond['p99']} ms, "
            f"throughput {_shown(beyond['throughput_ratio'])} of {HOOKS_ONLY}",
        ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400, help="calls per round and proxy")
    parser.add_argument("--replicas", type=int, default=2, help="processes of each proxy, taking turns (default 2)")
    parser.add_argument(
        "--slice",
        type=int,
        default=25,
        help="calls per connection a proxy makes before the next one's turn (default 25)",
    )
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[1, 8], help="keep-alive connections (default 1 and 8)"
    )
    parser.add_argument(
        "--paced",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="over several connections, then every proxy at this share of the bare one's rate (default 0.5; 0: not)",
    )
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.requests, args.slice, args.replicas, args.connections = 2, 8, 2, 1, [2]
    with tempfile.TemporaryDirectory(prefix="routegate-bench-litellm-") as temp:
        figures = run(args, Path(temp))
    result = {
        "reproduce": reproduce(),
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.rounds} rounds, "
        f"slices of {args.slice} calls per connection, {args.replicas} processes of each proxy; "
        f"routegate's database: {'postgresql' if args.postgres else 'sqlite'}",
        "smoke": args.smoke,
        "by_connections": figures,
        "floors": floors(figures, args.smoke),
    }
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
