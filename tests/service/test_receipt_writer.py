"""The receipt writers on SQLite and PostgreSQL, in process, with many concurrent producers: the
writer thread's batches, and the inline receipts of a process whose event loop commits them.

Every receipt a producer saw committed is stored once with what it said, each token's
``last_used_at`` is its newest receipt's moment, and a batch the database refuses fails
every one of its producers with nothing of it stored: acknowledged means written. A gateway's
usage report, one per call, is one statement in no transaction of its own on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import OperationalError

from routegate.codes import Code
from routegate.service._receipt_commits import Committer
from routegate.service.async_receipts import AsyncReceipts
from routegate.service.call_service import CallService, CallSettings
from routegate.service.call_tables import CallReceipt, CallToken
from routegate.service.db import Database, Workspace
from routegate.service.http_errors import ServiceCode, ServiceError
from routegate.service.inserts import RowInsert
from routegate.service.loop_receipts import AdaptiveReceipts, InlineReceipts
from routegate.service.receipt_days import ReceiptDays
from routegate.service.receipt_queries import ReceiptQueries
from routegate.service.receipts import ReceiptWriter, receipt_id
from routegate.service.settings import Settings
from routegate.service.state import ServiceState
from routegate.service.store import Store
from tests import event_loops

from .conftest import database_url
from .test_call_receipts import _row
from .test_operator_pages import fleet_row
from .test_versioned_write import _terminate

TOKENS = 7
PRODUCERS = 40
ROUNDS = 10
AnyWriter = ReceiptWriter | InlineReceipts | AdaptiveReceipts


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from with_tokens(request.param, tmp_path)


def with_tokens(backend: str, folder: Path) -> Iterator[Database]:
    """A fresh migrated database of ``backend`` holding the call tokens t0 to t6 (receipts name them)."""
    for url in database_url(backend, folder):
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


async def _produce(writer: AnyWriter, rows: list[dict[str, Any]]) -> list[BaseException | None]:
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


def test_producers_waiting_for_room_in_a_full_queue_take_no_thread_a_route_needs(database: Database) -> None:
    """The routes' threads (anyio's default limiter, two here) stay free while five producers wait
    for room; once the writer runs, every receipt is stored."""
    waits: list[None] = []
    writer = ReceiptWriter(database, ReceiptDays(database, 0), queue_size=1, on_wait=lambda: waits.append(None))
    now = datetime.now(UTC)
    rows = [_row(now + timedelta(milliseconds=n)) for n in range(6)]

    async def scenario() -> str:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        producers = [asyncio.create_task(writer.write(row)) for row in rows]
        try:
            deadline = time.monotonic() + 10
            while len(waits) < len(rows) - 1:  # the first is queued; the writer is not running yet
                assert time.monotonic() < deadline, f"{len(waits)} producers found the queue full"
                await asyncio.sleep(0.01)
            read = await asyncio.wait_for(anyio.to_thread.run_sync(lambda: "a route's read"), 10)
            assert not any(producer.done() for producer in producers)
        finally:  # pass or fail, the waiting producers get their room
            writer.start()
            await asyncio.gather(*producers)
        return read

    try:
        assert event_loops.run(scenario()) == "a route's read"
    finally:
        writer.stop()
    assert {row["id"] for row in rows} <= set(_stored(database))


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


def test_adaptive_receipts_commit_on_the_loop_while_it_is_quiet_and_in_the_writer_thread_while_it_is_busy(
    database: Database,
) -> None:
    """Each receipt is committed by the thread its moment's load calls for, and stored either way."""
    loads = [False, True, True, False, True]
    busy = iter(loads)
    writer = AdaptiveReceipts(database, ReceiptDays(database, 0), queue_size=16, busy=lambda: next(busy))
    committed_on: list[str] = []

    def committed(_connection: Any) -> None:
        committed_on.append(threading.current_thread().name)

    event.listen(database.engine, "commit", committed)
    writer.start()
    try:
        rows = [_row(datetime.now(UTC) + timedelta(milliseconds=n)) for n in range(len(loads))]

        async def one_by_one() -> tuple[str, list[set[str]]]:
            threads = []
            for row in rows:
                committed_on.clear()
                await writer.write(row)
                threads.append(set(committed_on))
            return threading.current_thread().name, threads

        loop, threads = event_loops.run(one_by_one())
    finally:
        writer.stop()
        event.remove(database.engine, "commit", committed)
    assert threads == [{"routegate-receipt-writer" if load else loop} for load in loads]
    assert {row["id"] for row in rows} == set(_stored(database))


