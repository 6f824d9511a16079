"""SQLite's name index, written in batches: the names creates queued, moved into the FTS5 table.

An FTS5 insert writes an index segment when its transaction commits (130-160 us measured
alone), and on SQLite every create's write transaction takes its turn, so the fleet's creates
wait on each one. So a create only queues its workspace's ``seq`` (migration
0010's trigger), and the names move here, many to a transaction: from a thread of the
service's every :data:`INTERVAL_S`, and before every search, which so finds every name
committed before it. A rename or delete of a queued workspace only touches the queue (the
triggers see to it). PostgreSQL's ``pg_trgm`` index needs none of this.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .db import NAME_TRIGRAMS, Database
from .engines import sqlite_file

__all__ = ["BATCH", "INTERVAL_S", "PENDING", "NameIndexer", "index_pending", "name_indexer"]

log = logging.getLogger("routegate.service")

PENDING = f"{NAME_TRIGRAMS}_pending"
"""The ``seq`` of each workspace inserted since its name was last moved into the index (migration 0010)."""

BATCH = 500
"""Names moved per write transaction: a few milliseconds of the writers' turn, then it is the creates' again."""

INTERVAL_S = 0.5
"""How often the service's thread looks for queued names."""

_ANY_PENDING = text(f"SELECT EXISTS (SELECT 1 FROM {PENDING})")
_BATCH_END = text(f"SELECT max(seq) FROM (SELECT seq FROM {PENDING} ORDER BY seq LIMIT :batch)")
_INDEX = text(
    f"INSERT INTO {NAME_TRIGRAMS}(rowid, name) SELECT w.seq, w.name FROM {PENDING} p "
    "JOIN workspaces w ON w.seq = p.seq WHERE p.seq <= :last"
)
_DEQUEUE = text(f"DELETE FROM {PENDING} WHERE seq <= :last")


def index_pending(database: Database, *, batch: int = BATCH) -> int:
    """Moves every queued name into the index, ``batch`` to a transaction; how many it moved.

    Nothing is written when nothing is queued, and nothing is done on PostgreSQL, whose
    names are indexed in the create's own transaction.
    """
    if database.engine.dialect.name != "sqlite":
        return 0
    with database.read() as session:
        if not session.scalar(_ANY_PENDING):
            return 0
    moved = 0
    while True:
        with database.write_connection() as connection:
            last = connection.scalar(_BATCH_END, {"batch": batch})
            if last is None:
                return moved
            connection.execute(_INDEX, {"last": last})
            count = connection.execute(_DEQUEUE, {"last": last}).rowcount
        moved += count
        if count < batch:
            return moved  # the queue was emptied inside that transaction


class NameIndexer:
    """A thread that moves queued names into the index every :data:`INTERVAL_S`, for a SQLite database."""

    def __init__(self, database: Database, interval: float = INTERVAL_S) -> None:
        self._database = database
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="routegate-name-index", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _run(self) -> None:
        failing = False
        while not self._stopped.wait(self._interval):
            try:
                index_pending(self._database)
            except SQLAlchemyError as error:  # the database is away or busy: the next round tries again
                if not failing:
                    log.warning("name index: queued names not indexed yet (retrying): %s", str(error).splitlines()[0])
                failing = True
            else:
                failing = False


def name_indexer(database: Database) -> NameIndexer | None:
    """The indexer for a SQLite file; none for PostgreSQL, or an in-memory SQLite database (one per connection)."""
    return None if sqlite_file(database.engine.url) is None else NameIndexer(database)
