"""Receipts are never lost, on SQLite and PostgreSQL: kill -9 loses no acknowledged one, a full queue
makes callers wait instead of dropping, retention drops whole old days and nothing newer, and
authorizations racing revocations never admit a call after the revocation was answered."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, event, insert, text

from routegate.service import Settings
from routegate.service.call_service import ENV_RECEIPT_QUEUE
from routegate.service.call_tables import CallReceipt
from routegate.service.db import Database
from routegate.service.receipt_days import ReceiptDays
from routegate.service.receipts import at_millisecond, receipt_id

from .conftest import LiveServer, database_url, free_port
from .test_calls import authorize, issue, workspace
from .test_cli import serving

MODEL = "moonshot/kimi-k2.6"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


def _stored_receipts(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT id FROM call_receipts")).scalars())
    finally:
        engine.dispose()


def _hammer(base: str, token: str, stop: threading.Event, answers: list[tuple[float, int, Any]]) -> None:
    """Authorize until ``stop``; record (when the request started, status, receipt id) per answer."""
    with httpx.Client(base_url=base, timeout=10) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                answer = authorize(http, token, MODEL)
            except httpx.TransportError:
                return
            answers.append((started, answer.status_code, answer.json().get("receipt_id")))


def _wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the callers made no progress"
        time.sleep(0.01)


def test_kill_9_loses_no_acknowledged_receipt(url: str, tmp_path: Path) -> None:
    port = free_port()
    with serving("--port", str(port), "--database-url", url, cwd=tmp_path, port=port) as process:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            token = issue(http, workspace(http, "killed", "hermes", MODEL)["id"])["token"]
        stop = threading.Event()
        answers: list[tuple[float, int, Any]] = []
        threads = [threading.Thread(target=_hammer, args=(base, token, stop, answers)) for _ in range(8)]
        for thread in threads:
            thread.start()
        _wait_for(lambda: sum(status == 200 for _, status, _ in answers) > 20, seconds=120)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        stop.set()
        for thread in threads:
            thread.join(15)
    acknowledged = {receipt for _, status, receipt in answers if status == 200}
    assert len(acknowledged) > 20
    assert acknowledged <= _stored_receipts(url)


def test_a_full_receipt_queue_makes_callers_wait_and_drops_nothing(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_RECEIPT_QUEUE, "1")
    live = LiveServer(Settings(database_url=url)).start()
    try:
        with live.client() as http:
            token = issue(http, workspace(http, "queue", "hermes", MODEL)["id"])["token"]
        stop = threading.Event()
        answers: list[tuple[float, int, Any]] = []
        threads = [threading.Thread(target=_hammer, args=(live.url, token, stop, answers)) for _ in range(12)]
        for thread in threads:
            thread.start()
        _wait_for(lambda: len(answers) > 50, seconds=120)
        stop.set()
        for thread in threads:
            thread.join(15)
        assert answers and {status for _, status, _ in answers} == {200}
        assert {receipt for *_, receipt in answers} <= _stored_receipts(url)
        with live.client() as http:
            waits = [
                line
                for line in http.get("/metrics").text.splitlines()
                if line.startswith("routegate_call_receipt_waits_total")
            ]
        assert waits and float(waits[0].split()[-1]) >= 0
    finally:
        live.stop()


def test_revocations_racing_authorizations_never_admit_a_call_after_the_revocation(url: str) -> None:
    live = LiveServer(Settings(database_url=url)).start()
    try:
        with live.client() as http:
            created = workspace(http, "race", "hermes", MODEL)
            for _ in range(8):
                issued = issue(http, created["id"])
                stop = threading.Event()
                answers: list[tuple[float, int, Any]] = []
                threads = [
                    threading.Thread(target=_hammer, args=(live.url, issued["token"], stop, answers)) for _ in range(6)
                ]
                for thread in threads:
                    thread.start()
                _wait_for(lambda: len(answers) >= 6)  # noqa: B023 (called at once, in this round)
                assert http.delete(f"/workspaces/{created['id']}/call-tokens/{issued['id']}").status_code == 204
                revoked_at = time.monotonic()
                _wait_for(lambda: sum(started > revoked_at for started, *_ in answers) >= 10)  # noqa: B023
                stop.set()
                for thread in threads:
                    thread.join(15)
                late = [status for started, status, _ in answers if started > revoked_at]
                assert late and set(late) == {401}, late
                admitted = {receipt for _, status, receipt in answers if status == 200}
                assert admitted and admitted <= _stored_receipts(url)
    finally:
        live.stop()


def _row(at: datetime, token_id: str = "t") -> dict[str, Any]:
    at_ms = int(at.timestamp() * 1000)
    return {
        "id": receipt_id(at_ms),
        "at": at_millisecond(at_ms),
        "workspace_id": "w",
        "token_id": token_id,
        "model": MODEL,
        "allowed": True,
        "code": None,
        "payer": "platform",
        "provider": "platform",
        "upstream_vendor": "moonshot",
        "manifest_version": 1,
        "prompt_tokens": None,
        "completion_tokens": None,
        "status": None,
        "reported_at": None,
    }


def test_retention_drops_whole_old_days_and_nothing_newer(url: str) -> None:
    live = LiveServer(Settings(database_url=url)).start()
    try:
        database = live.state.database
        now = datetime.now(UTC)
        days = ReceiptDays(database, retention_days=3)
        old = [now - timedelta(days=back, hours=1) for back in (10, 9, 4)]
        kept = [now - timedelta(days=3) + timedelta(minutes=1), now - timedelta(days=1), now]
        days.ensure({moment.date() for moment in old + kept})
        rows = [_row(moment) for moment in old for _ in range(700)] + [_row(moment) for moment in kept]
        with database.write_connection() as connection:
            connection.execute(insert(CallReceipt), rows)
        dropped = days.apply_retention(now)
        remaining = _stored_receipts(url)
        assert remaining == {row["id"] for row in rows[-len(kept) :]}
        keep_from = now.date() - timedelta(days=3)
        if days.partitioned:
            assert dropped == len({m.date() for m in old})
            assert all(day >= keep_from for day in days.partitions())
        else:
            assert dropped == 3 * 700  # in batches of 1000
        assert days.apply_retention(now) == 0
    finally:
        live.stop()


def test_retention_cuts_at_utc_midnight_and_sqlite_deletes_in_bounded_transactions(url: str) -> None:
    """The cut-off day's first millisecond stays, the millisecond before it goes: on PostgreSQL by
    dropping that day's partition (no DELETE), on SQLite by DELETEs of at most 1,000 rows, each committed."""
    database = Database(url)
    database.upgrade()
    try:
        now = datetime.now(UTC)
        cut = now.date() - timedelta(days=3)
        first_kept = datetime(cut.year, cut.month, cut.day, tzinfo=UTC)
        last_gone = first_kept - timedelta(milliseconds=1)
        days = ReceiptDays(database, retention_days=3)
        days.ensure({last_gone.date(), first_kept.date()})
        kept = _row(first_kept)
        with database.write_connection() as connection:
            connection.execute(insert(CallReceipt), [_row(last_gone) for _ in range(2500)] + [kept])
        deletes: list[int] = []
        commits: list[None] = []

        def deleted(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("DELETE"):
                deletes.append(cursor.rowcount)

        event.listen(database.engine, "after_cursor_execute", deleted)
        event.listen(database.engine, "commit", lambda _conn: commits.append(None))
        dropped = days.apply_retention(now)
        assert _stored_receipts(url) == {kept["id"]}
        if days.partitioned:
            assert dropped == 1 and not deletes
            assert last_gone.date() not in days.partitions() and first_kept.date() in days.partitions()
        else:
            assert dropped == 2500
            assert deletes == [1000, 1000, 500]
            assert len(commits) == 3  # one transaction per batch
    finally:
        database.dispose()
