"""Serving for the benches that drive real processes: free ports, readiness, load, a PostgreSQL database per run."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from _report import reproduce
from psycopg import sql
from sqlalchemy.engine import make_url

__all__ = [
    "WrkRun",
    "add_postgres_flag",
    "call_token",
    "cpu_seconds",
    "free_port",
    "keep_alive_load",
    "on_each_database",
    "postgres_database",
    "routegate_serving",
    "wait_for_health",
    "wrk_load",
]


def add_postgres_flag(parser: argparse.ArgumentParser) -> None:
    """``--postgres URL``: the PostgreSQL server a bench makes its run's database on, as the tests find theirs."""
    parser.add_argument(
        "--postgres",
        default=os.environ.get("ROUTEGATE_TEST_POSTGRES_URL", ""),
        help="a PostgreSQL server URL to make the run's database on (default: $ROUTEGATE_TEST_POSTGRES_URL)",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used, all its threads (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_health(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Return once the server on ``port`` answers /healthz with 200; fail if it exits or never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                return
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the server for port {port} exited with {process.returncode}: {process.args!r}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not answer /healthz within {seconds:g} s")
        time.sleep(0.1)


@contextmanager
def routegate_serving(
    url: str, folder: Path, *flags: str, seconds: float = 60, checkout: Path | None = None
) -> Iterator[tuple[int, int]]:
    """``routegate serve`` (one worker, no ROUTEGATE_* from this environment) on the database at
    ``url``, with ``flags``, until /healthz answers within ``seconds``: its port and process id.
    With ``checkout``, the routegate of that copy of the repository (its ``src`` first on the path)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout.resolve() / "src")
    command = [sys.executable, "-m", "routegate.cli", "serve", "--database-url", url, "--port", str(port), *flags]
    process = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_health(port, process, seconds)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(30)


def keep_alive_load(
    port: int,
    requests: int,
    connections: int,
    send: Callable[[http.client.HTTPConnection, int], None],
    pool: Sequence[http.client.HTTPConnection] = (),
    *,
    rate: float | None = None,
) -> tuple[list[float], float]:
    """Every call's milliseconds and the calls per second: ``send(connection, number)`` made
    ``requests // connections`` times on each of ``connections`` keep-alive connections, all
    started together, as a client pool would load the server. With ``pool``, its connections
    (one per lane), left open for the next load, in place of new ones.

    With ``rate``, each call starts at its turn in a schedule of that many calls per second spread
    over the connections, as clients that do not wait for each other load a server below what it
    can take. A call's milliseconds then run from its turn, not from when it was sent, so a call
    held up behind a slow one counts the wait (no coordinated omission)."""
    barrier = threading.Barrier(connections + 1)
    latencies: list[float] = []
    begun = 0.0

    def drive(lane: int) -> None:
        connection = pool[lane] if pool else http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        barrier.wait()
        for number in range(requests // connections):
            if rate is None:
                turn = time.perf_counter()
            else:
                turn = begun + (number * connections + lane) / rate
                time.sleep(max(0.0, turn - time.perf_counter()))
            send(connection, number)
            mine.append((time.perf_counter() - turn) * 1000)
        latencies.extend(mine)
        if not pool:
            connection.close()

    threads = [threading.Thread(target=drive, args=(lane,)) for lane in range(connections)]
    for thread in threads:
        thread.start()
    begun = time.perf_counter() + (0.0 if rate is None else 0.05)  # every lane reads it after the barrier
    barrier.wait()
    for thread in threads:
        thread.join()
    return latencies, len(latencies) / (time.perf_counter() - begun)


# Each request takes the next body in turn; every status is counted, the latency percentiles are
# wrk's own (microseconds), and done() prints one JSON line for wrk_load to read.
_WRK_SCRIPT = """
local bodies, method, headers = BODIES, METHOD, HEADERS
local turn, sent, threads = 0, 0, {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function request()
  turn = turn % math.max(#bodies, 1) + 1
  sent = sent + 1
  local body = bodies[turn]
  if body then body = (body:gsub("#N#", tostring(sent))) end
  return wrk.format(method, nil, headers, body)
end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do table.insert(parts, string.format('"%s": %d', status, count)) end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'WRK {"requests": %d, "seconds": %.6f, "p50_us": %d, "p99_us": %d, "errors": %d, "statuses": {%s}}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99), errors,
    table.concat(parts, ", ")))
end
"""


@dataclass(frozen=True)
class WrkRun:
    """One wrk run: requests per second, latency percentiles, and how many answers had each status."""

    rate: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a Lua string literal too


def wrk_load(
    url: str,
    *,
    seconds: float,
    connections: int,
    method: str = "GET",
    bodies: Sequence[str] = (),
    headers: dict[str, str] | None = None,
    folder: Path,
) -> WrkRun:
    """Drive ``url`` with wrk (one thread, ``connections`` keep-alive connections) for ``seconds``,
    sending ``bodies`` in turn; ``#N#`` in a body becomes the request's number, so each can name
    something new.

    wrk is a C program in its own process: the figures are the server's, not a Python
    client's (whose threads, on a small machine, add a tail of their own). Raises
    SystemExit when wrk is missing or a connection failed.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: scripts/wrk.sh installs it (Debian's package)")
    lua_headers = "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in (headers or {}).items()) + "}"
    script = _WRK_SCRIPT.replace("BODIES", "{" + ", ".join(map(_lua_string, bodies)) + "}")
    script = script.replace("METHOD", _lua_string(method)).replace("HEADERS", lua_headers)
    path = folder / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    path.write_text(script, encoding="utf-8")
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(path), url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((row for row in done.stdout.splitlines() if row.startswith("WRK ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    figures = json.loads(line.removeprefix("WRK "))
    if figures["errors"]:
        raise SystemExit(f"wrk: {figures['errors']} connection errors against {url}: {done.stdout}")
    return WrkRun(
        rate=figures["requests"] / figures["seconds"],
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        statuses={int(status): count for status, count in figures["statuses"].items()},
    )


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A database made for this run on the PostgreSQL server at ``server_url``; its URL; dropped afterwards.

    The drop needs no superuser: it ends only this role's own sessions, and a plain ``DROP DATABASE``
    asks any autovacuum worker in it to stop (``WITH (FORCE)`` would try to end that worker itself, which
    only a superuser may do).
    """
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"rg_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop(admin, name)


def _drop(admin: str, name: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    with psycopg.connect(admin, autocommit=True) as connection:
        while True:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND usename = current_user AND pid <> pg_backend_pid()",
                (name,),
            )
            try:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                return
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def call_token(port: int, runtime: str, model: str) -> str:
    """A workspace of ``runtime`` on ``model``, made by the routegate served at ``port``, and a call token for it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        answer = connection.getresponse()
        content: dict[str, Any] = json.loads(answer.read())
        if answer.status not in (200, 201):
            raise SystemExit(f"{path} answered {answer.status}: {content}")
        return content

    try:
        created = post("/workspaces", {"name": "bench", "runtime": runtime, "model": model})
        return str(post(f"/workspaces/{created['id']}/call-tokens", {"note": "bench"})["token"])
    finally:
        connection.close()


def on_each_database(
    args: argparse.Namespace, prefix: str, run: Callable[[argparse.Namespace, Path, str], dict[str, Any]]
) -> dict[str, Any]:
    """``run(args, folder, database)`` on SQLite and, with ``--postgres``, on PostgreSQL, in one temporary
    folder: a bench's result, its figures by database (it judges no floor)."""
    databases = ["sqlite", *(["postgresql"] if args.postgres else [])]
    with tempfile.TemporaryDirectory(prefix=prefix) as temp:
        figures = {database: run(args, Path(temp), database) for database in databases}
    return {
        "reproduce": reproduce(),
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.rounds} rounds",
        "smoke": args.smoke,
        "by_database": figures,
        "floors": [],
    }
