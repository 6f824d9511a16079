"""The service's tables and its one way into the database: transactions, snapshots and the publish lock.

How connections are made and set up (SQLite's WAL and ``BEGIN IMMEDIATE``, the
writers' queue, when a PostgreSQL connection is pinged) is :mod:`.engines`'.
"""

from __future__ import annotations

import enum
import sqlite3
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anyio import CapacityLimiter
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import dialect as postgresql_dialect
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql import ColumnElement

from . import engines

__all__ = [
    "DEFAULT_READERS",
    "DEFAULT_WRITERS",
    "MOST_READERS",
    "MOST_WRITERS",
    "NAME_TRIGRAMS",
    "NOTIFY_CHANNEL",
    "PUBLISH_LOCK",
    "Action",
    "Base",
    "Database",
    "DecisionRecord",
    "IdempotencyKey",
    "ManifestVersion",
    "MissingDatabase",
    "UnmigratedDatabase",
    "UnusableDatabase",
    "Workspace",
    "active_version_for_write",
    "declared_by_orm",
    "iso_utc",
    "new_id",
    "parent_key",
    "utcnow",
]

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_ADVISORY_LOCK = 0x726F757465  # "route": one migrator at a time across machines
PUBLISH_LOCK = 0x7075626C6973
"""PostgreSQL's advisory key ("publis") ordering publishes against creates and model changes:
a switch of the active version holds it exclusively, a create or model change shared."""
NOTIFY_CHANNEL = "routegate_manifest"
"""PostgreSQL's channel for changes every instance must follow: a switch of the active version
(its number as payload) and a change of call tokens (``call-tokens``)."""
DEFAULT_WRITERS = 4
"""PostgreSQL write transactions one process runs at once (``serve --database-writers``)."""
DEFAULT_READERS = 8
"""Threads one process reads the database in at once (``serve --database-readers``)."""
MOST_WRITERS = MOST_READERS = 64
_WATCHERS = 4  # connections the service's own threads hold beside the routes': receipts, versions, tokens, a publish

