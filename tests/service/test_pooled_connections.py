"""PostgreSQL's pooled connections: pinged at checkout only when the server spoke to them while idle.

A round trip per checkout was a fifth of a create's. The server never speaks to an
idle connection unasked except to say goodbye (a terminated backend, a restart) or
to deliver what it listens for, so a connection whose socket stayed silent is used
as it is, and one that heard anything is pinged, and replaced if the ping fails.
Each test watches the pooled backend from a second connection (``pg_stat_activity``).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from routegate.service import engines
from routegate.service.db import Database

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


@pytest.fixture
def pool(database: Database) -> Iterator[Engine]:
    """A pool of its own, so the next checkout is the one connection the test used."""
    engine = engines.engine(database.url, kept=1)
    yield engine
    engine.dispose()


Watcher = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def watcher(database: Database) -> Iterator[Watcher]:
    url = database.url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def _backend(pool: Engine, *statements: str) -> int:
    """Run ``statements`` on a checked-out connection, return it to the pool; its backend's pid."""
    with pool.connect() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
        connection.commit()
        return int(connection.connection.driver_connection.info.backend_pid)  # type: ignore[union-attr]


def _last_query(watcher: Watcher, pid: int) -> object:
    row = watcher.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return None if row is None else row[0]


def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_silent_connection_is_used_without_a_ping(pool: Engine, watcher: Watcher) -> None:
    pid = _backend(pool, "SELECT 'last words'")
    before = _last_query(watcher, pid)
    with pool.connect() as connection:
        assert connection.connection.driver_connection.info.backend_pid == pid  # type: ignore[union-attr]
        assert _last_query(watcher, pid) == before  # nothing was sent at checkout
        assert connection.exec_driver_sql("SELECT 2").scalar() == 2


def test_a_connection_that_heard_from_the_server_is_pinged_and_kept_when_alive(pool: Engine, watcher: Watcher) -> None:
    pid = _backend(pool, "LISTEN routegate_pool_test")
    with pool.connect() as connection:  # the pooled connection's socket, without a statement
        socket = connection.connection.driver_connection.fileno()  # type: ignore[union-attr]
    before = _last_query(watcher, pid)
    watcher.execute("NOTIFY routegate_pool_test")
    arrived = select.poll()
    arrived.register(socket, select.POLLIN)
    assert arrived.poll(10_000), "the notification never reached the idle connection"
    with pool.connect() as connection:
        assert connection.connection.driver_connection.info.backend_pid == pid  # type: ignore[union-attr]
        assert _last_query(watcher, pid) != before  # the ping
    _backend(pool, "UNLISTEN *")


def test_a_connection_whose_backend_was_terminated_is_replaced_at_checkout(pool: Engine, watcher: Watcher) -> None:
    pid = _backend(pool, "SELECT 1")
    assert watcher.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    _eventually(lambda: _last_query(watcher, pid) is None, "the backend never went")
    with pool.connect() as connection:  # no error: the pool found the loss and connected again
        assert connection.connection.driver_connection.info.backend_pid != pid  # type: ignore[union-attr]
        assert connection.exec_driver_sql("SELECT 3").scalar() == 3
