"""What an instance's view of the call tokens costs per poll as the tokens grow.

    .venv/bin/python bench/caller_view.py [--sizes 10000,100000,1000000] [--rounds 5] [--changes 100]
                                          [--postgres URL] [--smoke]

Every instance keeps the live call tokens in memory and polls the database twice a
second (and on PostgreSQL's NOTIFY) for what other instances changed. For each size,
a fleet of that many workspaces, each with one token, is inserted (the tokens through
their table's triggers, as an issue writes them), then in interleaved rounds:

- **full read**: a new view's first read of every live token (every poll's cost
  before migration 0011, when a view reread the table);
- **poll, nothing changed**: a warm view's refresh;
- **poll after N changes**: ``--changes`` tokens revoked by another writer, then the
  refresh that reads them.

CPU and wall milliseconds, median [min-max] over rounds. SQLite always; PostgreSQL
on a database made for the run when ``--postgres`` (or $ROUTEGATE_TEST_POSTGRES_URL)
is set. A poll that takes longer than the poll interval falls behind: the table
judges each poll against it.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _serving import add_postgres_flag, postgres_database
from _timing import Stats, interleave
from sqlalchemy import insert, text

from routegate.service.call_tables import CallToken
from routegate.service.call_tokens import CallerView
from routegate.service.db import Database, Workspace
from routegate.service.inserts import RowInsert
from routegate.service.settings import Settings

BATCH = 10_000
POLL_S = Settings().manifest_poll_seconds
"""The service's poll interval: a view whose poll takes longer falls behind the fleet."""


def fill(database: Database, size: int) -> list[str]:
    """``size`` workspaces with one token each; the token ids."""
    now = datetime.now(UTC)
    workspaces = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
    token_ids: list[str] = []
    for start in range(0, size, BATCH):
        rows = [_workspace(number, now) for number in range(start, min(size, start + BATCH))]
        tokens = [
            {"id": str(uuid.uuid4()), "workspace_id": row["id"], "token_hash": uuid.uuid4().hex * 2, "scope": "menu"}
            for row in rows
        ]
        with database.write_connection() as connection:
            workspaces.run_many(connection, rows)
            connection.execute(insert(CallToken), [token | {"created_at": now} for token in tokens])
        token_ids += [token["id"] for token in tokens]
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE call_tokens")
    return token_ids


def _workspace(number: int, now: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": f"view {number:07}",
        "parent_id": None,
        "role": None,
        "runtime": "hermes",
        "model": "moonshot/kimi-k2.6",
        "template": None,
        "external": False,
        "url": None,
        "provider": "platform",
        "billing_mode": "platform_managed",
        "required_env": [],
        "auth_env": [],
        "manifest_fingerprint": "0" * 16,
        "manifest_version": 1,
        "created_at": now,
        "updated_at": now,
    }


def _timed(job: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call of ``job``."""
    wall, cpu = time.perf_counter(), time.process_time()
    job()
    return time.perf_counter() - wall, time.process_time() - cpu


def measures(
    database: Database, token_ids: list[str], changes: int
) -> tuple[dict[str, Callable[[], float]], dict[str, list[float]]]:
    """Each figure as a measure returning wall seconds, and the CPU seconds each sample took, by figure."""
    warm = CallerView(database)
    warm.refresh()
    revoking = itertools.count()
    cpu: dict[str, list[float]] = {}

    def sample(name: str, job: Callable[[], object]) -> float:
        wall, used = _timed(job)
        cpu.setdefault(name, []).append(used)
        return wall

    def revoke_then_poll() -> float:
        chosen = [token_ids[next(revoking) % len(token_ids)] for _ in range(changes)]
        with database.write_connection() as connection:
            connection.execute(
                text("UPDATE call_tokens SET revoked_at = :at WHERE id = :id"),
                [{"at": datetime.now(UTC), "id": token_id} for token_id in chosen],
            )
        return sample("poll after changes", warm.refresh)

    timed = {
        "full read": lambda: sample("full read", CallerView(database).refresh),
        "poll, nothing changed": lambda: sample("poll, nothing changed", warm.refresh),
        "poll after changes": revoke_then_poll,
    }
    return timed, cpu


def run(backend: str, url: str, sizes: list[int], rounds: int, changes: int) -> list[dict[str, Any]]:
    results = []
    for size in sizes:
        database = Database(url.format(size=size))
        database.upgrade()
        try:
            token_ids = fill(database, size)
            timed, cpu = measures(database, token_ids, changes)
            walls = interleave(rounds, timed)
            for name, stats in walls.items():
                results.append(
                    {
                        "backend": backend,
                        "tokens": size,
                        "figure": name,
                        "wall_ms": stats.scaled(1000),
                        "cpu_ms": Stats(tuple(cpu[name])).scaled(1000),
                    }
                )
        finally:
            database.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="token counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--changes", type=int, default=100, help="tokens revoked before each 'poll after changes'")
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    sizes = [1000] if args.smoke else [int(size) for size in args.sizes.split(",")]
    rounds = 2 if args.smoke else args.rounds
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="routegate-bench-view-"))
        results += run("sqlite", f"sqlite:///{folder}/view-{{size}}.db", sizes, rounds, args.changes)
        if args.postgres:
            for size in sizes:
                url = stack.enter_context(postgres_database(args.postgres))
                results += run("postgresql", url, [size], rounds, args.changes)
    floors: list[dict[str, Any]] = [
        {
            "floor": f"{row['backend']}, {row['tokens']} tokens: {row['figure']} fits the {POLL_S} s poll",
            "figure": f"{row['wall_ms']['median']} ms",
            "pass": judged(row["wall_ms"]["median"] <= POLL_S * 1000, args.smoke),
        }
        for row in results
        if row["figure"] != "full read"
    ]
    lines = [f"{reproduce()}  ({rounds} rounds)", "", "median [min-max] over rounds; ms"]
    lines.append(f"{'backend':<11} {'tokens':>8}  {'figure':<22} {'wall':>26} {'cpu':>26}")
    for row in results:
        wall, cpu = row["wall_ms"], row["cpu_ms"]
        lines.append(
            f"{row['backend']:<11} {row['tokens']:>8}  {row['figure']:<22} "
            f"{wall['median']:>10} [{wall['min']}-{wall['max']}]".ljust(70)
            + f" {cpu['median']:>10} [{cpu['min']}-{cpu['max']}]"
        )
    lines += ["", "floors"] + [f"  [{verdict(f['pass'])}] {f['floor']}: {f['figure']}" for f in floors]
    figures = {"reproduce": reproduce(), "smoke": args.smoke, "rounds": rounds, "results": results, "floors": floors}
    emit(figures, "\n".join(lines))


if __name__ == "__main__":
    main()
