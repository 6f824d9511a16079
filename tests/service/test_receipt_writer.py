"""The receipt writers on SQLite and PostgreSQL, in process, with many concurrent producers: the
writer thread's batches, and the inline receipts of a process whose event loop commits them.

Every receipt a producer saw committed is stored once with what it said, each token's
``last_used_at`` is its newest receipt's moment, and a batch the database refuses fails
every one of its producers with nothing of it stored: acknowledged means written.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from routegate.service.call_tables import CallReceipt, CallToken
from routegate.service.db import Database
from routegate.service.receipts import InlineReceipts, ReceiptDays, ReceiptWriter
from tests import event_loops

from .conftest import database_url
from .test_call_receipts import _row

TOKENS = 7
PRODUCERS = 40
ROUNDS = 10


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    for url in database_url(request.param, tmp_path):
        database = Database(url)
        database.upgrade()
        now = datetime.now(UTC)
        tokens = [
            {"id": f"t{n}", "workspace_id": "w", "token_hash": f"{n:064}", "scope": "menu", "created_at": now}
            for n in range(TOKENS)
        ]
        with database.write_connection() as connection:
            connection.execute(insert(CallToken), tokens)
        yield database
        database.dispose()


def _stored(database: Database) -> dict[str, dict[str, Any]]:
    with database.engine.connect() as connection:
        return {row.id: row._asdict() for row in connection.execute(select(CallReceipt.__table__))}


def _moment(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _produce(writer: ReceiptWriter | InlineReceipts, rows: list[dict[str, Any]]) -> list[BaseException | None]:
    async def one(row: dict[str, Any]) -> None:
        await writer.write(row)

    return await asyncio.gather(*(one(row) for row in rows), return_exceptions=True)


def test_concurrent_producers_have_every_receipt_stored_once_and_each_tokens_newest_use(database: Database) -> None:
    batches: list[int] = []
    writer = ReceiptWriter(database, ReceiptDays(database, 0), queue_size=16, on_batch=batches.append)
    writer.start()
    written: list[dict[str, Any]] = []
    try:
        start = datetime.now(UTC) - timedelta(minutes=5)
        for round_ in range(ROUNDS):
            rows = [
                _row(start + timedelta(milliseconds=round_ * 1000 + n * 7), token_id=f"t{n % TOKENS}")
                | {"workspace_id": f"w{n}", "prompt_tokens": n, "allowed": n % 3 != 0}
                for n in range(PRODUCERS)
            ]
            assert event_loops.run(_produce(writer, rows)) == [None] * PRODUCERS
            written += rows
    finally:
        writer.stop()
    stored = _stored(database)
    assert set(stored) == {row["id"] for row in written}
    for row in written:
        kept = stored[row["id"]]
        assert (kept["workspace_id"], kept["prompt_tokens"], kept["allowed"]) == (
            row["workspace_id"],
            row["prompt_tokens"],
            row["allowed"],
        )
        assert _moment(kept["at"]) == row["at"]
    with database.engine.connect() as connection:
        used = {token.id: token.last_used_at for token in connection.execute(select(CallToken.__table__))}
    for token in used:
        assert _moment(used[token]) == max(row["at"] for row in written if row["token_id"] == token)
    assert sum(batches) == len(written) and max(batches) > 1, batches  # the queue of 16 was shared


def test_a_refused_batch_fails_each_of_its_producers_and_stores_nothing_of_it(database: Database) -> None:
    writer = ReceiptWriter(database, ReceiptDays(database, 0), queue_size=64, batch_size=64)
    writer.start()
    try:
        now = datetime.now(UTC)
        first = _row(now)
        assert event_loops.run(_produce(writer, [first])) == [None]
        clashing = [_row(now + timedelta(milliseconds=n)) for n in range(1, 10)] + [dict(first)]
        outcomes = event_loops.run(_produce(writer, clashing))
        refused = [row["id"] for row, outcome in zip(clashing, outcomes, strict=True) if outcome is not None]
        admitted = [row["id"] for row, outcome in zip(clashing, outcomes, strict=True) if outcome is None]
        assert first["id"] in refused
        stored = set(_stored(database))
        assert set(admitted) <= stored  # acknowledged = written
        assert not (set(refused) - {first["id"]}) & stored  # a refused batch left nothing
        assert event_loops.run(_produce(writer, [_row(now + timedelta(seconds=1))])) == [None]  # the writer goes on
    finally:
        writer.stop()


def test_inline_receipts_from_many_loops_are_each_stored_once_with_each_tokens_newest_use(database: Database) -> None:
    """Several threads, each with its own event loop and its own concurrent producers, share one
    InlineReceipts: one commit at a time on its connection, nothing lost, nothing twice."""
    writer = InlineReceipts(database, ReceiptDays(database, 0))
    writer.start()
    start = datetime.now(UTC) - timedelta(minutes=5)
    loops = 4
    rows = [
        [
            _row(start + timedelta(milliseconds=(loop * ROUNDS + round_) * 1000 + n * 7), token_id=f"t{n % TOKENS}")
            | {"workspace_id": f"w{loop}-{n}", "prompt_tokens": n}
            for n in range(PRODUCERS // 4)
        ]
        for loop in range(loops)
        for round_ in range(ROUNDS)
    ]
    outcomes: list[list[BaseException | None]] = []

    def produce(batches: list[list[dict[str, Any]]]) -> None:
        for batch in batches:
            outcomes.append(asyncio.run(_produce(writer, batch)))

    threads = [
        threading.Thread(target=produce, args=(rows[loop * ROUNDS : (loop + 1) * ROUNDS],)) for loop in range(loops)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        writer.stop()
    written = [row for batch in rows for row in batch]
    assert [outcome for batch in outcomes for outcome in batch] == [None] * len(written)
    stored = _stored(database)
    assert set(stored) == {row["id"] for row in written}
    assert all(stored[row["id"]]["workspace_id"] == row["workspace_id"] for row in written)
    with database.engine.connect() as connection:
        used = {token.id: token.last_used_at for token in connection.execute(select(CallToken.__table__))}
    for token in used:
        assert _moment(used[token]) == max(row["at"] for row in written if row["token_id"] == token)


def test_an_inline_receipt_the_database_refuses_fails_its_producer_alone(database: Database) -> None:
    writer = InlineReceipts(database, ReceiptDays(database, 0))
    writer.start()
    try:
        now = datetime.now(UTC)
        first = _row(now)
        assert event_loops.run(_produce(writer, [first])) == [None]
        others = [_row(now + timedelta(milliseconds=n)) for n in range(1, 5)]
        outcomes = event_loops.run(_produce(writer, [*others, dict(first)]))
        assert outcomes[:-1] == [None] * len(others) and outcomes[-1] is not None
        assert set(_stored(database)) == {first["id"], *(row["id"] for row in others)}
        assert event_loops.run(_produce(writer, [_row(now + timedelta(seconds=1))])) == [None]  # it goes on
    finally:
        writer.stop()
