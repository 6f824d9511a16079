"""Writing call receipts: never lost, cheap at volume.

Every authorization hands its receipt to :class:`ReceiptWriter` and waits until it is
committed: an answer never leaves before its receipt is durable. One thread writes
whatever has queued meanwhile in one transaction (group commit), so concurrent
authorizations share a commit, on a connection the thread keeps (no pool checkout per
batch; a failed batch is retried on a fresh one). The queue
is bounded: when it is full an authorization waits for room (and ``on_wait`` counts
it); nothing is dropped. A batch the database refuses after a few tries fails its
authorizations (503), so an acknowledged call is a written receipt.

A process whose event loop serves other work, the LiteLLM proxy deciding in process,
commits on the loop itself while the loop is quiet (:mod:`.loop_receipts`).

On PostgreSQL ``call_receipts`` is partitioned by UTC day (:mod:`.receipt_days`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import anyio.to_thread
from anyio import CapacityLimiter
from sqlalchemy import Connection, Table, bindparam, or_, update
from sqlalchemy.dialects import postgresql

from .call_tables import CallReceipt, CallToken
from .db import Database, utcnow
from .inserts import DriverStatement, RowInsert
from .receipt_days import ReceiptDays

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "USAGE_ONCE",
    "ReceiptWriter",
    "Usage",
    "at_millisecond",
    "moment_of",
    "moment_or_none",
    "receipt_id",
    "usage_row",
    "usage_rows",
]

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
Usage = tuple[str, int, int, str]
"""A usage report: the receipt id, prompt tokens, completion tokens, and how the call ended."""
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
_PG_WRITE_ONE = (
    f"WITH written AS (INSERT INTO call_receipts ({', '.join(_COLUMNS)}) VALUES ("
    + ", ".join(f"%({key})s::{type_}" for key, type_ in zip(_COLUMNS, _PG_TYPES, strict=True))
    + ")) UPDATE call_tokens SET last_used_at = %(at)s WHERE id = %(token_id)s"
    " AND (last_used_at IS NULL OR last_used_at < %(at)s)"
)
_ARRIVAL_GAP = 0.0005  # seconds a batch waits for the next of the callers the last batch answered
_LINGER_MAX = 0.002  # seconds a batch waits for them in all
_RETRIES = (0.05, 0.25, 1.0)  # seconds before each retry of a batch the database refused
_MAINTENANCE_SECONDS = 3600.0
_ROOM_WAITERS = 64  # threads that wait for room in a full queue; more wait for one of them
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _RandomBytes:
    """The system's random bytes, fetched 4 KiB at a time: ``os.urandom`` per call is a system
    call that lets go of the interpreter lock, and on the authorize path the event loop then
    waits for the receipt writer's thread to hand it back."""

    def __init__(self, fetched: int = 4096) -> None:
        self._fetched = fetched
        self._pool = b""
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)  # a forked process must not draw its parent's bytes

    def _forget(self) -> None:
        self._pool = b""
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            if len(self._pool) < count:
                self._pool = os.urandom(self._fetched)
            taken, self._pool = self._pool[:count], self._pool[count:]
            return taken


_RANDOM = _RandomBytes()


