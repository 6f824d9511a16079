"""Manifest versions in the database, and the one way a version becomes active: the publish gate.

Publishing (a new manifest) and activating (an older or newer stored version)
are one transaction each, serialised across every instance (``BEGIN
IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on PostgreSQL). Inside
it the candidate is replayed against every stored workspace
(:func:`routegate.publishing.assess`); a blocking impact raises
:class:`~routegate.publishing.ManifestWouldStrand` unless forced, and a dry run
writes nothing. On PostgreSQL the switch also sends ``NOTIFY`` on
:data:`NOTIFY_CHANNEL`, delivered when the transaction commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from routegate.decision import FOREIGN_RUNTIMES
from routegate.errors import InvalidManifest, Problem
from routegate.manifest import parse_manifest
from routegate.publishing import Impact, ManifestWouldStrand, UnknownManifestVersion, assess
from routegate.registry import Registry

from .db import Database, ManifestVersion, iso_utc
from .store import stored_workspaces

__all__ = ["NOTIFY_CHANNEL", "Candidate", "Outcome", "VersionInfo", "VersionStore", "candidate"]

NOTIFY_CHANNEL = "routegate_manifest"
_PG_PUBLISH_LOCK = 0x7075626C6973  # "publis": one publisher at a time across machines


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
class Outcome:
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

    def publish(self, proposed: Candidate, *, note: str | None, dry_run: bool, force: bool) -> Outcome:
        """Store ``proposed`` as the next version and activate it, through the gate.

        The same bytes as the active version change nothing (and need no gate).
        Raises ManifestWouldStrand when the impact blocks and ``force`` is not set.
        """
        with self.database.write() as session:
            self._lock(session)
            active = self._active_row(session)
            previous = None if active is None else _info(active)
            if active is not None and active.sha256 == proposed.sha256 and not dry_run:
                return Outcome(active.version, active.fingerprint, previous, False, False, None)
            impact = self._gate(session, proposed.registry, active, enforce=not (force or dry_run))
            if dry_run:
                return Outcome(None, proposed.registry.fingerprint, previous, False, True, impact)
            row = self._insert(session, proposed, note)
            self._switch(session, row.version)
            return Outcome(row.version, row.fingerprint, previous, True, False, impact)

    def activate(self, version: int, *, force: bool, dry_run: bool = False) -> Outcome:
        """Make a stored version active again (a rollback, or a roll forward), through the same gate.

        Raises UnknownManifestVersion, InvalidManifest (a stored version that today's load
        rules refuse) or ManifestWouldStrand.
        """
        with self.database.write() as session:
            self._lock(session)
            target = session.get(ManifestVersion, version)
            if target is None:
                raise UnknownManifestVersion(version)
            active = self._active_row(session)
            previous = None if active is None else _info(active)
            if target.active and not dry_run:
                return Outcome(target.version, target.fingerprint, previous, False, False, None)
            registry = candidate(target.manifest, f"manifest version {version}", self.foreign_runtimes).registry
            impact = self._gate(session, registry, active, enforce=not (force or dry_run))
            if dry_run:
                return Outcome(target.version, target.fingerprint, previous, False, True, impact)
            self._switch(session, target.version)
            return Outcome(target.version, target.fingerprint, previous, True, False, impact)

    # --- inside the transaction ----------------------------------------------------------------

    def _lock(self, session: Session) -> None:
        """Serialise publishers; SQLite's BEGIN IMMEDIATE already holds the write lock."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_PUBLISH_LOCK})

    @staticmethod
    def _active_row(session: Session) -> ManifestVersion | None:
        return session.scalar(select(ManifestVersion).where(ManifestVersion.active.is_(True)))

    def _gate(self, session: Session, proposed: Registry, active: ManifestVersion | None, *, enforce: bool) -> Impact:
        """The impact of ``proposed``; raises ManifestWouldStrand when it blocks and ``enforce`` is set
        (not forced, not a dry run: a dry run reports the impact, ``blocking`` included)."""
        current = (
            None
            if active is None
            else candidate(active.manifest, f"manifest version {active.version}", self.foreign_runtimes)
        )
        impact = assess(
            proposed,
            stored_workspaces(session),
            current=None if current is None else current.registry,
            foreign_runtimes=self.foreign_runtimes,
        )
        if impact.blocking and enforce:
            raise ManifestWouldStrand(impact, proposed.fingerprint)
        return impact

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
