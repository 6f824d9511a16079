"""Receipts and usage reports committed on PostgreSQL over psycopg's asyncio connections: for the
LiteLLM proxy deciding in process, while no other call is in flight.

Committed on a blocking connection, each held the proxy's event loop until PostgreSQL answered:
on a loaded machine most of a millisecond a commit (the server process waiting for a core). A
receipt's commit then added its whole round trip to the call; a usage report's fell just as the
next call arrived, which waited behind it. Here the loop goes on meanwhile: the LiteLLM
integration asks for the decision while LiteLLM prepares the call, so the receipt is committed
during that work, and the next call is served while a report is on its way.
SQLite has no round trip to wait for: there :class:`.loop_receipts.InlineReceipts` commits on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from ._receipt_commits import PG_WRITE_ONE, RETRIES, USAGE_ONCE, given_up
from .receipt_days import ReceiptDays
from .receipts import Usage, usage_rows

if TYPE_CHECKING:
    import psycopg

__all__ = ["AsyncReceipts"]

_PG_COMPLETE = str(USAGE_ONCE.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
_CONNECT_SECONDS = 5


class _Link:
    """One autocommit connection, made on first use on the running loop, and made again after a failure
    or on another loop (an asyncio connection serves only the loop it was made on)."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self.connection: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def connected(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        loop = asyncio.get_running_loop()
        if self.connection is not None and self._loop is not loop:
            self.connection.pgconn.finish()  # its own loop may be gone: closed at once, without it
        if self.connection is None or self.connection.closed or self._loop is not loop:
            self.connection = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=_CONNECT_SECONDS
            )
            self._loop = loop
        return self.connection

    async def let_go(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken link is closed anyway
                await connection.close()


class AsyncReceipts:
    """A receipt and its token's newest use in one statement, whole by itself; a batch of usage
    reports, each one ``UPDATE``, in one pipeline (one round trip), in receipt order. Each on its
    own connection, so that a batch of reports never delays a receipt.

    The partitions' upkeep is left to the writer thread beside it (:class:`.loop_receipts.AdaptiveReceipts`).
    """

    def __init__(self, database_url: str, days: ReceiptDays) -> None:
        conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._days = days
        self._receipts = _Link(conninfo)
        self._usages = _Link(conninfo)

    def start(self) -> None:
        """Nothing to start: each connection is made on first use, on the loop that uses it."""

    def stop(self) -> None:
        """Nothing to stop: the connections end with the loop (an asyncio connection closes on its own loop)."""

    async def write(self, row: dict[str, Any]) -> None:
        """Return once ``row`` is committed; raises the database's error if it could not be, after retries."""
        for delay in (*RETRIES, None):
            try:
                self._days.ensure({row["at"].date()})  # a no-op but once a day
                connection = await self._receipts.connected()
                await connection.execute(PG_WRITE_ONE, row, prepare=True)
                return
            except Exception as error:
                await self._receipts.let_go()
                if delay is None:
                    given_up(error, 1)
                    raise
                await asyncio.sleep(delay)

    async def report_usages(self, reports: Sequence[Usage]) -> None:
        """Add ``reports`` to their receipts; raises the database's error, for the caller to send the batch
        again: that changes only the reports not yet written, since a receipt's first report stands."""
        rows = usage_rows(reports)
        if not rows:
            return
        connection = await self._usages.connected()
        try:
            async with connection.pipeline():
                for row in rows:
                    await connection.execute(_PG_COMPLETE, row, prepare=True)
        except Exception:
            await self._usages.let_go()
            raise