def _now_one_now_the_other(instance: Database) -> AdaptiveReceipts:
    """Inline or through the writer thread, at random from one receipt to the next; inline on PostgreSQL
    over an asyncio connection, as the LiteLLM proxy deciding in process does."""
    busy = random.Random(7)
    days = ReceiptDays(instance, 0)
    quiet = AsyncReceipts(instance.url, days) if instance.engine.dialect.name == "postgresql" else None
    return AdaptiveReceipts(instance, days, queue_size=16, busy=lambda: busy.random() < 0.5, quiet=quiet)


WRITERS: dict[str, Callable[[Database], AnyWriter]] = {
    "batches": lambda instance: ReceiptWriter(instance, ReceiptDays(instance, 0), queue_size=16),
    "one at a time": lambda instance: InlineReceipts(instance, ReceiptDays(instance, 0)),
    "by the loop's load": _now_one_now_the_other,
}
_Writer = TypeVar("_Writer", bound=AnyWriter)


@contextmanager
def _instances(database: Database, make: Callable[[Database], _Writer], count: int = 3) -> Iterator[list[_Writer]]:
    """``count`` instances of the service on ``database``, each with a started writer; stopped and let go after."""
    instances = [Database(database.url) for _ in range(count)]
    writers = [make(instance) for instance in instances]
    try:
        for writer in writers:
            writer.start()
        yield writers
    finally:
        for writer, instance in zip(writers, instances, strict=True):
            writer.stop()
            instance.dispose()