_Seq = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys
# Byte order on PostgreSQL whatever the server's locale, so the store's range over
# "name", "name (2)", ... is the range it means (SQLite compares bytes already).
_Name = String(255).with_variant(String(255, collation="C"), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """A stored moment as the API shows it: UTC, microseconds, ``Z`` (SQLite hands back naive UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase): ...


class Workspace(Base):
    __tablename__ = "workspaces"

    seq: Mapped[int] = mapped_column(_Seq, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    name: Mapped[str] = mapped_column(_Name)
    # Indexed: a delete asks whether children point here, and so does SQLite's foreign-key check.
    parent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="RESTRICT"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(100))
    runtime: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(200))
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str | None] = mapped_column(String(2048))
    provider: Mapped[str | None] = mapped_column(Text)
    billing_mode: Mapped[str | None] = mapped_column(String(32))
    required_env: Mapped[list[str]] = mapped_column(JSON, default=list)
    auth_env: Mapped[list[str]] = mapped_column(JSON, default=list)
    manifest_fingerprint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    manifest_version: Mapped[int | None] = mapped_column(Integer)  # None: decided before versions existed


# Names are unique per parent, the root counting as one parent: NULLs are distinct in a
# plain unique index, so the index is on the parent id with the root spelled ''.
def parent_key() -> ColumnElement[str]:
    """The index's parent expression. A query must spell it exactly so (a literal '', not a
    bound parameter) for either database to answer it from the index."""
    return func.coalesce(Workspace.parent_id, literal_column("''"))


Index("uq_workspaces_parent_name", parent_key(), Workspace.name, unique=True)
Index("ix_workspaces_runtime_model", Workspace.runtime, Workspace.model)  # the lifecycle's dated pairs
Index("ix_workspaces_runtime_provider", Workspace.runtime, Workspace.provider)  # the same, by provider

NAME_TRIGRAMS = "workspace_name_trigrams"
"""The index that answers "name contains": on SQLite an FTS5 table (trigram tokenizer) over ``workspaces.name``,
written in batches (:mod:`.name_index`); on PostgreSQL a ``pg_trgm`` GIN index on ``name`` (it serves ``ILIKE``).
Both need what the ORM cannot declare, so migrations 0005 and 0010 create them and the ORM leaves them alone."""


def declared_by_orm(name: str | None, _type: str, _parents: MutableMapping[Any, str | None]) -> bool:
    """Alembic's ``include_name``: leave out the trigram index (on SQLite, the FTS5 table and its
    shadow tables), which the ORM does not describe, so a comparison does not offer to drop it."""
    # Issue 21: PostgreSQL's day partitions of call_receipts (call_tables.RECEIPT_PARTITION_PREFIX) are the service's.
    return name is None or not name.startswith((NAME_TRIGRAMS, "call_receipts_p"))


class Action(enum.StrEnum):
    """What a decision was about."""

    CREATE = "create"
    MODEL_CHANGE = "model_change"


class _ActionColumn(TypeDecorator[Action]):
    """An :class:`Action` stored as its value in a plain string column (no database enum type to migrate)."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: Action | None, dialect: Dialect) -> str | None:
        return None if value is None else Action(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> Action | None:
        return None if value is None else Action(value)


class DecisionRecord(Base):
    """One gate decision on a create or a model change, admitted or refused."""

    __tablename__ = "decisions"

    seq: Mapped[int] = mapped_column(_Seq, primary_key=True, autoincrement=True)
    action: Mapped[Action] = mapped_column(_ActionColumn())
    admitted: Mapped[bool] = mapped_column(Boolean)
    code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    workspace_id: Mapped[str | None] = mapped_column(String(36), index=True)  # no FK: outlives the workspace
    runtime: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(Text)
    billing_mode: Mapped[str | None] = mapped_column(String(32))
    path: Mapped[str | None] = mapped_column(String(16))
    manifest_fingerprint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    template: Mapped[str | None] = mapped_column(String(200))
    candidates: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    manifest_version: Mapped[int | None] = mapped_column(Integer)


class ManifestVersion(Base):
    """One published manifest, its bytes kept as given. At most one row is active: the fleet's truth."""

    __tablename__ = "manifest_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)


# At most one active version, whichever database: a partial unique index over the active row.
Index(
    "uq_manifest_versions_active",
    ManifestVersion.active,
    unique=True,
    sqlite_where=ManifestVersion.active.is_(True),
    postgresql_where=ManifestVersion.active.is_(True),
)


_ACTIVE_VERSION = select(ManifestVersion.version).where(ManifestVersion.active.is_(True))
_SQLITE_ACTIVE_VERSION = str(_ACTIVE_VERSION.compile(dialect=sqlite_dialect()))  # no parameters: IS 1
# Both in one round trip, sent as one query without parameters (so as two statements): PostgreSQL
# takes each statement's snapshot as it starts, so the version is read once the lock is held.
_PG_SHARE_LOCK_THEN_ACTIVE_VERSION = f"SELECT pg_advisory_xact_lock_shared({PUBLISH_LOCK}); " + str(
    _ACTIVE_VERSION.compile(dialect=postgresql_dialect(), compile_kwargs={"literal_binds": True})  # type: ignore[no-untyped-call]
)
_PG_BEGIN_SHARE_LOCK_THEN_ACTIVE_VERSION = "BEGIN; " + _PG_SHARE_LOCK_THEN_ACTIVE_VERSION
_PG_TAKE_PUBLISH_LOCK = text("SELECT pg_advisory_lock(:key)").bindparams(key=PUBLISH_LOCK)
_PG_RELEASE_PUBLISH_LOCK = text("SELECT pg_advisory_unlock(:key)").bindparams(key=PUBLISH_LOCK)


def active_version_for_write(connection: Connection) -> int | None:
    """The active manifest version, as it stays until this write transaction ends.

    A write transaction on SQLite holds the file's write lock, which a publish needs to
    switch versions; on PostgreSQL this takes :data:`PUBLISH_LOCK` shared first. Either
    way, what a create or model change compares its decision's version with here is what
    the row will commit under.
    """
    if connection.dialect.name == "sqlite":  # the hot path: SQLite's own statement, as the create's inserts
        driver = connection.connection.driver_connection
        try:
            row = driver.execute(_SQLITE_ACTIVE_VERSION).fetchone()  # type: ignore[union-attr]
        except sqlite3.Error:
            pass  # again below, through SQLAlchemy, which raises and counts it like any other error
        else:
            return None if row is None else int(row[0])
    elif connection.dialect.name == "postgresql":
        with connection.exec_driver_sql(_PG_SHARE_LOCK_THEN_ACTIVE_VERSION) as result:
            result.cursor.nextset()  # past the lock's row, to the version's
            row = result.cursor.fetchone()
        return None if row is None else int(row[0])
    return connection.scalar(_ACTIVE_VERSION)


def _open_with_active_version(connection: Connection) -> int | None:
    """``BEGIN``, the publish lock taken shared and the active version, as one query on psycopg's own
    connection; its errors are raised as SQLAlchemy's, the connection invalidated when it is lost."""
    with engines.driver_errors(connection, _PG_BEGIN_SHARE_LOCK_THEN_ACTIVE_VERSION) as driver:
        cursor = driver.execute(_PG_BEGIN_SHARE_LOCK_THEN_ACTIVE_VERSION)
        cursor.nextset()  # past BEGIN's result, to the lock's
        cursor.nextset()  # and to the version's
        row = cursor.fetchone()
    return None if row is None else int(row[0])


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` and the response its admitted request got, for a retry to receive again.

    The primary key is the key itself: of two concurrent requests with one key, on
    any worker or machine, the database lets exactly one insert it.
    """

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    response: Mapped[dict[str, Any]] = mapped_column(JSON)  # the body of the success the request got
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class UnusableDatabase(Exception):
    """A database a read-only command will not use as it is; it was neither created nor changed."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(message)


class MissingDatabase(UnusableDatabase):
    """No SQLite file at the path given: a mistyped path, or a database never created."""

    def __init__(self, url: str, path: str) -> None:
        self.path = path
        super().__init__(
            url,
            f"no SQLite database at {path}: check the path, or create the database with "
            f"`routegate db upgrade --database-url {url}`",
        )


class UnmigratedDatabase(UnusableDatabase):
    """A database whose schema is not the one this routegate writes (empty, or another revision)."""

    def __init__(self, url: str, revision: str | None, head: str | None) -> None:
        self.revision = revision
        self.head = head
        state = "has no routegate tables" if revision is None else f"is at revision {revision}, not {head}"
        super().__init__(url, f"the database at {url} {state}: run `routegate db upgrade --database-url {url}` first")


class Database:
    """An engine, its session factory, and the write/read/ping/upgrade the service needs.

    ``read_only`` is for commands that only look: the database must exist already (nothing
    is created, not even the writers' lock file) and every transaction, :meth:`write`'s
    included, is refused any change by the database itself. ``readers`` and ``writers``: how
    many threads of each the service runs at once (it bounds the readers, this the writers);
    the pool keeps a connection for each.
    """

    def __init__(
        self, url: str, *, read_only: bool = False, writers: int = DEFAULT_WRITERS, readers: int = DEFAULT_READERS
    ) -> None:
        self.url = url
        kept = readers + writers + _WATCHERS  # every connection the service uses at once, kept between uses
        self.engine = _read_only_engine(url) if read_only else engines.engine(url, kept=kept)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The same pool, its connections marked as writers once rather than on every checkout.
        self._write_engine = self.engine if read_only else self.engine.execution_options(**{engines.WRITE: True})
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        # PostgreSQL's writers can be had in autocommit while checked out (see versioned_write).
        self._autocommit = self.engine.dialect.name == "postgresql"
        self._writers = None if read_only else engines.writer_queue(url)
        # The routes run writes in worker threads, at most this many at once. Writes to a SQLite file
        # take turns anyway, so one: threads that would only queue on the writers' lock do not
        # contend for the interpreter meanwhile. On PostgreSQL ``writers``: more transactions at
        # once only contend for the cores, and a burst beyond the connections the pool keeps would
        # open (and close) a connection for each write.
        self.write_limiter = CapacityLimiter(1 if self._writers is not None else writers)

    def _turn(self) -> AbstractContextManager[None]:
        return nullcontext() if self._writers is None else self._writers.turn()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that will write: committed on success, rolled back on any error."""
        with self._turn(), self._write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def write_connection(self, kept: Connection | None = None) -> Iterator[Connection]:
        """:meth:`write`'s transaction on a bare connection, for Core statements where a session adds only
        cost (the create path); on ``kept``, from :meth:`writer`, no pool checkout either."""
        connect = self._write_engine.connect if kept is None else lambda: nullcontext(kept)
        with self._turn(), connect() as connection, connection.begin():  # connected once it is this writer's turn
            yield connection

    def statement_writes(self) -> AbstractContextManager[Connection]:
        """A connection for writes that are each one statement, whole by itself: on PostgreSQL in
        autocommit, so each is one round trip, with no ``BEGIN`` and ``COMMIT`` of its own; elsewhere
        :meth:`write_connection`'s transaction (SQLite's writers take turns, a round trip costs nothing)."""
        if not self._autocommit:
            return self.write_connection()
        return engines.in_autocommit(self._write_engine)

    @contextmanager
    def versioned_write(self) -> Iterator[tuple[Connection, int | None]]:
        """:meth:`write_connection`'s transaction, and the active version it will commit under
        (:func:`active_version_for_write`), read as the transaction's first statement.

        On PostgreSQL one query on psycopg's connection opens the transaction, takes the
        publish lock and reads the version: psycopg would send its ``BEGIN`` alone (a round
        trip), and Core cannot read a query of several results (so it would add its work per
        statement for nothing). The connection is in autocommit meanwhile, so psycopg begins
        nothing itself; its commit and rollback still end the transaction the query began,
        and autocommit is off again before the connection goes back to the pool.
        """
        if not self._autocommit:
            with self.write_connection() as connection:
                yield connection, active_version_for_write(connection)
            return
        with self._turn(), engines.in_autocommit(self._write_engine) as connection, connection.begin():
            yield connection, _open_with_active_version(connection)

    def writer(self) -> Connection:  # a connection for write_connection(kept) to keep; the caller closes it
        return self._write_engine.connect()

    @contextmanager
    def snapshot(self, *, settled: bool) -> Iterator[Session]:
        """A read-only transaction that sees one committed state throughout, however long it reads,
        while writers go on (SQLite's WAL; PostgreSQL's REPEATABLE READ).

        ``settled``: no create or model change is half-committed at the snapshot's moment, so it
        holds every admitted decision up to the newest it sees. SQLite's writers commit one at a
        time in order, so every snapshot is settled; PostgreSQL waits for the creates in flight by
        taking :data:`PUBLISH_LOCK` exclusively until the snapshot is taken (new ones wait that long).
        """
        with self.engine.connect() as connection:
            if connection.dialect.name != "postgresql":
                with Session(connection) as session, session.begin():
                    yield session
                return
            locked = False
            try:
                if settled:
                    connection.execute(_PG_TAKE_PUBLISH_LOCK)
                    connection.commit()  # a session lock: it outlives this transaction, until released
                    locked = True
                connection.execution_options(isolation_level="REPEATABLE READ")
                with Session(connection) as session, session.begin():
                    if locked:  # the transaction's first statement fixes its snapshot, still under the lock
                        session.execute(_PG_RELEASE_PUBLISH_LOCK)
                        locked = False
                    yield session
            finally:
                if locked:
                    connection.rollback()
                    connection.execute(_PG_RELEASE_PUBLISH_LOCK)
                    connection.commit()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def ping(self) -> None:
        """Raises a SQLAlchemy error when the database cannot answer."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_ADVISORY_LOCK})")
                connection.commit()
            try:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
            finally:
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_ADVISORY_LOCK})")
                    connection.commit()

    def require_head(self) -> None:
        """Raises UnmigratedDatabase unless every migration is applied; changes nothing."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        with self.engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
        if revision != head:
            shown = make_url(self.url).render_as_string(hide_password=True)
            raise UnmigratedDatabase(shown, revision, head)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writers is not None:
            self._writers.close()


def _read_only_engine(url: str) -> Engine:
    """See :func:`.engines.read_only_engine`. Raises MissingDatabase."""
    try:
        return engines.read_only_engine(url)
    except FileNotFoundError as missing:
        raise MissingDatabase(make_url(url).render_as_string(hide_password=True), missing.filename) from None
