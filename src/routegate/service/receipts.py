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
commits on the loop itself while the loop is quiet (:mod:`.loop_receipts`). The statements and the
kept connection all of them commit with are in :mod:`._receipt_commits`.

On PostgreSQL ``call_receipts`` is partitioned by UTC day (:mod:`.receipt_days`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter

from ._receipt_commits import MAINTENANCE_SECONDS, RETRIES, USAGE_ONCE, Committer, given_up
from .db import Database, utcnow
from .receipt_days import ReceiptDays

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

Usage = tuple[str, int, int, str]
"""A usage report: the receipt id, prompt tokens, completion tokens, and how the call ended."""
_ARRIVAL_GAP = 0.0005  # seconds a batch waits for the next of the callers the last batch answered
_LINGER_MAX = 0.002  # seconds a batch waits for them in all
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
        self._committer = Committer(database, days)
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
                first = self._queue.get(timeout=MAINTENANCE_SECONDS)
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
        for delay in RETRIES:
            if self._committer.commit(rows) is None:
                return None
            time.sleep(delay)
        error = self._committer.commit(rows)
        if error is not None:
            given_up(error, len(rows))
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


def _settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for done in futures:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
