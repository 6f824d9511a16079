"""Large fleets of stored workspaces, for the tests of a long publish: inserted in batches with the
store's own INSERT (:class:`~routegate.service.db.RowInsert`), as ``bench/publish.py`` does."""

from __future__ import annotations

from routegate.service.db import Database, RowInsert, Workspace

from .test_operator_pages import fleet_row

BATCH = 5_000


def fill(database: Database, count: int) -> None:
    """Store ``count`` more workspaces (hermes on kimi-coding's BYOK menu: every bundled variant admits them)."""
    insert = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
    for start in range(0, count, BATCH):
        with database.write_connection() as connection:
            insert.run_many(connection, [fleet_row(number) for number in range(start, min(start + BATCH, count))])
