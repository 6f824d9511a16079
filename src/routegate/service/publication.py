"""Manifest versions in the database, and the one way a version becomes active: the publish gate.

Publishing (a new manifest) and activating (an older or newer stored version)
replay the candidate against every stored workspace, read as groups of alike
ones (:class:`.store.StoredGroups`, :func:`routegate.publishing.assess_groups`)
in short read transactions outside any write transaction, so creates and model
changes go on meanwhile. The replay starts from a mark taken in a settled
snapshot: the newest decision and the active version. A dry run stops after the
replay. Only the switch takes the write lock (SQLite's write transaction; on
PostgreSQL the publish lock, :data:`.db.PUBLISH_LOCK`, exclusively, which
creates and model changes hold shared). Under it the switch re-checks the
workspaces created or changed since the mark, so none strands in between (one the
replay read after it changed is judged twice, as it is), and finds the version
the mark saw still active, or the whole publish runs again from a new mark. A blocking impact raises
:class:`~routegate.publishing.ManifestWouldStrand` unless forced. On PostgreSQL
the switch also sends ``NOTIFY`` on :data:`NOTIFY_CHANNEL`, delivered when the
transaction commits. A replay tells a caller's :data:`ReplayProgress` how far it is,
and the log each tenth of a large fleet.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from routegate.decision import FOREIGN_RUNTIMES
from routegate.errors import InvalidManifest, Problem
from routegate.manifest import parse_manifest
from routegate.publishing import (
    Impact,
    ManifestWouldStrand,
    UnknownManifestVersion,
    assess,
    assess_groups,
    combined,
    manifest_diff,
)
from routegate.registry import Registry

from .db import NOTIFY_CHANNEL, PUBLISH_LOCK, Database, ManifestVersion, iso_utc
from .decision_log import decisions_high_water
from .store import StoredGroups, stored_workspaces

__all__ = ["PROGRESS_FROM", "Candidate", "PublishResult", "ReplayProgress", "VersionInfo", "VersionStore", "candidate"]

PROGRESS_FROM = 10_000
"""Replays of at least this many workspaces log a line per tenth done (and the CLI draws its bar)."""

ReplayProgress = Callable[[int, int], None]
"""Told ``(replayed, total)`` as a publish or activation replays the fleet: ``(0, total)`` first, then
about every hundredth, ``(total, total)`` last; from ``(0, total)`` again when the publish runs again
from its start. It runs on the publishing thread, so it must be quick and must not raise."""

log = logging.getLogger("routegate.service")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A manifest that passed every load rule, with the exact bytes it came from."""

    manifest: bytes
    registry: Registry

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.manifest).hexdigest()


def candidate(manifest: bytes | str, source: str, foreign_runtimes: Collection[str] = FOREIGN_RUNTIMES) -> Candidate:
    """Validate a manifest for publishing. Raises InvalidManifest naming every problem."""
    raw = manifest.encode() if isinstance(manifest, str) else manifest
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidManifest([Problem("<document>", f"not UTF-8: {error}")], source=source) from None
    return Candidate(raw, Registry(parse_manifest(decoded, source=source), foreign_runtimes=foreign_runtimes))


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """A stored version without its bytes."""

    version: int
    fingerprint: str
    sha256: str
    created_at: datetime
    note: str | None
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "fingerprint": self.fingerprint,
            "created_at": iso_utc(self.created_at),
            "note": self.note,
            "active": self.active,
        }


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a publish or an activation did (or, for a dry run, would do)."""

    version: int | None  # the version now active; None for a dry run of a new manifest
    fingerprint: str
    previous: VersionInfo | None
    changed: bool
    dry_run: bool
    impact: Impact | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "fingerprint": self.fingerprint,
            "active": not self.dry_run,
            "changed": self.changed,
            "dry_run": self.dry_run,
            "previous_version": None if self.previous is None else self.previous.version,
            "previous_fingerprint": None if self.previous is None else self.previous.fingerprint,
            "impact": None if self.impact is None else self.impact.to_dict(),
        }


_INFO_COLUMNS = (
    ManifestVersion.version,
    ManifestVersion.fingerprint,
    ManifestVersion.sha256,
    ManifestVersion.created_at,
    ManifestVersion.note,
    ManifestVersion.active,
)


def _info(row: Any) -> VersionInfo:
    return VersionInfo(*(getattr(row, column.key) for column in _INFO_COLUMNS))


def _logging_tenths(progress: ReplayProgress | None) -> ReplayProgress:
    """``progress``, with a log line each time another tenth of a fleet of PROGRESS_FROM or more is replayed."""
    logged = 0

    def report(replayed: int, total: int) -> None:
        nonlocal logged
        if total >= PROGRESS_FROM and 10 * replayed // total > logged:
            logged = 10 * replayed // total
            log.info("publish gate: replayed %d of %d workspaces (%d%%)", replayed, total, 100 * replayed // total)
        if progress is not None:
            progress(replayed, total)

    return report


@dataclass(frozen=True, slots=True)
class _Replayed:
    """A snapshot's verdict, and the newest decision it saw: what the switch must still re-check."""

    impact: Impact
    high_water: int


