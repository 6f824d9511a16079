"""``conflicts.lock_in_key_order``: rows locked before they are changed, on PostgreSQL only.

PostgreSQL writers that lock shared rows in different orders deadlock (the receipt
writers against a workspace's delete, in test_receipt_writer.py), so each takes its
rows in key order first. SQLite's writers take turns: there the helper must cost
nothing, not even a read.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, event, insert, select
from sqlalchemy.exc import OperationalError

from routegate.service.conflicts import lock_in_key_order
from routegate.service.db import Database

PROBE = Table("lock_probe", MetaData(), Column("id", Integer, primary_key=True))
ROWS = [3, 1, 2]


@pytest.fixture
def probe(database: Database) -> Iterator[Table]:
    PROBE.create(database.engine, checkfirst=True)
    with database.engine.begin() as connection:
        connection.execute(insert(PROBE), [{"id": key} for key in ROWS])
    yield PROBE
    PROBE.drop(database.engine)


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_the_rows_stay_locked_until_the_transaction_ends(database: Database, probe: Table) -> None:
    def try_to_lock() -> list[int]:
        with database.engine.connect() as other:
            return list(other.scalars(select(probe.c.id).order_by(probe.c.id).with_for_update(nowait=True)))

    with database.write() as session:
        lock_in_key_order(session, select(probe.c.id).where(probe.c.id > 1).order_by(probe.c.id))
        with pytest.raises(OperationalError, match="could not obtain lock"):
            try_to_lock()
    assert try_to_lock() == sorted(ROWS)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_is_sent_nothing(database: Database, probe: Table) -> None:
    sent: list[str] = []
    with database.write() as session:
        event.listen(session.connection(), "before_cursor_execute", lambda *args: sent.append(args[2]))
        lock_in_key_order(session, select(probe.c.id).order_by(probe.c.id))
    assert sent == []
