"""How receipts and usage reports are committed: the statements, and the connection kept between batches.

Shared by every way a process commits them: the writer thread's batches (:mod:`.receipts`),
the event loop's own commits (:mod:`.loop_receipts`) and, on PostgreSQL, asyncio's
(:mod:`.async_receipts`). What the rows are, and when they are written, is theirs.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table, bindparam, or_, update
from sqlalchemy.dialects import postgresql

from .call_tables import CallReceipt, CallToken
from .db import Database
from .inserts import DriverStatement, RowInsert
from .receipt_days import ReceiptDays

if TYPE_CHECKING:
    import psycopg

__all__ = ["MAINTENANCE_SECONDS", "PG_WRITE_ONE", "RETRIES", "USAGE_ONCE", "Committer", "given_up"]

log = logging.getLogger("routegate.service")

_RECEIPTS = cast(Table, CallReceipt.__table__)
_TOKENS = cast(Table, CallToken.__table__)
_INSERT = RowInsert(_RECEIPTS)
# A token's newest use only moves forward: writers in other threads or processes commit out of order.
_TOUCH = DriverStatement(
    update(_TOKENS)
    .where(
        _TOKENS.c.id == bindparam("token"),
        or_(_TOKENS.c.last_used_at.is_(None), _TOKENS.c.last_used_at < bindparam("used_at")),
    )
    .values(last_used_at=bindparam("used_at"))
)
_COLUMNS = tuple(column.key for column in _RECEIPTS.columns)
USAGE_ONCE = (
    update(_RECEIPTS)
    .where(
        _RECEIPTS.c.id == bindparam("receipt"),
        _RECEIPTS.c.at == bindparam("receipt_at"),
        _RECEIPTS.c.reported_at.is_(None),
    )
    .values(
        prompt_tokens=bindparam("prompt"),
        completion_tokens=bindparam("completion"),
        status=bindparam("outcome"),
        reported_at=bindparam("reported"),
    )
)
"""The gateway's usage report added to its receipt, once: a receipt's first report stands."""
_COMPLETE = DriverStatement(USAGE_ONCE)
_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]
# On PostgreSQL a batch is one statement: its receipts from one array per column, and each token's newest use.
# Writers in other processes touch the same tokens at once, so the tokens are locked in id order before any is
# changed: two batches taking them each in their own order would deadlock, and each deadlock holds a batch of
# authorizations for PostgreSQL's deadlock timeout (a second by default) before one of them is retried.
_PG_TYPES = tuple(column.type.compile(dialect=_POSTGRESQL) for column in _RECEIPTS.columns)
_PG_WRITE = (
    f"WITH written AS (INSERT INTO call_receipts ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"%s::{type_}[]" for type_ in _PG_TYPES)
    + ")), used AS (SELECT * FROM unnest(%s::varchar[], %s::timestamptz[]) AS used(id, at)),"
    " locked AS MATERIALIZED (SELECT call_tokens.id FROM call_tokens JOIN used ON call_tokens.id = used.id"
    " ORDER BY call_tokens.id FOR NO KEY UPDATE OF call_tokens)"
    " UPDATE call_tokens SET last_used_at = used.at FROM used JOIN locked ON locked.id = used.id"
    " WHERE call_tokens.id = used.id"
    " AND (call_tokens.last_used_at IS NULL OR call_tokens.last_used_at < used.at)"
)
# A batch of one (every call at low concurrency, and each inline receipt) as plain values: one token's lock
# has no order to keep, and psycopg adapts scalars for a fraction of what it spends on seventeen arrays.
PG_WRITE_ONE = (
    f"WITH written AS (INSERT INTO call_receipts ({', '.join(_COLUMNS)}) VALUES ("
    + ", ".join(f"%({key})s::{type_}" for key, type_ in zip(_COLUMNS, _PG_TYPES, strict=True))
    + ")) UPDATE call_tokens SET last_used_at = %(at)s WHERE id = %(token_id)s"
    " AND (last_used_at IS NULL OR last_used_at < %(at)s)"
)
RETRIES = (0.05, 0.25, 1.0)  # seconds before each retry of a batch the database refused
MAINTENANCE_SECONDS = 3600.0


class Committer:
    """Commits receipts on a connection it keeps from one batch to the next (no pool checkout per
    batch), and runs the partitions' upkeep."""

    def __init__(self, database: Database, days: ReceiptDays) -> None:
        self.database = database
        self.days = days
        self._connection: Connection | None = None
        self._maintained = 0.0

    def commit(self, rows: list[dict[str, Any]]) -> Exception | None:
        """One attempt at committing ``rows``: None, or the error (the connection is then let go)."""
        return self._attempt(lambda connection: _write(connection, rows), {row["at"].date() for row in rows})

    def complete(self, rows: list[dict[str, Any]]) -> Exception | None:
        """One attempt at adding usage reports (:data:`USAGE_ONCE`'s rows) to their receipts: as :meth:`commit`."""
        return self._attempt(lambda connection: _COMPLETE.run_many(connection, rows), set())

    def _attempt(self, write: Callable[[Connection], None], days: set[date]) -> Exception | None:
        try:
            self.days.ensure(days)
            if self._connection is None:
                self._connection = _one_statement_per_batch(self.database.writer())
            with self.database.write_connection(self._connection) as connection:
                write(connection)
        except Exception as error:  # the caller retries, then gives its callers the error
            self.let_go()
            return error
        return None

    def let_go(self) -> None:
        """Close the kept connection (after a failure, and at the end): the next batch takes a
        fresh one from the pool, which pings it first."""
        if self._connection is not None:
            with contextlib.suppress(Exception):  # a broken link is closed anyway
                self._connection.close()
            self._connection = None

    def maintain(self, *, due_only: bool = False) -> None:
        """Partitions ahead and retention, at start and hourly; a failure is logged and retried later."""
        if due_only and time.monotonic() - self._maintained < MAINTENANCE_SECONDS:
            return
        self._maintained = time.monotonic()
        try:
            now = datetime.now(UTC)
            self.days.ensure_ahead(now)
            self.days.apply_retention(now)
        except Exception:
            log.exception("call receipts: partition maintenance failed; retrying in an hour")


def _write(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """The batch's receipts, and each token's newest use. On PostgreSQL one prepared statement on a
    connection in autocommit (atomic by itself): one round trip, where a statement per row, or a
    ``COPY`` and an ``UPDATE`` between ``BEGIN`` and ``COMMIT``, cost several times the batch's own work."""
    if connection.dialect.name != "postgresql":
        _INSERT.run_many(connection, rows)
        _TOUCH.run_many(connection, [{"token": token, "used_at": at} for token, at in _newest_uses(rows).items()])
        return
    driver = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
    if len(rows) == 1:
        driver.execute(PG_WRITE_ONE, rows[0], prepare=True)
        return
    used = _newest_uses(rows)
    columns = [[row[key] for row in rows] for key in _COLUMNS]
    driver.execute(_PG_WRITE, (*columns, list(used), list(used.values())), prepare=True)


def _newest_uses(rows: list[dict[str, Any]]) -> dict[str, datetime]:
    """Each token's newest receipt in the batch: its ``last_used_at`` if nothing newer is stored."""
    used: dict[str, datetime] = {}
    for row in rows:
        used[row["token_id"]] = max(row["at"], used.get(row["token_id"], row["at"]))
    return used


def given_up(error: Exception, count: int) -> None:
    log.error("call receipts: a batch of %d could not be written: %s", count, error)


def _one_statement_per_batch(connection: Connection) -> Connection:
    """The writer's kept connection; on PostgreSQL in autocommit, since each batch is one statement."""
    if connection.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection
