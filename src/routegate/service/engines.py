"""Engines and their connections: how the service talks to SQLite and PostgreSQL.

SQLite runs in WAL mode and every write transaction starts with ``BEGIN
IMMEDIATE``, so concurrent writers wait instead of failing on a stale
snapshot; the service's own writers wait in a queue (:class:`WriterQueue`)
rather than on SQLite's polling busy handler, and a thread of the service's copies the
WAL back into the file (:class:`WalCheckpoints`). A pooled PostgreSQL connection is
pinged at checkout when the server spoke to it while idle, so the pool recovers by
itself when the server comes back.
What runs over these connections (tables, transactions, snapshots, locks) is :mod:`.db`'s.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError

__all__ = [
    "WRITE",
    "WalCheckpoints",
    "WriterQueue",
    "driver_errors",
    "engine",
    "in_autocommit",
    "read_only_engine",
    "sqlite_file",
    "sqlite_statement",
    "wal_checkpoints",
    "writer_queue",
]

WRITE = "routegate_write"
"""The execution option that marks a connection as a writer's: on SQLite, its transactions begin IMMEDIATE."""
_SQLITE_BUSY_SECONDS = 30
_CHECKPOINT_SECONDS = 0.1  # between the background checkpoints: the WAL stays far below SQLite's 1000 pages


class WriterQueue:
    """A SQLite file's writers in this service, one at a time, each woken as soon as the last is done.

    SQLite's busy handler polls: a writer that finds the file locked sleeps 1, 2, 5, 10, ... ms
    before it looks again, though a create holds the lock for a fraction of a millisecond. So
    writers queue here instead: this process's threads on a lock, and the processes sharing the
    file (``serve --workers N``) on an ``flock`` of a file beside it. SQLite's own lock and busy
    timeout still stand against any other writer (a migration, another program).
    """

    def __init__(self, beside: Path) -> None:
        self._path = beside.with_name(f"{beside.name}-writers")
        self._threads = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._threads:  # first: threads of one process share the descriptor, and so its flock
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class WalCheckpoints:
    """Copies a SQLite file's WAL back into the file from a thread of its own, every 0.1 s.

    Otherwise SQLite does it inside the commit that takes the WAL past 1000 pages: every few
    hundred commits, one writer's commit also copies and syncs 4 MB, and the calls waiting on
    that commit (a batch of receipts, a create) wait tens of times longer than usual. A
    PASSIVE checkpoint blocks neither readers nor writers, so from here it delays nobody, and
    the WAL stays small enough that SQLite's own checkpoint never comes due. Checkpoints of
    other processes on the same file (``serve --workers N``) only find less to do.
    """

    def __init__(self, file: Path) -> None:
        self._file = file
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="routegate-wal-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        connection = sqlite3.connect(self._file, timeout=_SQLITE_BUSY_SECONDS, isolation_level=None)
        try:
            while not self._stopped.wait(_CHECKPOINT_SECONDS):
                with contextlib.suppress(sqlite3.Error):  # busy now: SQLite's own checkpoints still run; next time
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            connection.close()


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite database URL; none for an in-memory SQLite database or PostgreSQL."""
    parsed = make_url(url)
    file = parsed.database
    if parsed.get_backend_name() != "sqlite" or not file or file == ":memory:" or file.startswith("file:"):
        return None
    return Path(file)


def writer_queue(url: str) -> WriterQueue | None:
    """The queue for a SQLite file; none for an in-memory SQLite database or PostgreSQL."""
    file = sqlite_file(url)
    return None if file is None else WriterQueue(file)


def wal_checkpoints(url: str) -> WalCheckpoints | None:
    """The background checkpoints for a SQLite file; none for an in-memory SQLite database or PostgreSQL."""
    file = sqlite_file(url)
    return None if file is None else WalCheckpoints(file)


def engine(url: str, *, kept: int) -> Engine:
    """``url``'s engine, its pool keeping ``kept`` connections once it has opened them.

    A connection beyond those is closed when it is given back, so a service whose threads use
    more at once would open (and on PostgreSQL fork a server process for) one per request.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": _SQLITE_BUSY_SECONDS, "check_same_thread": False},
            pool_size=kept,
            max_overflow=32,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, pool_size=kept, max_overflow=30, pool_timeout=10, connect_args={"connect_timeout": 5})
    _ping_when_heard_from(engine)
    return engine