def receipt_id(at_ms: int) -> str:
    """A UUIDv7: 48 bits of milliseconds, then random bits. Ids sort by time; the id names its day."""
    value = (at_ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(_RANDOM.take(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def moment_of(receipt: str) -> datetime:
    """The moment a receipt id was made (its ``at``). Raises ValueError for anything that is not a receipt id."""
    parsed = uuid.UUID(receipt)
    if parsed.version != 7 or str(parsed) != receipt:
        raise ValueError("not a receipt id")
    try:
        return at_millisecond(parsed.int >> 80)
    except OverflowError:  # past the year 9999: no receipt was made then
        raise ValueError("not a receipt id") from None


def at_millisecond(at_ms: int) -> datetime:
    """Milliseconds since the epoch as a UTC moment, exactly (no float on the way)."""
    return _EPOCH + timedelta(milliseconds=at_ms)


@dataclass(slots=True)
class _Pending:
    row: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


class _Committer:
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
        if due_only and time.monotonic() - self._maintained < _MAINTENANCE_SECONDS:
            return
        self._maintained = time.monotonic()
        try:
            now = datetime.now(UTC)
            self.days.ensure_ahead(now)
            self.days.apply_retention(now)
        except Exception:
            log.exception("call receipts: partition maintenance failed; retrying in an hour")


class ReceiptWriter:
    """One thread that commits queued receipts in batches; :meth:`write` waits for its receipt's commit.

    ``on_wait`` is called for each write that found the queue full, ``on_batch`` with each batch's
    size once it is settled (the bench reads them).
    """

    def __init__(
        self,
        database: Database,
        days: ReceiptDays,
        *,
        queue_size: int,
        batch_size: int = 512,
        on_wait: Callable[[], None] = lambda: None,
        on_batch: Callable[[int], None] = lambda _size: None,
    ) -> None:
        self._committer = _Committer(database, days)
        self._queue: queue.Queue[_Pending | None] = queue.Queue(queue_size)
        self._batch_size = batch_size
        self._on_wait = on_wait
        self._on_batch = on_batch
        self._thread = threading.Thread(target=self._run, name="routegate-receipt-writer", daemon=True)
        self._last_batch = 1
        # Not the routes' threads (anyio's default limiter): a full queue must not keep reads waiting.
        self._room_waiters = CapacityLimiter(_ROOM_WAITERS)

    @property
    def depth(self) -> int:
        """Receipts queued and not yet committed."""
        return self._queue.qsize()

    def start(self) -> None:
        self._committer.maintain()
        self._thread.start()

    def stop(self) -> None:
        """Write everything queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(30)

    async def write(self, row: dict[str, Any]) -> None:
        """Queue ``row`` and return once it is committed; raises the database's error if it could not be."""
        loop = asyncio.get_running_loop()
        pending = _Pending(row, loop, loop.create_future())
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            self._on_wait()
            await anyio.to_thread.run_sync(self._queue.put, pending, limiter=self._room_waiters)
        await pending.done

    def _run(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=_MAINTENANCE_SECONDS)
            except queue.Empty:
                self._committer.maintain()
                continue
            if first is None:
                break
            batch, stopping = self._collect(first)
            error = self._commit([pending.row for pending in batch])
            self._on_batch(len(batch))
            waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for pending in batch:
                waiting.setdefault(pending.loop, []).append(pending.done)
            for loop, futures in waiting.items():  # one wake-up per event loop, not per receipt
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
                    loop.call_soon_threadsafe(_settle, futures, error)
            self._committer.maintain(due_only=True)
        self._committer.let_go()

    def _collect(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """``first`` and what queued behind it (up to the batch size); and whether to stop after it.

        While fewer have come than the last batch answered, it waits for the rest as long as they
        keep arriving (2 ms at most): those callers are coming back, and a commit started without
        them makes them wait for a whole second one. An idle writer (last batch of one) never waits.
        """
        batch = [first]
        wanted = min(self._batch_size, self._last_batch)
        patience = time.monotonic() + _LINGER_MAX
        while len(batch) < self._batch_size:
            waiting = len(batch) < wanted and time.monotonic() < patience
            try:
                item = self._queue.get(timeout=_ARRIVAL_GAP) if waiting else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        self._last_batch = len(batch)
        return batch, False

    def _commit(self, rows: list[dict[str, Any]]) -> Exception | None:
        """Commits ``rows``, retried after each of the growing waits; the last error if every try failed."""
        for delay in _RETRIES:
            if self._committer.commit(rows) is None:
                return None
            time.sleep(delay)
        error = self._committer.commit(rows)
        if error is not None:
            _given_up(error, len(rows))
        return error


def usage_row(report: Usage, at: datetime, reported: datetime) -> dict[str, Any]:
    """:data:`USAGE_ONCE`'s parameters for ``report``, whose receipt was made at ``at``."""
    receipt, prompt, completion, status = report
    values = {"prompt": prompt, "completion": completion, "outcome": status, "reported": reported}
    return {"receipt": receipt, "receipt_at": at, **values}


def usage_rows(reports: Sequence[Usage]) -> list[dict[str, Any]]:
    """:data:`USAGE_ONCE`'s rows for ``reports``, in receipt order (a report whose id names no moment names no
    receipt, and is left out): batches that lock their receipts in one order never wait on each other in a circle."""
    reported = utcnow()
    ordered = sorted(reports, key=lambda report: report[0])
    return [usage_row(report, at, reported) for report in ordered if (at := moment_or_none(report[0])) is not None]


def moment_or_none(receipt: str) -> datetime | None:
    """The moment the receipt id ``receipt`` names, or None when it names none (no receipt has it)."""
    try:
        return moment_of(receipt)
    except ValueError:
        return None


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
        driver.execute(_PG_WRITE_ONE, rows[0], prepare=True)
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


def _given_up(error: Exception, count: int) -> None:
    log.error("call receipts: a batch of %d could not be written: %s", count, error)


def _one_statement_per_batch(connection: Connection) -> Connection:
    """The writer's kept connection; on PostgreSQL in autocommit, since each batch is one statement."""
    if connection.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


def _settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for done in futures:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
