"""Operator pages and deletes as the fleet grows: the console's list and search, and DELETE /workspaces/{id}.

    .venv/bin/python bench/operator_pages.py [--sizes 10000,100000,1000000] [--rounds 7] [--requests 10]
                                             [--postgres URL] [--smoke]

For each size the fleet grows to it (workspaces inserted through the store's own
INSERT, so the name index's triggers run as they do for a create, and on SQLite
the queued names indexed as the service's thread would; one in a thousand has
children), then ``routegate serve`` runs on the database and the
pages are asked for over loopback HTTP as a browser would: the console's list
on its first page, a middle page and the oldest page (by the cursors its links
carry), a name search that finds a few workspaces and one that finds a fifth of
the fleet, and the delete of a childless workspace. Rounds are interleaved; each
sample is the mean of ``--requests`` requests; every figure is the median over
rounds with its min and max. ``--postgres URL`` adds the same on a database made
for the run on that server (VACUUM ANALYZE after the inserts, as autovacuum
would). ``--smoke``: tiny sizes and few rounds, seconds. Prints JSON, then a
table with the issue's floors at 1M (delete <= 10 ms, list <= 15 ms on any
page, search <= 30 ms).
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _serving import add_postgres_flag, postgres_database, routegate_serving
from _timing import interleave

from routegate.service.db import Database, Workspace
from routegate.service.inserts import RowInsert
from routegate.service.name_index import index_pending

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
RARE = "kilo"  # in one name in 100,000 (at least one)
COMMON = "bravo"  # in a fifth of the names
BATCH = 10_000
FLOORS_MS = {"delete": 10.0, "list": 15.0, "search": 30.0}  # issue 19's, at 1M workspaces


def _row(number: int, parent_id: str | None) -> dict[str, Any]:
    now = datetime.now(UTC)
    word = RARE if number % 100_000 == 99 else WORDS[number % len(WORDS)]
    return {
        "id": str(uuid.uuid4()),
        "name": f"{word} {WORDS[(number // 10) % len(WORDS)]}-{number:07}",
        "parent_id": parent_id,
        "role": None,
        "runtime": "hermes",
        "model": "kimi-coding/kimi-k2",
        "template": None,
        "external": False,
        "url": None,
        "provider": "kimi-coding",
        "billing_mode": "byok",
        "required_env": [],
        "auth_env": [],
        "manifest_fingerprint": "0" * 16,
        "manifest_version": None,
        "created_at": now,
        "updated_at": now,
    }


def grow(database: Database, start: int, stop: int) -> None:
    """Insert workspaces ``start`` to ``stop``, BATCH to a transaction; each thousandth is the last one's child."""
    insert = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
    previous: str | None = None
    for first in range(start, stop, BATCH):
        with database.write_connection() as connection:
            for number in range(first, min(first + BATCH, stop)):
                row = _row(number, previous if number % 1000 == 1 else None)
                insert.run(connection, row)
                previous = row["id"]
    if database.engine.dialect.name == "sqlite":  # the queued names indexed, as the service's own thread would
        index_pending(database, batch=BATCH)
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE workspaces")


def leaves(database: Database, count: int) -> list[str]:
    """Childless workspaces from the middle of the fleet, for deletes."""
    with database.engine.connect() as connection:
        middle = connection.exec_driver_sql("SELECT max(seq) FROM workspaces").scalar_one() // 2
        found = connection.exec_driver_sql(
            f"SELECT id FROM workspaces w WHERE seq > {middle} AND NOT EXISTS "
            f"(SELECT 1 FROM workspaces c WHERE c.parent_id = w.id) ORDER BY seq LIMIT {count}"
        )
        return list(found.scalars())


@contextmanager
def served(url: str, folder: Path) -> Iterator[http.client.HTTPConnection]:
    """``routegate serve`` on the database; a keep-alive connection to it."""
    with routegate_serving(url, folder, "--host", "127.0.0.1", seconds=300) as (port, _):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        yield connection
        connection.close()


def _ask(connection: http.client.HTTPConnection, method: str, path: str, status: int) -> bytes:
    connection.request(method, path)
    response = connection.getresponse()
    body = response.read()
    if response.status != status:
        raise SystemExit(f"{method} {path} answered {response.status}, not {status}: {body[:200]!r}")
    return body


def page_path(**params: str) -> str:
    return "/ui/workspaces" + (f"?{urlencode(params)}" if params else "")


def timed(
    connection: http.client.HTTPConnection, paths: Callable[[], str], method: str, status: int, n: int
) -> Callable[[], float]:
    """A measure: mean milliseconds of ``n`` requests, each to the next of ``paths``."""

    def measure() -> float:
        started = time.perf_counter()
        for _ in range(n):
            _ask(connection, method, paths(), status)
        return (time.perf_counter() - started) * 1000 / n

    return measure


def bench_size(url: str, size: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    database = Database(url)
    try:
        doomed = iter(leaves(database, args.rounds * args.requests))
        with served(url, folder) as connection:
            middle = str(size // 2)
            first = _ask(connection, "GET", page_path(), 200)
            if b"Next page" not in first:
                raise SystemExit(f"the first page at {size} has no next page")
            for probe in (RARE, COMMON):
                if b'<tr data-id="' not in _ask(connection, "GET", page_path(q=probe), 200):
                    raise SystemExit(f"a search for {probe!r} found nothing at {size}")
            n = args.requests
            measures = {
                "list, first page": timed(connection, lambda: page_path(), "GET", 200, n),
                "list, middle page": timed(connection, lambda: page_path(older_than=middle), "GET", 200, n),
                "list, oldest page": timed(connection, lambda: page_path(newer_than="0"), "GET", 200, n),
                f"search, rare ({RARE!r})": timed(connection, lambda: page_path(q=RARE), "GET", 200, n),
                f"search, a fifth ({COMMON!r})": timed(connection, lambda: page_path(q=COMMON), "GET", 200, n),
                "delete": timed(connection, lambda: f"/workspaces/{next(doomed)}", "DELETE", 204, n),
            }
            stats = interleave(args.rounds, measures)
    finally:
        database.dispose()
    return {name: figure.scaled(digits=2) for name, figure in stats.items()}


def run_backend(name: str, url: str, sizes: list[int], args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    database = Database(url)
    database.upgrade()
    grown, results = 0, {}
    try:
        for size in sizes:
            started = time.perf_counter()
            grow(database, grown, size)
            print(f"{name}: {size:,} workspaces ({time.perf_counter() - started:.0f} s to insert)", file=sys.stderr)
            grown = size
            results[str(size)] = bench_size(url, size, args, folder)
            for measure, stats in results[str(size)].items():  # as it goes: a long run's figures so far
                print(f"  {measure:<26}{_spread(stats)} ms", file=sys.stderr)
    finally:
        database.dispose()
    return results


def floors(backends: dict[str, dict[str, Any]], smoke: bool) -> list[dict[str, Any]]:
    """The issue's floors, judged at 1M workspaces where the run reached it."""
    rows = []
    for backend, sizes in backends.items():
        figures = sizes.get("1000000")
        if figures is None:
            continue
        for measure, stats in figures.items():
            kind = measure.split(",")[0]
            limit = FLOORS_MS[kind]
            rows.append(
                {
                    "floor": f"{backend}, 1M: {measure} <= {limit:g} ms",
                    "figure": stats["median"],
                    "ok": judged(stats["median"] <= limit, smoke),
                }
            )
    return rows


def _spread(stats: dict[str, Any]) -> str:
    return f"{stats['median']:.2f} [{stats['min']:.2f}-{stats['max']:.2f}]"


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['reproduce']}  ({result['machine']})", ""]
    for backend, sizes in result["backends"].items():
        lines.append(f"{backend}: ms per request, median [min-max] over {result['rounds']} rounds")
        names = list(next(iter(sizes.values())))
        lines.append(f"  {'':<26}" + "".join(f"{int(size):>22,}" for size in sizes))
        for name in names:
            cells = "".join(f"{_spread(figures[name]):>22}" for figures in sizes.values())
            lines.append(f"  {name:<26}{cells}")
        lines.append("")
    if result["floors"]:
        lines += ["floors"] + [f"  {verdict(f['ok']):10} {f['floor']}: {f['figure']} ms" for f in result["floors"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="fleet sizes, ascending, comma-separated")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=10, help="requests per sample")
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.rounds, args.requests = "300,3000", 3, 3
    sizes = sorted(int(size) for size in args.sizes.split(","))
    backends: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="routegate-bench-") as temp, ExitStack() as stack:
        folder = Path(temp)
        backends["sqlite"] = run_backend("sqlite", f"sqlite:///{folder / 'fleet.db'}", sizes, args, folder)
        if args.postgres:
            url = stack.enter_context(postgres_database(args.postgres))
            backends["postgresql"] = run_backend("postgresql", url, sizes, args, folder)
    result = {
        "smoke": args.smoke,
        "reproduce": reproduce(),
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "rounds": args.rounds,
        "requests_per_sample": args.requests,
        "backends": backends,
        "floors": floors(backends, args.smoke),
    }
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