@dataclass(frozen=True, slots=True)
class _Mark:
    """Where a replay starts, read in one settled snapshot: the newest decision (what the switch
    re-checks from) and the active manifest (what the diff is against)."""

    high_water: int
    current: Registry | None


class VersionStore:
    """Reads of the versions table, and publish/activate through the gate."""

    def __init__(self, database: Database, *, foreign_runtimes: Collection[str]) -> None:
        self.database = database
        self.foreign_runtimes = tuple(foreign_runtimes)

    # --- reads ---------------------------------------------------------------------------------

    def active(self) -> VersionInfo | None:
        """The active version (one indexed row), or None before the first publish."""
        with self.database.read() as session:
            row = session.execute(select(*_INFO_COLUMNS).where(ManifestVersion.active.is_(True))).first()
        return None if row is None else _info(row)

    def load(self, version: int) -> tuple[VersionInfo, bytes]:
        """A version and its bytes. Raises UnknownManifestVersion."""
        with self.database.read() as session:
            row = session.get(ManifestVersion, version)
            if row is None:
                raise UnknownManifestVersion(version)
            return _info(row), row.manifest

    def page(self, limit: int, before: int | None) -> tuple[list[VersionInfo], str | None]:
        """Newest first; the cursor is the last version listed."""
        query = select(*_INFO_COLUMNS).order_by(ManifestVersion.version.desc()).limit(limit + 1)
        if before is not None:
            query = query.where(ManifestVersion.version < before)
        with self.database.read() as session:
            rows = [_info(row) for row in session.execute(query)]
        return rows[:limit], (str(rows[limit - 1].version) if len(rows) > limit else None)

    # --- writes through the gate ---------------------------------------------------------------

    def bootstrap(self, first: Candidate, note: str) -> VersionInfo:
        """The active version; on a database without one, ``first`` becomes version 1 (no gate:
        it is the manifest the workspaces already there were decided under)."""
        with self.database.write() as session:
            self._lock(session)
            active = self._active_row(session)
            if active is not None:
                return _info(active)
            row = self._insert(session, first, note)
            self._switch(session, row.version)
            return _info(row)

    def publish(
        self,
        proposed: Candidate,
        *,
        note: str | None,
        dry_run: bool,
        force: bool,
        progress: ReplayProgress | None = None,
    ) -> PublishResult:
        """Store ``proposed`` as the next version and activate it, through the gate; ``progress`` follows
        the replay.

        The same bytes as the active version change nothing (and need no gate).
        Raises ManifestWouldStrand when the impact blocks and ``force`` is not set.
        """
        while True:
            with self.database.snapshot(settled=not dry_run) as session:
                active = self._active_row(session)
                previous = None if active is None else _info(active)
                if active is not None and active.sha256 == proposed.sha256 and not dry_run:
                    return PublishResult(active.version, active.fingerprint, previous, False, False, None)
                mark = self._mark(session, active)
            replayed = self._replay(mark, proposed.registry, progress)
            if dry_run:
                return PublishResult(None, proposed.registry.fingerprint, previous, False, True, replayed.impact)
            switched = self._switch_through_gate(
                proposed.registry, previous, replayed, force, lambda session: self._insert(session, proposed, note)
            )
            if switched is not None:
                return switched

    def activate(
        self, version: int, *, force: bool, dry_run: bool = False, progress: ReplayProgress | None = None
    ) -> PublishResult:
        """Make a stored version active again (a rollback, or a roll forward), through the same gate;
        ``progress`` follows the replay.

        Raises UnknownManifestVersion, InvalidManifest (a stored version that today's load
        rules refuse) or ManifestWouldStrand.
        """
        while True:
            with self.database.snapshot(settled=not dry_run) as session:
                target = session.get(ManifestVersion, version)
                if target is None:
                    raise UnknownManifestVersion(version)
                active = self._active_row(session)
                previous = None if active is None else _info(active)
                if target.active and not dry_run:
                    return PublishResult(target.version, target.fingerprint, previous, False, False, None)
                registry = candidate(target.manifest, f"manifest version {version}", self.foreign_runtimes).registry
                mark = self._mark(session, active)
                fingerprint = target.fingerprint
            replayed = self._replay(mark, registry, progress)
            if dry_run:
                return PublishResult(version, fingerprint, previous, False, True, replayed.impact)
            switched = self._switch_through_gate(
                registry, previous, replayed, force, lambda session: session.get_one(ManifestVersion, version)
            )
            if switched is not None:
                return switched

    # --- the two phases of the gate ------------------------------------------------------------

    def _mark(self, snapshot: Session, active: ManifestVersion | None) -> _Mark:
        current = (
            None
            if active is None
            else candidate(active.manifest, f"manifest version {active.version}", self.foreign_runtimes)
        )
        return _Mark(decisions_high_water(snapshot), None if current is None else current.registry)

    def _replay(self, mark: _Mark, proposed: Registry, progress: ReplayProgress | None) -> _Replayed:
        """The impact of ``proposed`` on every stored workspace, read in short transactions after the
        mark (none held across the read, so SQLite's WAL is checkpointed meanwhile), and the diff."""
        stored = StoredGroups(self.database.read, _logging_tenths(progress))
        impact = assess_groups(proposed, stored.groups, stored.members)
        if mark.current is not None:
            impact = replace(impact, diff=manifest_diff(mark.current, proposed))
        return _Replayed(impact, mark.high_water)

    def _switch_through_gate(
        self,
        proposed: Registry,
        previous: VersionInfo | None,
        replayed: _Replayed,
        force: bool,
        target: Callable[[Session], ManifestVersion],
    ) -> PublishResult | None:
        """Activate ``target`` if the gate still passes; None when another publish switched versions
        since the snapshot (the caller runs again). Raises ManifestWouldStrand unless ``force``."""
        if replayed.impact.blocking and not force:
            raise ManifestWouldStrand(replayed.impact, proposed.fingerprint)
        with self.database.write() as session:
            self._lock(session)
            active = self._active_row(session)
            if (None if active is None else active.version) != (None if previous is None else previous.version):
                return None
            since = assess(proposed, stored_workspaces(session, changed_after=replayed.high_water))
            impact = combined(replayed.impact, since)
            if impact.blocking and not force:
                raise ManifestWouldStrand(impact, proposed.fingerprint)
            row = target(session)
            outcome = PublishResult(row.version, row.fingerprint, previous, True, False, impact)
            self._switch(session, row.version)
            return outcome

    @staticmethod
    def _lock(session: Session) -> None:
        """Hold off creates, model changes and other switches; SQLite's BEGIN IMMEDIATE already does."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})

    @staticmethod
    def _active_row(session: Session) -> ManifestVersion | None:
        return session.scalar(select(ManifestVersion).where(ManifestVersion.active.is_(True)))

    @staticmethod
    def _insert(session: Session, proposed: Candidate, note: str | None) -> ManifestVersion:
        number = (session.scalar(select(func.max(ManifestVersion.version))) or 0) + 1
        row = ManifestVersion(
            version=number,
            fingerprint=proposed.registry.fingerprint,
            sha256=proposed.sha256,
            manifest=proposed.manifest,
            note=note,
            active=False,
        )
        session.add(row)
        session.flush()
        return row

    @staticmethod
    def _switch(session: Session, version: int) -> None:
        session.execute(update(ManifestVersion).where(ManifestVersion.active.is_(True)).values(active=False))
        session.execute(update(ManifestVersion).where(ManifestVersion.version == version).values(active=True))
        session.expire_all()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_notify(:channel, :version)"), {"channel": NOTIFY_CHANNEL, "version": str(version)}
            )
