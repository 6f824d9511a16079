"""``Database.versioned_write``: a create's transaction, opened by reading the version it commits under.

On PostgreSQL the transaction is begun by routegate's own query (``BEGIN``, the
publish lock shared, the active version) on a connection in autocommit, so these
pin what that must not change: the version read is the active one, what the
transaction writes commits or rolls back whole, the publish lock is held to the
end, the pool gets its connection back out of autocommit (after an error too,
and a connection that cannot leave autocommit is let go), a lost connection is
SQLAlchemy's error, and the create is three round trips.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import Connection, Table, event, func, select
from sqlalchemy.exc import OperationalError

from routegate.decision import FOREIGN_RUNTIMES
from routegate.manifest import bundled_manifest_path
from routegate.service.db import PUBLISH_LOCK, Database, IdempotencyKey, active_version_for_write
from routegate.service.inserts import RowInsert
from routegate.service.publication import VersionStore, candidate

KEYS: Table = IdempotencyKey.__table__  # type: ignore[assignment]
WRITE_KEY = RowInsert(KEYS)

postgres_only = pytest.mark.parametrize("database", ["postgres"], indirect=True)


@pytest.fixture
def own(database: Database) -> Iterator[Database]:
    """The same database with a pool of its own, so the connection a test checks out is the one it used."""
    versions = VersionStore(database, foreign_runtimes=FOREIGN_RUNTIMES)
    if versions.active() is None:
        versions.bootstrap(candidate(bundled_manifest_path().read_bytes(), "the bundled manifest"), note="first")
    mine = Database(database.url)
    yield mine
    mine.dispose()


def _key(name: str) -> dict[str, Any]:
    return {"key": name, "request_hash": "h", "response": {"n": 1}, "created_at": datetime.now(UTC)}


def _stored(database: Database, name: str) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(KEYS).where(KEYS.c.key == name)) or 0)


def test_the_version_read_is_the_active_one(own: Database) -> None:
    with own.write_connection() as connection:
        active = active_version_for_write(connection)
    assert active is not None
    with own.versioned_write() as (_connection, version):
        assert version == active


def test_what_the_transaction_writes_commits_whole_or_not_at_all(own: Database) -> None:
    with own.versioned_write() as (connection, _version):
        WRITE_KEY.run(connection, _key("kept"))
        WRITE_KEY.run(connection, _key("kept too"))
    assert (_stored(own, "kept"), _stored(own, "kept too")) == (1, 1)

    with pytest.raises(RuntimeError, match="changed its mind"), own.versioned_write() as (connection, _version):
        WRITE_KEY.run(connection, _key("dropped"))
        raise RuntimeError("the caller changed its mind")
    assert _stored(own, "dropped") == 0

    with own.versioned_write() as (connection, _version):  # the connection is usable after the rollback
        WRITE_KEY.run(connection, _key("after"))
    assert _stored(own, "after") == 1


def _status(driver: psycopg.Connection[Any]) -> psycopg.pq.TransactionStatus:
    return driver.info.transaction_status


@postgres_only
def test_the_pool_gets_its_connection_back_as_it_lent_it(own: Database) -> None:
    with own.versioned_write() as (connection, _version):
        driver = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
        assert driver.autocommit is True
        assert _status(driver) == psycopg.pq.TransactionStatus.INTRANS
    with own.engine.connect() as again:
        assert again.connection.driver_connection is driver
        assert driver.autocommit is False
        assert _status(driver) == psycopg.pq.TransactionStatus.IDLE


def _lent(own: Database, way: str) -> AbstractContextManager[Connection]:
    if way == "statement_writes":
        return own.statement_writes()
    return _connection_of(own.versioned_write())


@contextmanager
def _connection_of(opened: AbstractContextManager[tuple[Connection, int | None]]) -> Iterator[Connection]:
    with opened as (connection, _version):
        yield connection


@postgres_only
@pytest.mark.parametrize("way", ["versioned_write", "statement_writes"])
def test_a_connection_lent_in_autocommit_comes_back_out_of_it_after_an_error_too(own: Database, way: str) -> None:
    with pytest.raises(RuntimeError, match="changed its mind"), _lent(own, way) as connection:
        driver = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
        assert driver.autocommit is True
        WRITE_KEY.run(connection, _key(f"error, {way}"))
        raise RuntimeError("the caller changed its mind")
    with own.engine.connect() as again:
        assert again.connection.driver_connection is driver
        assert driver.autocommit is False
        assert _status(driver) == psycopg.pq.TransactionStatus.IDLE


@postgres_only
def test_a_connection_that_cannot_leave_autocommit_is_never_pooled_again(own: Database) -> None:
    """Left inside a transaction the lender did not open, psycopg refuses to leave autocommit: the
    connection is let go, and the pool lends a fresh one instead."""
    with own.statement_writes() as connection:
        driver = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
        driver.execute("BEGIN")
    assert driver.closed
    with own.engine.connect() as again:
        fresh = cast("psycopg.Connection[Any]", again.connection.driver_connection)
        assert fresh is not driver
        assert fresh.autocommit is False
    with own.versioned_write() as (connection, _version):
        WRITE_KEY.run(connection, _key("after a connection let go"))
    assert _stored(own, "after a connection let go") == 1


@postgres_only
def test_a_connection_lost_inside_the_transaction_is_sqlalchemys_error_and_let_go(own: Database) -> None:
    url = own.url.replace("postgresql+psycopg://", "postgresql://", 1)
    with pytest.raises(OperationalError) as lost, own.versioned_write() as (connection, _version):
        driver = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
        _terminate(url, driver.info.backend_pid)
        WRITE_KEY.run(connection, _key("lost"))
    assert lost.value.connection_invalidated
    assert driver.closed
    with own.versioned_write() as (connection, _version):  # the pool connects afresh
        WRITE_KEY.run(connection, _key("after the loss"))
    assert (_stored(own, "lost"), _stored(own, "after the loss")) == (0, 1)


@postgres_only
def test_the_publish_lock_is_held_shared_until_the_transaction_ends(own: Database) -> None:
    url = own.url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as publisher:

        def exclusive() -> bool:
            taken = publisher.execute("SELECT pg_try_advisory_lock(%s)", (PUBLISH_LOCK,)).fetchone()
            if taken == (True,):
                publisher.execute("SELECT pg_advisory_unlock(%s)", (PUBLISH_LOCK,))
            return taken == (True,)

        with own.versioned_write():
            assert not exclusive()
        assert exclusive()


@postgres_only
def test_a_create_is_three_round_trips(own: Database) -> None:
    """Opened with its version, its rows in one statement, its commit: psycopg sends no BEGIN of its own."""
    with own.engine.connect() as warm:  # connected, so the trace starts at the create
        pgconn = warm.connection.driver_connection.pgconn  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as folder:
        trace = Path(folder) / "trace"
        with trace.open("w") as sink:
            pgconn.trace(sink.fileno())
            pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
            try:
                with own.versioned_write() as (connection, _version):
                    WRITE_KEY.run(connection, _key("traced"))
            finally:
                pgconn.untrace()
        sent = [line.split("\t") for line in trace.read_text().splitlines()]
    # The frontend's messages that wait for the server: a simple query, or the end of an extended one.
    waits = [fields[2:] for fields in sent if fields[0] == "F" and fields[2] in ("Query", "Sync")]
    assert [message for message, *_ in waits] == ["Query", "Sync", "Query"], sent
    assert waits[0][1].lstrip().startswith('"BEGIN; SELECT pg_advisory_xact_lock_shared')
    assert waits[2][1].strip() == '"COMMIT"'


@postgres_only
def test_a_connection_lost_before_the_first_query_is_sqlalchemys_error_and_let_go(own: Database) -> None:
    url = own.url.replace("postgresql+psycopg://", "postgresql://", 1)

    def terminate(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        _terminate(url, dbapi_connection.info.backend_pid)

    event.listen(own.engine, "checkout", terminate)
    try:
        with pytest.raises(OperationalError) as lost, own.versioned_write():
            pytest.fail("the transaction began on a terminated connection")
    finally:
        event.remove(own.engine, "checkout", terminate)
    assert lost.value.connection_invalidated
    with own.versioned_write() as (_connection, version):  # the pool connects afresh
        assert version is not None


def _terminate(url: str, pid: int) -> None:
    """Ends the backend ``pid`` from another connection, and waits until it is gone."""
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} still running 10 s after it was terminated"
            time.sleep(0.01)