@pytest.mark.parametrize("kind", WRITERS)
def test_instances_writing_at_once_store_every_receipt_once_without_a_deadlock(database: Database, kind: str) -> None:
    """Three instances' writers, each with concurrent producers, every batch touching the same few
    tokens in a random order, over many rounds: nothing lost or doubled, each token's newest use
    kept, and (on PostgreSQL) no deadlock along the way. Inline, each receipt is a batch of one:
    PostgreSQL's statement for those differs from the batches'."""
    _add_many_tokens(database)
    rng = random.Random(7)
    deadlocks_before = _deadlocks(database)
    start = datetime.now(UTC) - timedelta(minutes=5)
    written: list[dict[str, Any]] = []

    async def round_of(writers: list[AnyWriter], rows: list[list[dict[str, Any]]]) -> list[list[BaseException | None]]:
        return list(await asyncio.gather(*(_produce(writer, part) for writer, part in zip(writers, rows, strict=True))))

    with _instances(database, WRITERS[kind]) as writers:
        for round_ in range(3 * ROUNDS):
            rows = [
                [
                    _row(
                        start + timedelta(milliseconds=round_ * 1000 + n * 3 + part),
                        token_id=f"t{rng.randrange(TOKENS)}",
                    )
                    for n in range(PRODUCERS // 2)
                ]
                for part in range(len(writers))
            ]
            outcomes = event_loops.run(round_of(writers, rows))
            assert outcomes == [[None] * len(part) for part in rows]
            written += [row for part in rows for row in part]
    assert _deadlocks(database) == deadlocks_before
    stored = _stored(database)
    assert set(stored) == {row["id"] for row in written} and len(stored) == len(written)
    for token, at in _last_used(database, [f"t{n}" for n in range(TOKENS)]).items():
        assert at == max(row["at"] for row in written if row["token_id"] == token)


def test_a_receipt_written_alone_is_stored_as_in_a_batch_and_moves_its_tokens_use_only_forward(
    database: Database,
) -> None:
    """A family of receipts (admitted and refused, usage reported or not, each kind of token: never
    used, used before it, used after it, unknown), each written alone and its twin in a batch with
    others: the two stored rows are alike but for their ids, and each token's newest use is the
    same after either."""
    now = datetime.now(UTC).replace(microsecond=0)
    tokens = {"never": None, "before": now - timedelta(hours=1), "after": now + timedelta(hours=1), "unknown": None}
    with database.write_connection() as connection:
        connection.execute(
            insert(CallToken),
            [
                {
                    "id": f"{twin}-{kind}",
                    "workspace_id": "w",
                    "token_hash": f"{twin}-{kind}".rjust(64, "0"),
                    "scope": "menu",
                    "created_at": now - timedelta(days=1),
                    "last_used_at": used,
                }
                for kind, used in tokens.items()
                if kind != "unknown"
                for twin in ("alone", "batch")
            ],
        )
    variants: list[dict[str, Any]] = [
        {"allowed": True},
        {
            "allowed": False,
            "code": str(Code.UNREGISTERED_MODEL_FOR_RUNTIME),
            "payer": None,
            "provider": None,
            "upstream_vendor": None,
        },
        {"prompt_tokens": 12, "completion_tokens": 0, "status": "ok", "reported_at": now},
    ]
    committer = Committer(database, ReceiptDays(database, 0))
    pairs = []
    try:
        for n, (kind, variant) in enumerate((kind, variant) for kind in tokens for variant in variants):
            at = now + timedelta(milliseconds=n)
            alone, twin = (_row(at, token_id=f"{which}-{kind}") | variant for which in ("alone", "batch"))
            assert committer.commit([alone]) is None
            assert committer.commit([twin, _row(at - timedelta(seconds=1), token_id="t0")]) is None
            pairs.append((alone, twin))
    finally:
        committer.let_go()
    stored = _stored(database)
    for alone, twin in pairs:
        assert _without_ids(stored[alone["id"]]) == _without_ids(stored[twin["id"]])
        assert _moment(stored[alone["id"]]["at"]) == alone["at"]
    newest = {row["token_id"]: row["at"] for pair in pairs for row in pair}  # written in order of time
    assert _last_used(database, list(newest)) == {
        f"{twin}-{kind}": max(at for at in (tokens[kind], newest[f"{twin}-{kind}"]) if at is not None)
        for kind in tokens
        if kind != "unknown"
        for twin in ("alone", "batch")
    }


def _without_ids(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in {"id", "token_id"}}


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_usage_report_is_one_statement_outside_any_transaction_on_postgresql(database: Database) -> None:
    """No BEGIN and COMMIT around it (two round trips more): the report and its answer in one
    autocommitted UPDATE ... RETURNING; a second report of the receipt is refused, naming the
    first, by one more read and nothing else."""
    (receipt,) = _written(database, 1)
    queries = ReceiptQueries(database)
    with _statements(database) as seen:
        answer = queries.report_usage(receipt["id"], 12, 30, "ok")
        first = list(seen)
        with pytest.raises(ServiceError) as again:
            queries.report_usage(receipt["id"], 1, 1, "error")
    assert answer["usage"] == {"prompt_tokens": 12, "completion_tokens": 30} and answer["status"] == "ok"
    assert first == [("UPDATE", True)]
    assert seen[len(first) :] == [("UPDATE", True), ("SELECT", True)]
    assert again.value.code is ServiceCode.USAGE_ALREADY_REPORTED and again.value.context["status"] == "ok"


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_usage_batch_is_one_round_trip_its_receipts_changed_in_id_order_on_postgresql(database: Database) -> None:
    """A batch's reports go in one pipeline that waits for the server once (one Sync), each receipt's
    UPDATE in receipt id order whatever order the batch names them in (so racing batches lock their
    receipts in one order), a receipt named twice keeping its first report; one read follows, for
    the report not taken alone."""
    receipts = sorted(receipt["id"] for receipt in _written(database, 6))
    named = random.Random(3).sample(receipts, len(receipts))
    batch = [(receipt, 7, n, "ok") for n, receipt in enumerate([*named, named[0]])]
    traces: list[Any] = []

    def trace(dbapi_connection: Any, *_: Any) -> None:
        pgconn = dbapi_connection.pgconn
        sink = (tmp / f"trace-{len(traces)}").open("w")
        traces.append((pgconn, sink))
        pgconn.trace(sink.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        event.listen(database.engine, "checkout", trace)
        try:
            answer = ReceiptQueries(database).report_usages(batch)
        finally:
            event.remove(database.engine, "checkout", trace)
            for pgconn, sink in traces:
                pgconn.untrace()
                sink.close()
        sent = [line.split("\t") for path in sorted(tmp.iterdir()) for line in path.read_text().splitlines()]
    assert answer == {"reported": named, "already_reported": [named[0]], "not_found": []}
    sent_by_us = [fields[2:] for fields in sent if fields[0] == "F"]
    waits = [place for place, (message, *_) in enumerate(sent_by_us) if message in ("Query", "Sync")]
    assert len(waits) == 2, sent_by_us  # the batch, then the read that places the report not taken
    batch_sent, read_sent = sent_by_us[: waits[0]], sent_by_us[waits[0] + 1 : waits[1]]
    assert [" ".join(fields).split()[2] for fields in batch_sent if fields[0] == "Parse"] == ['"UPDATE']
    assert [" ".join(fields).split()[2] for fields in read_sent if fields[0] == "Parse"] == ['"SELECT']
    bound = [next(r for r in receipts if r in " ".join(fields)) for fields in batch_sent if fields[0] == "Bind"]
    first = receipts.index(named[0])
    assert bound == [*receipts[: first + 1], named[0], *receipts[first + 1 :]]
    stored = _stored(database)
    assert {receipt: stored[receipt]["completion_tokens"] for receipt in receipts} == {
        receipt: n for n, receipt in enumerate(named)
    }


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_usage_batch_whose_connection_is_lost_fails_as_sqlalchemys_error_and_is_taken_when_sent_again(
    database: Database,
) -> None:
    """The pipeline runs on psycopg's own connection: a lost link is SQLAlchemy's error (the
    service answers it 503), the connection is never pooled again, and the batch sent again is taken."""
    receipts = [receipt["id"] for receipt in _written(database, 3)]
    batch = [(receipt, 1, 2, "ok") for receipt in receipts]
    url = database.url.replace("postgresql+psycopg://", "postgresql://", 1)

    def terminate(dbapi_connection: Any, *_: Any) -> None:
        _terminate(url, dbapi_connection.info.backend_pid)

    event.listen(database.engine, "checkout", terminate)
    try:
        with pytest.raises(OperationalError) as lost:
            ReceiptQueries(database).report_usages(batch)
    finally:
        event.remove(database.engine, "checkout", terminate)
    assert lost.value.connection_invalidated
    assert all(row["reported_at"] is None for row in _stored(database).values())
    assert ReceiptQueries(database).report_usages(batch)["reported"] == receipts


def test_a_call_service_whose_receipts_go_by_the_writer_thread_alone_takes_no_in_process_usage_report(
    tmp_path: Path,
) -> None:
    """The service's gateways report over HTTP: only a call service given ``loop_busy`` (a gateway
    deciding in process) commits usage reports on its loop, beside its inline receipts."""
    state = ServiceState(Settings(database_url=f"sqlite:///{tmp_path / 'calls.db'}"))
    try:
        calls = CallService(state, CallSettings.from_env(), CollectorRegistry())
        with pytest.raises(TypeError, match="loop_busy"):
            event_loops.run(calls.report_usages([(receipt_id(0), 1, 1, "ok")]))
    finally:
        state.close()


@pytest.mark.parametrize("count", [1, 3])
def test_an_in_process_gateways_usage_reports_complete_their_receipts_once(database: Database, count: int) -> None:
    """A gateway deciding in process reports usage in batches, committed as its receipts are: each
    receipt gets its batch's report; an id that is no receipt, or no stored one, changes nothing; and
    the batch sent again (as after a failed commit) or a later report of the same receipts leaves
    every first report standing."""
    receipts = _written(database, count)
    batch = [(receipt["id"], 5, n, "ok") for n, receipt in enumerate(receipts)]
    strays = [("not-a-receipt", 1, 1, "ok"), (receipt_id(int(time.time() * 1000)), 1, 1, "ok")]
    inline = InlineReceipts(database, ReceiptDays(database, 0))
    try:
        event_loops.run(inline.report_usages([*batch, *strays]))
        first = _stored(database)
        event_loops.run(inline.report_usages(batch))
        event_loops.run(inline.report_usages([(receipt["id"], 99, 99, "error") for receipt in receipts]))
    finally:
        inline.stop()
    assert _stored(database) == first
    assert set(first) == {receipt["id"] for receipt in receipts}
    for n, receipt in enumerate(receipts):
        assert (first[receipt["id"]]["prompt_tokens"], first[receipt["id"]]["completion_tokens"]) == (5, n)
        assert first[receipt["id"]]["status"] == "ok" and first[receipt["id"]]["reported_at"] is not None


def test_gateways_in_process_reporting_the_same_receipts_at_once_leave_one_whole_report_each(
    database: Database,
) -> None:
    """Three instances' inline writers, two threads each, report the same receipts at once in batches
    of 1-8, in their own orders, while writing new receipts on the same connections, over many
    rounds: each receipt keeps exactly one report, whole (its tokens and status from one reporter),
    every new receipt is stored once, unreported, and (on PostgreSQL, where a batch is one implicit
    transaction) no batch waits on another's locks in a deadlock."""
    rng = random.Random(11)
    deadlocks_before = _deadlocks(database)
    start = datetime.now(UTC) - timedelta(minutes=5)
    reported: list[str] = []
    fresh: list[dict[str, Any]] = []
    failures: list[BaseException] = []

    def reporter(number: int, writer: InlineReceipts, receipts: list[str], seed: int) -> None:
        order = random.Random(seed)
        mine = order.sample(receipts, len(receipts))
        try:
            while mine:
                size = order.randint(1, 8)
                batch, mine = mine[:size], mine[size:]
                reports = [(receipt, number, number * 7, f"by-{number}") for receipt in batch]
                event_loops.run(writer.report_usages(reports))
                if order.random() < 0.3:
                    row = _row(start + timedelta(seconds=order.random()), token_id="t1")
                    event_loops.run(writer.write(row))
                    fresh.append(row)
        except BaseException as error:
            failures.append(error)

    with _instances(database, WRITERS["one at a time"]) as writers:
        for round_ in range(ROUNDS):
            rows = [_row(start + timedelta(milliseconds=round_ * 1000 + n), token_id="t0") for n in range(30)]
            assert Committer(database, ReceiptDays(database, 0)).commit(rows) is None
            receipts = [row["id"] for row in rows]
            threads = [
                threading.Thread(target=reporter, args=(2 * n + part, writer, receipts, rng.random()))
                for n, writer in enumerate(writers)
                for part in range(2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert failures == []
            reported += receipts
    assert _deadlocks(database) == deadlocks_before
    stored = _stored(database)
    for receipt in reported:
        row = stored[receipt]
        number = row["prompt_tokens"]
        assert (row["completion_tokens"], row["status"]) == (number * 7, f"by-{number}")
        assert row["reported_at"] is not None
    assert len({row["id"] for row in fresh}) == len(fresh)
    assert all(stored[row["id"]]["reported_at"] is None for row in fresh)
    assert len(stored) == len(reported) + len(fresh)


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
@pytest.mark.parametrize("count", [1, 3])
def test_an_in_process_gateways_usage_batch_is_one_autocommitted_statement_on_postgresql(
    database: Database, count: int
) -> None:
    """No BEGIN and COMMIT around a batch (each report stands alone): one UPDATE, every report in
    psycopg's one ``executemany``, on the connection the receipts are committed on."""
    receipts = _written(database, count)
    inline = InlineReceipts(database, ReceiptDays(database, 0))
    try:
        with _statements(database) as seen:
            event_loops.run(inline.report_usages([(receipt["id"], 5, n, "ok") for n, receipt in enumerate(receipts)]))
    finally:
        inline.stop()
    assert seen == [("UPDATE", True)]
    stored = _stored(database)
    assert [stored[receipt["id"]]["completion_tokens"] for receipt in receipts] == list(range(count))


def _written(database: Database, count: int) -> list[dict[str, Any]]:
    """``count`` receipts of token t0, committed."""
    receipts = [_row(datetime.now(UTC) + timedelta(milliseconds=n), token_id="t0") for n in range(count)]
    committer = Committer(database, ReceiptDays(database, 0))
    assert committer.commit(receipts) is None
    committer.let_go()
    return receipts


@contextmanager
def _statements(database: Database) -> Iterator[list[tuple[str, bool]]]:
    """Each statement run meanwhile: its first word, and whether its connection was in autocommit."""
    seen: list[tuple[str, bool]] = []

    def executed(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((statement.split()[0], connection.connection.dbapi_connection.autocommit))

    event.listen(database.engine, "before_cursor_execute", executed)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", executed)


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_two_instances_writing_batches_that_share_tokens_in_opposite_orders_never_deadlock(
    database: Database,
) -> None:
    """Two instances' writers each commit a batch touching tokens t1, t2, t3, in opposite orders.
    Locking in token order, they queue one behind the other and both commit; each in its own
    order, PostgreSQL would find a deadlock and fail one of them."""
    _add_many_tokens(database)
    now = datetime.now(UTC)
    batches = [
        [_row(now + timedelta(milliseconds=n), token_id=token) for n, token in enumerate(("t2", "t3", "t1"))],
        [_row(now + timedelta(milliseconds=10 + n), token_id=token) for n, token in enumerate(("t1", "t3", "t2"))],
    ]
    instances = [Database(database.url), Database(database.url)]
    committers = [Committer(instance, ReceiptDays(instance, 0)) for instance in instances]
    try:
        outcomes = _in_flight_together(
            database,
            "t3",
            [partial(committer.commit, batch) for committer, batch in zip(committers, batches, strict=True)],
        )
    finally:
        for committer, instance in zip(committers, instances, strict=True):
            committer.let_go()
            instance.dispose()
    assert outcomes == [None, None]
    assert {row["id"] for batch in batches for row in batch} <= set(_stored(database))
    assert _last_used(database, ["t1", "t2", "t3"]) == {row["token_id"]: row["at"] for row in batches[1]}


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
@pytest.mark.parametrize("change", ["delete", "model change"])
def test_a_workspace_change_and_a_writer_sharing_its_tokens_never_deadlock(database: Database, change: str) -> None:
    """A workspace's delete revokes its tokens, and a change of its model marks them changed, while
    another instance's writer commits a batch touching two of them and a third token between
    them (held until both are in flight). The workspace's tokens were issued out of id order, so
    taken as read they would be locked in the opposite order to the writer's."""
    _add_many_tokens(database)
    row = fleet_row(0)
    with database.write_connection() as connection:
        RowInsert(Workspace.__table__).run(connection, row)  # type: ignore[arg-type]
        now = datetime.now(UTC)
        connection.execute(
            insert(CallToken),
            [
                {
                    "id": token,
                    "workspace_id": row["id"],
                    "token_hash": f"{token:0>64}",
                    "scope": "menu",
                    "created_at": now,
                }
                for token in ("w2", "w1")
            ],
        )
    batch = [_row(now + timedelta(milliseconds=n), token_id=token) for n, token in enumerate(("w1", "w1x", "w2"))]
    with database.write_connection() as connection:
        connection.execute(
            insert(CallToken),
            [
                {
                    "id": "w1x",
                    "workspace_id": "other",
                    "token_hash": "w1x".rjust(64, "0"),
                    "scope": "menu",
                    "created_at": now,
                }
            ],
        )
    writer = Database(database.url)
    committer = Committer(writer, ReceiptDays(writer, 0))

    def changed() -> Exception | None:
        if change == "delete":
            Store(database, name_suffix_limit=5).delete(row["id"])
        else:
            with database.write_connection() as connection:
                connection.execute(
                    text("UPDATE workspaces SET model = 'kimi-coding/k2-next' WHERE id = :id"), {"id": row["id"]}
                )
        return None

    try:
        outcomes = _in_flight_together(database, "w1x", [lambda: committer.commit(batch), changed])
    finally:
        committer.let_go()
        writer.dispose()
    assert outcomes == [None, None]
    assert {receipt["id"] for receipt in batch} <= set(_stored(database))


def _in_flight_together(
    database: Database, held: str, contenders: list[Callable[[], Exception | None]]
) -> list[Exception | BaseException | None]:
    """Runs each contender in a thread while another transaction holds token ``held``, starting
    the next only once the one before waits for a row lock; then lets ``held`` go. Their
    outcomes (a raised error counts as one), after checking PostgreSQL broke no deadlock."""
    outcomes: list[Exception | BaseException | None] = [None] * len(contenders)

    def run(number: int) -> None:
        try:
            outcomes[number] = contenders[number]()
        except Exception as error:
            outcomes[number] = error

    deadlocks_before = _deadlocks(database)
    threads = [threading.Thread(target=run, args=(number,)) for number in range(len(contenders))]
    with database.engine.connect() as holder:
        holder.execute(text("SELECT id FROM call_tokens WHERE id = :id FOR UPDATE"), {"id": held})
        for number, thread in enumerate(threads):
            thread.start()
            _wait_for_lock_waits(database, number + 1)
        holder.rollback()
    for thread in threads:
        thread.join(30)
    assert _deadlocks(database) == deadlocks_before
    return outcomes


def _last_used(database: Database, tokens: list[str]) -> dict[str, datetime | None]:
    with database.engine.connect() as connection:
        used = connection.execute(select(CallToken.id, CallToken.last_used_at).where(CallToken.id.in_(tokens))).all()
    return {token: None if at is None else _moment(at) for token, at in used}


def _add_many_tokens(database: Database) -> None:
    """Enough other tokens that PostgreSQL looks each batch's tokens up one by one by key, as in a
    real fleet (on a handful it scans the table, which takes them in the table's order)."""
    now = datetime.now(UTC)
    with database.write_connection() as connection:
        connection.execute(
            insert(CallToken),
            [
                {"id": f"many{n}", "workspace_id": "w", "token_hash": f"x{n:063}", "scope": "menu", "created_at": now}
                for n in range(5000)
            ],
        )
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE call_tokens")


def _deadlocks(database: Database) -> int:
    """PostgreSQL's count of deadlocks it broke in this database; 0 on SQLite, whose writers take turns."""
    if database.engine.dialect.name != "postgresql":
        return 0
    with database.engine.connect() as connection:
        return int(
            connection.exec_driver_sql(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            ).scalar_one()
        )


def _wait_for_lock_waits(database: Database, count: int) -> None:
    """Until ``count`` sessions of this database wait for a row lock: each batch has reached the token it waits for."""
    deadline = time.monotonic() + 30
    with database.engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).scalar_one()
            connection.rollback()
            if waiting >= count:
                return
            time.sleep(0.01)
    raise AssertionError(f"{count} sessions never waited for a lock")
