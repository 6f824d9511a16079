"""Receipt volume: the writer's sustained rate, and authorize on a table of ten million receipts.

    .venv/bin/python bench/receipts.py [--rounds 5] [--receipts 20000] [--producers 64]
        [--table-rows 10000000] [--sqlite-table-rows 0] [--requests 2000] [--connections 8]
        [--postgres URL] [--smoke]

Sustained rate, in this process: ``--producers`` concurrent tasks hand receipts to the
service's own :class:`ReceiptWriter` (its queue size, its batching), each waiting until its
receipt is committed before making the next, as ``POST /calls/authorize`` waits before it
answers. Per round: receipts per second, the batches' sizes, each receipt's wait for its
commit (p50, p99) and how often a producer waited for room in a full queue.

Volume: two servers (``routegate serve``, one worker) side by side, one on an empty
receipts table and one whose table was filled with ``--table-rows`` receipts spread over
the retention window's days (on PostgreSQL by ``INSERT ... SELECT generate_series`` into
each day's partition, then ``VACUUM ANALYZE``; on SQLite by bulk inserts). In interleaved
rounds: ``POST /calls/authorize`` p50 and p99 at ``--connections`` connections on each,
and one client's latency for a workspace's first page of ``GET /calls/receipts`` and its
``GET /calls/summary`` since a day ago. The bench's workspace holds one receipt in a
hundred of the filled table.

SQLite always (its volume part only with ``--sqlite-table-rows``); PostgreSQL when a server
URL is given (fresh databases, dropped at the end). Prints JSON, then a short table.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _serving import add_postgres_flag, keep_alive_load, postgres_database, routegate_serving
from _timing import interleave, percentile
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from routegate.service.call_service import CallSettings
from routegate.service.call_tables import CallReceipt
from routegate.service.db import Database
from routegate.service.receipt_days import ReceiptDays
from routegate.service.receipts import ReceiptWriter, at_millisecond, receipt_id

MODEL = "moonshot/kimi-k2.6"
TOKENS = 100  # the producers' receipts name this many tokens in turn, so each batch touches several
RATE_FLOOR = 5000  # receipts per second on PostgreSQL


Send = Callable[[http.client.HTTPConnection, int], None]


def _spread(samples: Sequence[float], digits: int = 2) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), digits),
        "min": round(min(samples), digits),
        "max": round(max(samples), digits),
        "rounds": len(samples),
    }


def _receipt(number: int) -> dict[str, Any]:
    """A receipt as authorize makes one: a UUIDv7 of this millisecond, an admitted platform call."""
    at_ms = time.time_ns() // 1_000_000
    return {
        "id": receipt_id(at_ms),
        "at": at_millisecond(at_ms),
        "workspace_id": f"bench-workspace-{number % TOKENS}",
        "token_id": f"bench-token-{number % TOKENS}",
        "model": MODEL,
        "allowed": True,
        "code": None,
        "payer": "platform",
        "provider": "platform",
        "upstream_vendor": "moonshot",
        "manifest_version": 1,
        "prompt_tokens": None,
        "completion_tokens": None,
        "status": None,
        "reported_at": None,
    }


class WriterRate:
    """The service's receipt writer on ``url``, and a measure of one round of producers against it."""

    def __init__(self, url: str, producers: int, receipts: int) -> None:
        self.database = Database(url)
        self.database.upgrade()
        self.producers, self.receipts = producers, receipts
        self.batches: list[int] = []
        self.waits = 0
        self.writer = ReceiptWriter(
            self.database,
            ReceiptDays(self.database, retention_days=0),
            queue_size=CallSettings().receipt_queue,
            on_wait=self._waited,
            on_batch=self.batches.append,
        )
        self.rounds: list[dict[str, float]] = []

    def _waited(self) -> None:
        self.waits += 1

    def __enter__(self) -> WriterRate:
        self.writer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.writer.stop()
        self.database.dispose()

    def measure(self) -> float:
        """One round: receipts per second; its batches, waits and commit latencies kept in :attr:`rounds`."""
        self.batches.clear()
        self.waits = 0
        latencies: list[float] = []
        share = self.receipts // self.producers

        async def produce(first: int) -> None:
            for number in range(first, first + share):
                started = time.perf_counter()
                await self.writer.write(_receipt(number))
                latencies.append((time.perf_counter() - started) * 1000)

        async def everyone() -> None:
            await asyncio.gather(*(produce(producer * share) for producer in range(self.producers)))

        started = time.perf_counter()
        asyncio.run(everyone())
        rate = len(latencies) / (time.perf_counter() - started)
        self.rounds.append(
            {
                "rate": rate,
                "batch_median": statistics.median(self.batches),
                "batch_max": max(self.batches),
                "wait_p50_ms": statistics.median(latencies),
                "wait_p99_ms": percentile(latencies, 0.99),
                "queue_full_waits": self.waits,
            }
        )
        return rate

    def figures(self, setup: str) -> dict[str, Any]:
        def spread(key: str, digits: int = 2) -> dict[str, Any]:
            return _spread([figures[key] for figures in self.rounds], digits)

        return {
            "setup": setup,
            "producers": self.producers,
            "receipts_per_round": self.producers * (self.receipts // self.producers),
            "receipts_per_s": spread("rate", 0),
            "batch_size_median": spread("batch_median", 1),
            "batch_size_max": spread("batch_max", 0),
            "commit_wait_p50_ms": spread("wait_p50_ms"),
            "commit_wait_p99_ms": spread("wait_p99_ms"),
            "queue_full_waits": spread("queue_full_waits", 0),
        }


def _status(response: http.client.HTTPResponse, path: str, expected: int) -> Any:
    answer = json.loads(response.read())
    if response.status != expected:
        raise SystemExit(f"{path} answered {response.status}: {answer}")
    return answer


def _post(connection: http.client.HTTPConnection, path: str, body: dict[str, Any], expected: int) -> Any:
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    return _status(connection.getresponse(), path, expected)


def _get(connection: http.client.HTTPConnection, path: str) -> Any:
    connection.request("GET", path)
    return _status(connection.getresponse(), path, 200)


class Caller:
    """A workspace and call token made over HTTP on one server, and the requests the bench times there."""

    def __init__(self, port: int) -> None:
        self.port = port
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = {"name": "bench", "runtime": "hermes", "model": MODEL}
        self.workspace_id = _post(connection, "/workspaces", body, 201)["id"]
        issued = _post(connection, f"/workspaces/{self.workspace_id}/call-tokens", {"note": "bench"}, 201)
        self.token, self.token_id = issued["token"], issued["id"]
        connection.close()
        since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.page_path = f"/calls/receipts?workspace_id={self.workspace_id}&limit=50"
        self.summary_path = f"/calls/summary?workspace_id={self.workspace_id}&since={since}"

    def authorize(self, connection: http.client.HTTPConnection, _number: int) -> None:
        _post(connection, "/calls/authorize", {"token": self.token, "model": MODEL}, 200)

    def page(self, connection: http.client.HTTPConnection, _number: int) -> None:
        _get(connection, self.page_path)

    def summary(self, connection: http.client.HTTPConnection, _number: int) -> None:
        _get(connection, self.summary_path)


# Filled receipts spread evenly over the window; one in a hundred is the bench workspace's, the
# others belong to 997 other workspaces; one in eight is a refusal, admitted ones have usage.
_PG_FILL = """
INSERT INTO call_receipts (id, at, workspace_id, token_id, model, allowed, code, payer, provider,
    upstream_vendor, manifest_version, prompt_tokens, completion_tokens, status, reported_at)
SELECT substr(stamp, 1, 8) || '-' || substr(stamp, 9, 4) || '-7' || substr(noise, 1, 3) || '-8'
        || substr(noise, 4, 3) || '-' || substr(noise, 7, 12),
    at,
    CASE WHEN n %% 100 = 0 THEN %(workspace)s ELSE 'filled-workspace-' || n %% 997 END,
    CASE WHEN n %% 100 = 0 THEN %(token)s ELSE 'filled-token-' || n %% 997 END,
    %(model)s, n %% 8 <> 7,
    CASE WHEN n %% 8 = 7 THEN 'MODEL_NOT_ALLOWED' END,
    CASE WHEN n %% 8 = 7 THEN NULL WHEN n %% 2 = 0 THEN 'platform' ELSE 'tenant' END,
    CASE WHEN n %% 8 = 7 THEN NULL WHEN n %% 2 = 0 THEN 'platform' ELSE 'openrouter' END,
    CASE WHEN n %% 8 <> 7 AND n %% 2 = 0 THEN 'moonshot' END,
    1,
    CASE WHEN n %% 8 <> 7 THEN n %% 4000 END,
    CASE WHEN n %% 8 <> 7 THEN n %% 900 END,
    CASE WHEN n %% 8 <> 7 THEN 'ok' END,
    CASE WHEN n %% 8 <> 7 THEN at END
FROM (
    SELECT n, timestamptz 'epoch' + ms * interval '1 millisecond' AS at, lpad(to_hex(ms), 12, '0') AS stamp,
        md5(n::text) AS noise
    FROM (
        SELECT n, (%(start_ms)s + floor(n * %(step_ms)s))::bigint AS ms
        FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n
    ) AS numbered
) AS moments
"""
FILL_DAYS = 89  # inside the service's default retention (90 days): nothing filled is dropped at its start
_PG_CHUNK = 500_000  # rows per INSERT ... SELECT, each its own transaction
_SQLITE_CHUNK = 50_000


def _filled(number: int, start_ms: int, step_ms: float, caller: Caller) -> dict[str, Any]:
    """The SQLite fill's receipt ``number``: the same as PostgreSQL's ``_PG_FILL`` makes."""
    at_ms = start_ms + int(number * step_ms)
    ours, refused, platform = number % 100 == 0, number % 8 == 7, number % 2 == 0
    return {
        "id": receipt_id(at_ms),
        "at": at_millisecond(at_ms),
        "workspace_id": caller.workspace_id if ours else f"filled-workspace-{number % 997}",
        "token_id": caller.token_id if ours else f"filled-token-{number % 997}",
        "model": MODEL,
        "allowed": not refused,
        "code": "MODEL_NOT_ALLOWED" if refused else None,
        "payer": None if refused else ("platform" if platform else "tenant"),
        "provider": None if refused else ("platform" if platform else "openrouter"),
        "upstream_vendor": "moonshot" if platform and not refused else None,
        "manifest_version": 1,
        "prompt_tokens": None if refused else number % 4000,
        "completion_tokens": None if refused else number % 900,
        "status": None if refused else "ok",
        "reported_at": None if refused else at_millisecond(at_ms),
    }


def fill(url: str, rows: int, caller: Caller) -> float:
    """Fill ``url``'s receipts table with ``rows`` receipts over the last :data:`FILL_DAYS` days; seconds taken."""
    started = time.perf_counter()
    end_ms = time.time_ns() // 1_000_000 - 60_000  # a minute ago: the bench's own receipts come after
    start_ms = end_ms - FILL_DAYS * 86_400_000
    step_ms = (end_ms - start_ms) / max(rows, 1)
    database = Database(url)
    first_day = at_millisecond(start_ms).date()
    ReceiptDays(database, 0).ensure({first_day + timedelta(days=d) for d in range(FILL_DAYS + 2)})
    if database.engine.dialect.name == "postgresql":
        database.dispose()
        _fill_postgres(url, rows, start_ms, step_ms, caller)
    else:
        for first in range(0, rows, _SQLITE_CHUNK):
            chunk = [_filled(n, start_ms, step_ms, caller) for n in range(first, min(rows, first + _SQLITE_CHUNK))]
            with database.write_connection() as connection:
                connection.execute(insert(CallReceipt), chunk)
        with database.write_connection() as connection:
            connection.exec_driver_sql("ANALYZE")
        database.dispose()
    return time.perf_counter() - started


def _fill_postgres(url: str, rows: int, start_ms: int, step_ms: float, caller: Caller) -> None:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as connection:
        for first in range(0, rows, _PG_CHUNK):
            params = {
                "workspace": caller.workspace_id,
                "token": caller.token_id,
                "model": MODEL,
                "start_ms": start_ms,
                "step_ms": step_ms,
                "first": first,
                "last": min(rows, first + _PG_CHUNK) - 1,
            }
            connection.execute(_PG_FILL, params)
            print(f"filled {min(rows, first + _PG_CHUNK):,} of {rows:,} receipts", file=sys.stderr)
        connection.execute("VACUUM (ANALYZE) call_receipts")


Sample = tuple[float, float, float]  # p50 ms, p99 ms, requests per second


def _timed(port: int, requests: int, connections: int, send: Send, kept: list[Sample]) -> Callable[[], float]:
    """A measure for interleave(): one round of ``send`` over keep-alive connections; its p99, the rest kept."""

    def measure() -> float:
        latencies, rate = keep_alive_load(port, requests, connections, send)
        kept.append((statistics.median(latencies), percentile(latencies, 0.99), rate))
        return kept[-1][1]

    return measure


def volume(setup: str, urls: tuple[str, str], rows: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Two servers, on an empty table and on one filled with ``rows`` receipts, measured in turns."""
    with routegate_serving(urls[0], folder) as (empty_port, _), routegate_serving(urls[1], folder) as (filled_port, _):
        callers = {"empty": Caller(empty_port), "filled": Caller(filled_port)}
        fill_seconds = fill(urls[1], rows, callers["filled"])
        kept: dict[str, list[Sample]] = {}
        measures: dict[str, Callable[[], float]] = {}
        for request, connections, count in (
            ("authorize", args.connections, args.requests),
            ("page", 1, args.reads),
            ("summary", 1, args.reads),
        ):
            for table, caller in callers.items():
                name = f"{request} {table}"
                kept[name] = []
                measures[name] = _timed(caller.port, count, connections, getattr(caller, request), kept[name])
        for measure in measures.values():
            measure()  # warm-up: connections, caches, the planner's statistics
        for samples in kept.values():
            samples.clear()
        interleave(args.rounds, measures)

    def spread(request: str, index: int, digits: int = 2) -> dict[str, Any]:
        return {table: _spread([s[index] for s in kept[f"{request} {table}"]], digits) for table in callers}

    p99 = spread("authorize", 1)
    return {
        "setup": setup,
        "table_rows": rows,
        "workspace_rows": len(range(0, rows, 100)),
        "fill_s": round(fill_seconds, 1),
        "authorize_p50_ms": spread("authorize", 0),
        "authorize_p99_ms": p99,
        "authorize_per_s": spread("authorize", 2, 0),
        "p99_filled_over_empty": round(p99["filled"]["median"] / p99["empty"]["median"], 2),
        "first_page_p50_ms": spread("page", 0),
        "summary_since_a_day_p50_ms": spread("summary", 0),
    }


def floors(writers: list[dict[str, Any]], volumes: list[dict[str, Any]], smoke: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def floor(name: str, figure: str, ok: bool) -> None:
        rows.append({"floor": name, "figure": figure, "pass": judged(ok, smoke)})

    for run in writers:
        if run["setup"] == "postgresql":
            rate = run["receipts_per_s"]["median"]
            floor(f"postgresql: receipts sustained >= {RATE_FLOOR:,}/s", f"{rate:,.0f}/s", rate >= RATE_FLOOR)
    for run in volumes:
        ratio = run["p99_filled_over_empty"]
        p99 = run["authorize_p99_ms"]
        figure = f"{p99['filled']['median']} ms vs {p99['empty']['median']} ms, x{ratio}"
        name = f"{run['setup']}: authorize p99 on {run['table_rows']:,} receipts <= 1.25 x on an empty table"
        floor(name, figure, ratio <= 1.25)
    return rows


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['reproduce']}  ({result['machine']})",
        "",
        f"{'writer':<12}{'receipts/s':>11}{'batch':>7}{'max':>5}{'commit p50':>11}{'p99 ms':>8}{'full waits':>11}",
    ]
    for run in result["writers"]:
        lines.append(
            f"{run['setup']:<12}{run['receipts_per_s']['median']:>11,.0f}{run['batch_size_median']['median']:>7.1f}"
            f"{run['batch_size_max']['median']:>5.0f}{run['commit_wait_p50_ms']['median']:>11.2f}"
            f"{run['commit_wait_p99_ms']['median']:>8.2f}{run['queue_full_waits']['median']:>11.0f}"
        )
    if result["volumes"]:
        lines += ["", "medians in ms, empty table -> filled table (one worker, authorize at the bench's connections)"]
        lines.append(
            f"{'table':<12}{'rows':>12}{'authorize p50':>18}{'authorize p99':>18}{'first page':>18}{'summary':>18}"
        )
    for run in result["volumes"]:
        cells = [
            f"{run[key]['empty']['median']:.2f} -> {run[key]['filled']['median']:.2f}"
            for key in ("authorize_p50_ms", "authorize_p99_ms", "first_page_p50_ms", "summary_since_a_day_p50_ms")
        ]
        lines.append(f"{run['setup']:<12}{run['table_rows']:>12,}" + "".join(f"{cell:>18}" for cell in cells))
    lines += ["", "floors"] + [f"  [{verdict(f['pass'])}] {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--receipts", type=int, default=20_000, help="receipts per writer round")
    parser.add_argument("--producers", type=int, default=64, help="concurrent producers on the writer")
    parser.add_argument("--table-rows", type=int, default=10_000_000, help="the filled table's rows, PostgreSQL")
    parser.add_argument("--sqlite-table-rows", type=int, default=0, help="the filled table's rows, SQLite (0: skip)")
    parser.add_argument("--requests", type=int, default=2000, help="authorize requests per round and server")
    parser.add_argument("--connections", type=int, default=8, help="authorize's keep-alive connections")
    parser.add_argument("--reads", type=int, default=100, help="receipt pages and summaries per round and server")
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.receipts, args.producers, args.table_rows, args.sqlite_table_rows = 2, 256, 16, 3000, 3000
        args.requests, args.connections, args.reads = 32, 4, 4
    return args


def main() -> int:
    args = _arguments()
    with tempfile.TemporaryDirectory(prefix="routegate-bench-") as temp, ExitStack() as stack:
        folder = Path(temp)
        urls = {"sqlite": f"sqlite:///{folder / 'writer.db'}"}
        if args.postgres:
            urls["postgresql"] = stack.enter_context(postgres_database(args.postgres))
        rates = {
            name: stack.enter_context(WriterRate(url, args.producers, args.receipts)) for name, url in urls.items()
        }
        for rate in rates.values():
            rate.measure()  # warm-up: connections, statements, the day's partition
            rate.rounds.clear()
        interleave(args.rounds, {name: rate.measure for name, rate in rates.items()})
        writers = [rate.figures(name) for name, rate in rates.items()]
        volumes = []
        if args.sqlite_table_rows:
            pair = (f"sqlite:///{folder / 'empty.db'}", f"sqlite:///{folder / 'filled.db'}")
            volumes.append(volume("sqlite", pair, args.sqlite_table_rows, args, folder))
        if args.postgres and args.table_rows:
            pair = (
                stack.enter_context(postgres_database(args.postgres)),
                stack.enter_context(postgres_database(args.postgres)),
            )
            volumes.append(volume("postgresql", pair, args.table_rows, args, folder))
        result = {
            "reproduce": reproduce(),
            "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.rounds} rounds",
            "smoke": args.smoke,
            "writers": writers,
            "volumes": volumes,
            "floors": floors(writers, volumes, args.smoke),
        }
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