@contextmanager
def in_autocommit(pooled: Engine) -> Iterator[Connection]:
    """A PostgreSQL connection from ``pooled`` in psycopg's autocommit while checked out, set on
    psycopg's own connection (SQLAlchemy's ``isolation_level`` option does the same through its
    connection events, which cost a create about 50 us more CPU). One that cannot be set back is
    never pooled again."""
    with pooled.connect() as connection:
        driver: Any = connection.connection.driver_connection
        driver.autocommit = True
        try:
            yield connection
        finally:
            try:
                driver.autocommit = False
            except Exception as error:  # the link is lost, or still in a transaction: never pooled in autocommit
                connection.invalidate(error)


@contextmanager
def driver_errors(connection: Connection, statement: str) -> Iterator[Any]:
    """The driver's own connection under ``connection``, for what Core cannot send (several results
    in one query, a pipeline); its errors are raised as SQLAlchemy's, which the service answers,
    and a connection whose link is lost is invalidated, never pooled again."""
    driver = connection.connection.driver_connection
    dbapi = connection.dialect.loaded_dbapi
    try:
        yield driver
    except dbapi.Error as error:
        lost = connection.dialect.is_disconnect(error, driver, None)
        if lost:
            connection.invalidate(error)
        raise DBAPIError.instance(statement, None, error, dbapi.Error, connection_invalidated=lost) from error


def read_only_engine(url: str) -> Engine:
    """An engine that can neither create the database nor change it. Raises FileNotFoundError.

    A SQLite file is opened read-write (a read-only connection would leave its WAL files
    behind) but must exist, and each connection is ``query_only``; a PostgreSQL session's
    transactions are all read-only.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(
            url, connect_args={"connect_timeout": 5, "options": "-c default_transaction_read_only=on"}
        )
        _ping_when_heard_from(engine)
        return engine
    file = parsed.database or ":memory:"
    if file != ":memory:" and not file.startswith("file:"):
        if not Path(file).is_file():
            raise FileNotFoundError(errno.ENOENT, "no SQLite database", file)
        parsed = parsed.set(database=f"file:{quote(str(Path(file).absolute()))}", query={"mode": "rw", "uri": "true"})
    engine = create_engine(parsed, connect_args={"timeout": _SQLITE_BUSY_SECONDS, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_connect_read_only)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _ping_when_heard_from(engine: Engine) -> None:
    """Ping a PostgreSQL connection at checkout only if the server sent it something while it was idle.

    A pooled connection is spoken to only in answer to a query, so one whose socket
    has anything to read (a terminated backend's error, the end of the stream) may
    have lost its server; SQLAlchemy's pre-ping would ask with a round trip at every
    checkout. A silent socket is trusted as pre-ping trusts a ping that just
    succeeded: a server that goes away after either check fails the first statement,
    and the connections left in the pool have heard it go.
    """
    dialect = engine.dialect

    def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not _heard_from(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool discards this connection and checks out another
            raise DisconnectionError(f"connection lost while idle: {error}") from error

    event.listen(engine, "checkout", checkout)


def _heard_from(dbapi_connection: Any) -> bool:
    """Whether the server closed ``dbapi_connection``, or sent it anything unasked (a psycopg connection)."""
    if dbapi_connection.closed:
        return True
    listening = select.poll()  # not select.select: a busy process's descriptors pass FD_SETSIZE
    listening.register(dbapi_connection.fileno(), select.POLLIN)
    return bool(listening.poll(0))


def _sqlite_connect_read_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    dbapi_connection.execute("PRAGMA query_only=ON")


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once (SQLITE_BUSY_SNAPSHOT)
    # when another writer committed in between; IMMEDIATE takes the write lock up front.
    immediate = connection.get_execution_options().get(WRITE, False)
    sqlite_statement(connection, "BEGIN IMMEDIATE" if immediate else "BEGIN")


def sqlite_statement(connection: Connection, sql: str, parameters: Any = ()) -> None:
    """Run ``sql`` on SQLite's own connection, without Core's work per statement.

    A create runs three statements (BEGIN and two INSERTs), and Core's execution context,
    result and events for each cost more than SQLite's own work. A failed SQLite statement
    changes nothing, so on an error it runs again through SQLAlchemy, which raises, logs
    and counts the error like any other (a BEGIN refused after the busy timeout waits
    for it a second time).
    """
    try:
        connection.connection.driver_connection.execute(sql, parameters)  # type: ignore[union-attr]
    except sqlite3.Error:
        connection.exec_driver_sql(sql, parameters)
