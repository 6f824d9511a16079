"""Receipts of a process whose event loop serves other work: the LiteLLM proxy deciding in process.

A writer thread's wake-up waits its turn behind such a loop's own callbacks, which cost a lone call
more than its commit: so one call at a time a receipt is committed by the coroutine that waits
for it (:class:`InlineReceipts`, or on PostgreSQL :class:`.async_receipts.AsyncReceipts`), and with
calls in flight by the writer thread, in batches (:class:`AdaptiveReceipts` chooses).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ._receipt_commits import RETRIES, Committer, given_up
from .db import Database
from .receipt_days import ReceiptDays
from .receipts import ReceiptWriter, Usage, usage_rows

__all__ = ["AdaptiveReceipts", "InlineReceipts", "QuietReceipts"]


class InlineReceipts:
    """Commits each receipt in the coroutine that waits for it, on its event loop's thread.

    For a process whose event loop is busy with other work, the LiteLLM proxy deciding in process:
    there a writer thread's commit is quick, but the wake-up it sends waits its turn behind the
    loop's other callbacks, which cost each call several times the commit (measured in
    bench/litellm_proxy.py). The loop is held for the commit instead: a fraction of a millisecond
    on SQLite, one round trip on PostgreSQL; a failed attempt waits without holding it. The
    gateway's usage reports are committed the same way, on the same kept connection.
    """

    def __init__(self, database: Database, days: ReceiptDays, *, upkeep: bool = True) -> None:
        self._committer = Committer(database, days)
        self._lock = threading.Lock()  # one commit at a time on the kept connection, whatever thread calls
        self._upkeep = upkeep  # the partitions' upkeep, at start and hourly: False where another writer runs it

    def start(self) -> None:
        if self._upkeep:
            self._committer.maintain()

    def stop(self) -> None:
        self._committer.let_go()

    async def write(self, row: dict[str, Any]) -> None:
        """Return once ``row`` is committed; raises the database's error if it could not be."""
        for delay in (*RETRIES, None):
            with self._lock:
                error = self._committer.commit([row])
            if error is None:
                break
            if delay is None:
                given_up(error, 1)
                raise error
            await asyncio.sleep(delay)
        if self._upkeep:
            self._committer.maintain(due_only=True)

    async def report_usages(self, reports: Sequence[Usage]) -> None:
        """Add a gateway's usage reports to their receipts, committed as the receipts are: on the
        loop's thread, on the same connection. Raises the database's error; the caller tries again, which
        changes only the reports not yet written (a receipt's first report stands, and an id that
        is no receipt changes nothing). In receipt order: on PostgreSQL a batch is one implicit
        transaction, and batches locking their receipts in one order never wait on each other in a circle."""
        rows = usage_rows(reports)
        if not rows:
            return
        with self._lock:
            error = self._committer.complete(rows)
        if error is not None:
            raise error


class QuietReceipts(Protocol):
    """How :class:`AdaptiveReceipts` commits while its event loop is quiet: :class:`InlineReceipts`, or on
    PostgreSQL :class:`.async_receipts.AsyncReceipts`."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    async def write(self, row: dict[str, Any]) -> None: ...
    async def report_usages(self, reports: Sequence[Usage]) -> None: ...


class AdaptiveReceipts:
    """Commits a receipt inline while its event loop has little else to do, and through a writer
    thread while it is busy; usage reports always inline. For the LiteLLM proxy deciding in process.

    One call at a time, a commit held on the loop costs the call least (:class:`InlineReceipts`;
    on PostgreSQL the loop is not even held: :class:`.async_receipts.AsyncReceipts`).
    With many calls in flight it stalls them all: each of the commit's statements lets go of the
    interpreter lock, LiteLLM's executor threads take it, and the loop waits its turn to get it back
    (at 8 connections a receipt held the loop 0.78 ms for 0.27 ms of work). Then the writer thread
    commits the receipts of the calls in flight together, while the loop serves them.
    """

    def __init__(
        self,
        database: Database,
        days: ReceiptDays,
        *,
        queue_size: int,
        busy: Callable[[], bool],
        quiet: QuietReceipts | None = None,
    ) -> None:
        # The partitions' upkeep is the writer thread's, off the loop.
        self._inline = InlineReceipts(database, days, upkeep=False) if quiet is None else quiet
        self._batches = ReceiptWriter(database, days, queue_size=queue_size)
        self._busy = busy

    @property
    def depth(self) -> int:
        return self._batches.depth

    def start(self) -> None:
        self._inline.start()
        self._batches.start()

    def stop(self) -> None:
        self._batches.stop()
        self._inline.stop()

    async def write(self, row: dict[str, Any]) -> None:
        """Return once ``row`` is committed; raises the database's error if it could not be."""
        await (self._batches if self._busy() else self._inline).write(row)

    async def report_usages(self, reports: Sequence[Usage]) -> None:
        """As :meth:`InlineReceipts.report_usages`."""
        await self._inline.report_usages(reports)
