"""Receipts and usage reports of a gateway deciding in process on PostgreSQL, over psycopg's asyncio
connections.

A receipt is stored once, with its token's newest use; each receipt keeps its first usage report,
whole, however many writers report it at once; the event loop runs other work while either waits
for PostgreSQL; a broken connection is made again (a receipt's commit retried, a batch of reports
failed for its caller to send again).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from routegate.service._receipt_commits import Committer
from routegate.service.async_receipts import AsyncReceipts
from routegate.service.db import Database
from routegate.service.receipt_days import ReceiptDays
from routegate.service.receipts import Usage, receipt_id
from tests import event_loops

from .test_call_receipts import _row
from .test_receipt_writer import TOKENS, _deadlocks, _last_used, _stored, _written, with_tokens
from .test_versioned_write import _terminate

ROUNDS = 10
WRITERS = 4


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    yield from with_tokens("postgres", tmp_path)


def _writer(database: Database) -> AsyncReceipts:
    return AsyncReceipts(database.url, ReceiptDays(database, 0))


def _libpq(database: Database) -> str:
    return make_url(database.url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.parametrize("count", [1, 3])
def test_reports_complete_their_receipts_once(database: Database, count: int) -> None:
    """Each receipt gets its report; an id that is no receipt, or no stored one, changes nothing; the
    batch sent again (as after a failure) or a later report of the same receipts leaves every first
    report standing."""
    receipts = _written(database, count)
    batch = [(receipt["id"], 5, n, "ok") for n, receipt in enumerate(receipts)]
    strays = [("not-a-receipt", 1, 1, "ok"), (receipt_id(int(datetime.now(UTC).timestamp() * 1000)), 1, 1, "ok")]
    first: dict[str, dict[str, Any]] = {}

    async def report() -> None:
        writer = _writer(database)
        await writer.report_usages([*strays, *batch])
        first.update(_stored(database))
        await writer.report_usages(batch)
        await writer.report_usages([(receipt["id"], 99, 99, "error") for receipt in receipts])
        await writer.report_usages(strays)

    event_loops.run(report())
    assert _stored(database) == first
    assert set(first) == {receipt["id"] for receipt in receipts}
    for n, receipt in enumerate(receipts):
        stored = first[receipt["id"]]
        assert (stored["prompt_tokens"], stored["completion_tokens"], stored["status"]) == (5, n, "ok")
        assert stored["reported_at"] is not None


async def _report(writer: AsyncReceipts, receipt: dict[str, Any]) -> None:
    await writer.report_usages([(receipt["id"], 3, 4, "ok")])


async def _write(writer: AsyncReceipts, receipt: dict[str, Any]) -> None:
    await writer.write(receipt)


@pytest.mark.parametrize(
    ("send", "held"),
    [
        (_report, "SELECT 1 FROM call_receipts WHERE id = %s FOR UPDATE"),
        (_write, "SELECT 1 FROM call_tokens FOR UPDATE"),
    ],
    ids=["usage report", "receipt"],
)
def test_the_event_loop_runs_other_work_while_a_commit_waits_for_postgresql(
    database: Database, send: Callable[[AsyncReceipts, dict[str, Any]], Coroutine[Any, Any, None]], held: str
) -> None:
    """Another transaction holds the row the commit changes (the receipt a report completes, the token
    a receipt marks used), so the commit waits for PostgreSQL: meanwhile the loop keeps running other
    coroutines, and once the row is let go the commit is done."""
    receipt = _written(database, 1)[0] if send is _report else _row(datetime.now(UTC), token_id="t0")

    async def commit_while_row_is_held() -> int:
        writer = _writer(database)
        await writer.report_usages([("not-a-receipt", 1, 1, "ok")])
        assert writer._usages.connection is None  # nothing to report: no connection was made for it
        # A commit that held the loop would wait for ever on the row: the server ends the holder after 30 s.
        holding = "-c idle_in_transaction_session_timeout=30000"
        async with await psycopg.AsyncConnection.connect(_libpq(database), options=holding) as holder:
            await holder.execute(held, (receipt["id"],) if "%s" in held else ())
            committing = asyncio.create_task(send(writer, receipt))
            ticks = 0
            while ticks < 50:  # 0.5 s of other work on the loop, the commit still waiting
                await asyncio.sleep(0.01)
                ticks += 1
                assert not committing.done(), "the commit went through a row another transaction holds"
            await holder.rollback()
        await asyncio.wait_for(committing, 10)
        return ticks

    assert event_loops.run(commit_while_row_is_held()) == 50
    stored = _stored(database)[receipt["id"]]
    if send is _report:
        assert (stored["prompt_tokens"], stored["completion_tokens"], stored["status"]) == (3, 4, "ok")
    else:
        assert _last_used(database, ["t0"]) == {"t0": receipt["at"]}


def test_after_its_connection_broke_a_receipt_is_committed_again_and_a_batch_fails(database: Database) -> None:
    """The server ends the writers' connections: a receipt's commit is tried again on a new connection
    and returns once stored; the batch of reports at hand raises psycopg's error (nothing of it
    stored), and the same batch sent again goes on a new connection and is taken."""
    first, second = _written(database, 2)
    now = datetime.now(UTC)
    receipts = [_row(now, token_id="t1"), _row(now + timedelta(milliseconds=1), token_id="t1")]

    async def across_broken_connections() -> None:
        writer = _writer(database)
        await writer.write(receipts[0])
        await writer.report_usages([(first["id"], 1, 1, "ok")])
        for link in (writer._receipts, writer._usages):
            assert link.connection is not None
            _terminate(database.url, link.connection.info.backend_pid)
        await writer.write(receipts[1])
        with pytest.raises(psycopg.OperationalError):
            await writer.report_usages([(second["id"], 2, 2, "ok")])
        assert _stored(database)[second["id"]]["reported_at"] is None
        await writer.report_usages([(second["id"], 2, 2, "ok")])

    event_loops.run(across_broken_connections())
    stored = _stored(database)
    assert [(stored[row["id"]]["prompt_tokens"], stored[row["id"]]["status"]) for row in (first, second)] == [
        (1, "ok"),
        (2, "ok"),
    ]
    assert {row["id"] for row in receipts} <= set(stored)
    assert _last_used(database, ["t1"]) == {"t1": receipts[1]["at"]}


def test_writers_committing_at_once_store_every_receipt_once_and_keep_one_whole_report_each(
    database: Database,
) -> None:
    """Four writers, each on its own connections, over many rounds: at once they write new receipts of
    the same few tokens and report usage of the same receipts in batches of 1-8, each in its own
    order. Every receipt is stored once, each token's newest use is kept, every reported receipt
    keeps exactly one report, whole (its tokens and status from one writer), and no statement waits
    on another's locks in a deadlock."""
    rng = random.Random(17)
    deadlocks_before = _deadlocks(database)
    start = datetime.now(UTC) - timedelta(minutes=5)
    reported: list[str] = []
    reported_rows: list[dict[str, Any]] = []
    written: list[dict[str, Any]] = []

    async def one_writer(number: int, writer: AsyncReceipts, receipts: list[str], seed: float, round_: int) -> None:
        order = random.Random(seed)
        mine = order.sample(receipts, len(receipts))
        while mine:
            size = order.randint(1, 8)
            batch, mine = mine[:size], mine[size:]
            reports: list[Usage] = [(receipt, number, number * 7, f"by-{number}") for receipt in batch]
            at = start + timedelta(milliseconds=round_ * 1000 + 100 + number * 10 + len(mine))
            row = _row(at, token_id=f"t{order.randrange(TOKENS)}")
            await asyncio.gather(writer.report_usages(reports), writer.write(row))
            written.append(row)

    async def rounds() -> None:
        writers = [_writer(database) for _ in range(WRITERS)]
        for round_ in range(ROUNDS):
            rows = [_row(start + timedelta(milliseconds=round_ * 1000 + n), token_id="t0") for n in range(30)]
            assert Committer(database, ReceiptDays(database, 0)).commit(rows) is None
            reported_rows.extend(rows)
            receipts = [row["id"] for row in rows]
            seeds = [rng.random() for _ in writers]
            await asyncio.gather(
                *(one_writer(n + 1, writer, receipts, seeds[n], round_) for n, writer in enumerate(writers))
            )
            reported.extend(receipts)

    event_loops.run(rounds())
    assert _deadlocks(database) == deadlocks_before
    stored = _stored(database)
    assert len(stored) == len(reported) + len(written) == len(set(reported) | {row["id"] for row in written})
    for receipt in reported:
        row = stored[receipt]
        number = row["prompt_tokens"]
        assert 1 <= number <= WRITERS
        assert (row["completion_tokens"], row["status"]) == (number * 7, f"by-{number}")
        assert row["reported_at"] is not None
    assert all(stored[row["id"]]["reported_at"] is None for row in written)
    for token, at in _last_used(database, [f"t{n}" for n in range(TOKENS)]).items():
        uses = [row["at"] for row in [*written, *reported_rows] if row["token_id"] == token]
        assert at == (max(uses) if uses else None)
