"""The call receipts' days: partitions ahead on PostgreSQL, and retention on either database.

On PostgreSQL ``call_receipts`` is partitioned by UTC day: :class:`ReceiptDays` creates
partitions ahead and, for retention, drops whole ones. On SQLite retention deletes in
bounded batches, each its own short transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, select, text

from .call_tables import RECEIPT_PARTITION_PREFIX, CallReceipt
from .db import Database

__all__ = ["ReceiptDays"]

_RECEIPTS = cast(Table, CallReceipt.__table__)
_PARTITION_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=0x7263707473)  # "rcpts"
_SQLITE_DELETE_BATCH = 1000


class ReceiptDays:
    """The day partitions of ``call_receipts`` (PostgreSQL) and retention on either database."""

    def __init__(self, database: Database, retention_days: int) -> None:
        self.database = database
        self.retention_days = retention_days
        self.partitioned = database.engine.dialect.name == "postgresql"
        self._ready: set[date] = set()

    def ensure(self, days: set[date]) -> None:
        """Every day in ``days`` has its partition (a no-op on SQLite, and for days made already)."""
        missing = sorted(days - self._ready) if self.partitioned else []
        if not missing:
            return
        with self.database.write_connection() as connection:
            connection.execute(_PARTITION_LOCK)  # instances creating the same day take turns
            for day in missing:
                connection.exec_driver_sql(_create_partition(day))
        self._ready.update(missing)

    def ensure_ahead(self, now: datetime, ahead: int = 2) -> None:
        today = now.astimezone(UTC).date()
        self.ensure({today + timedelta(days=offset) for offset in range(-1, ahead + 1)})

    def partitions(self) -> list[date]:
        """The days that have a partition, oldest first (PostgreSQL; empty on SQLite)."""
        if not self.partitioned:
            return []
        with self.database.engine.connect() as connection:
            names = connection.execute(
                text(
                    "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
                    "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent WHERE parent.relname = 'call_receipts'"
                )
            ).scalars()
            return sorted(day for day in map(_day_of, names) if day is not None)

    def apply_retention(self, now: datetime) -> int:
        """Drop what is older than the retention period: whole days. Returns partitions dropped
        (PostgreSQL) or rows deleted (SQLite); 0 when retention is off (``retention_days`` 0)."""
        if self.retention_days <= 0:
            return 0
        keep_from = now.astimezone(UTC).date() - timedelta(days=self.retention_days)
        if self.partitioned:
            old = [day for day in self.partitions() if day < keep_from]
            with self.database.write_connection() as connection:
                connection.execute(_PARTITION_LOCK)
                for day in old:
                    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {_partition_name(day)}")
            self._ready.difference_update(old)
            return len(old)
        cutoff = datetime(keep_from.year, keep_from.month, keep_from.day, tzinfo=UTC)
        oldest = select(_RECEIPTS.c.id).where(_RECEIPTS.c.at < cutoff).limit(_SQLITE_DELETE_BATCH)
        deleted = 0
        while True:
            with self.database.write_connection() as connection:
                count = connection.execute(delete(_RECEIPTS).where(_RECEIPTS.c.id.in_(oldest))).rowcount
            deleted += count
            if count < _SQLITE_DELETE_BATCH:
                return deleted


def _partition_name(day: date) -> str:
    return f"{RECEIPT_PARTITION_PREFIX}{day:%Y%m%d}"


def _day_of(name: str) -> date | None:
    if not name.startswith(RECEIPT_PARTITION_PREFIX):
        return None
    try:
        return datetime.strptime(name.removeprefix(RECEIPT_PARTITION_PREFIX), "%Y%m%d").date()
    except ValueError:
        return None


def _create_partition(day: date) -> str:
    after = day + timedelta(days=1)
    return (
        f"CREATE TABLE IF NOT EXISTS {_partition_name(day)} PARTITION OF call_receipts "
        f"FOR VALUES FROM ('{day.isoformat()} 00:00:00+00') TO ('{after.isoformat()} 00:00:00+00')"
    )
