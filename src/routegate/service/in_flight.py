"""The publishes, activations and reloads replaying the fleet now, and how far each is.

A replay of a large fleet takes seconds, and the request waiting on it says
nothing until it ends: ``GET /registry/versions/progress`` and the console read
this instead. Each replay is a row of ``replays_in_flight`` from its start to its
end, so every worker and every instance on the database lists it, whichever ran
it. A report is a one-row write (about a hundred a replay, whatever the fleet's
size). A write the database refuses is logged, never raised into the publish it
follows, and the replay's later reports are not tried: a database that is away
must not make a replay wait on it a hundred times.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, Database, iso_utc, utcnow
from .publication import ReplayProgress

__all__ = ["STALE_AFTER", "Replay", "ReplayInFlight", "ReplayKind", "Replays"]

log = logging.getLogger("routegate.service")

STALE_AFTER = timedelta(minutes=2)
"""A replay not heard from for this long is taken for dead (its process was killed) and no longer listed."""

_T = TypeVar("_T")


class ReplayInFlight(Base):
    """A publish, activation or reload replaying the fleet now, and how far it is.

    Stored, not held in one process's memory, so that every worker and instance can show a
    replay another one runs. ``seen_at`` moves with each report: a row whose process died
    mid-replay stops being listed once it is stale, and the next replay deletes it.
    """

    __tablename__ = "replays_in_flight"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int | None] = mapped_column(Integer)  # the version an activation makes active
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    replayed: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger)  # None until the replay has counted the fleet
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReplayKind(enum.StrEnum):
    """What a replay is for."""

    PUBLISH = "publish"
    ACTIVATE = "activate"
    RELOAD = "reload"


@dataclass(frozen=True, slots=True)
class Replay:
    """One replay in flight, as it stood at its last stored report."""

    kind: ReplayKind
    dry_run: bool
    version: int | None  # the version an activation makes active
    started_at: datetime
    replayed: int = 0
    total: int | None = None  # None until the replay has counted the fleet

    @classmethod
    def of(cls, row: ReplayInFlight) -> Replay:
        return cls(ReplayKind(row.kind), row.dry_run, row.version, row.started_at, row.replayed, row.total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "dry_run": self.dry_run,
            "version": self.version,
            "started_at": iso_utc(self.started_at),
            "replayed": self.replayed,
            "total": self.total,
        }


class Replays:
    """The replays in flight on a database, oldest first."""

    def __init__(self, database: Database, *, stale_after: timedelta = STALE_AFTER) -> None:
        self._database = database
        self._stale_after = stale_after

    def now(self) -> list[Replay]:
        """Every replay heard from within :data:`STALE_AFTER`, whichever process runs it."""
        alive = ReplayInFlight.seen_at > utcnow() - self._stale_after
        with self._database.read() as session:
            rows = session.scalars(select(ReplayInFlight).where(alive).order_by(ReplayInFlight.seq))
            return [Replay.of(row) for row in rows]

    @contextmanager
    def track(self, kind: ReplayKind, *, dry_run: bool, version: int | None = None) -> Iterator[ReplayProgress]:
        """Lists a replay for the block, however it ends; yields the progress its publish reports to."""
        started = utcnow()
        row = {"kind": kind.value, "dry_run": dry_run, "version": version, "started_at": started, "seen_at": started}
        seq = self._stored(lambda session: self._start(session, row))
        reporting = seq is not None

        def report(replayed: int, total: int) -> None:
            nonlocal reporting
            if reporting:
                values = {"replayed": replayed, "total": total, "seen_at": utcnow()}
                change = update(ReplayInFlight).filter_by(seq=seq).values(values)
                reporting = self._stored(lambda session: session.execute(change)) is not None

        try:
            yield report
        finally:
            if seq is not None:
                self._stored(lambda session: session.execute(delete(ReplayInFlight).filter_by(seq=seq)))

    def _start(self, session: Session, row: dict[str, Any]) -> int:
        """Clears the rows of replays whose process died, then lists this one: its key."""
        session.execute(delete(ReplayInFlight).where(ReplayInFlight.seen_at <= row["seen_at"] - self._stale_after))
        return int(session.execute(insert(ReplayInFlight).values(row).returning(ReplayInFlight.seq)).scalar_one())

    def _stored(self, write: Callable[[Session], _T]) -> _T | None:
        """``write`` in a transaction of its own; None, logged, if the database refused it."""
        try:
            with self._database.write() as session:
                return write(session)
        except SQLAlchemyError as error:
            log.warning("replay progress not stored (the replay goes on): %s", str(error).splitlines()[0])
            return None
