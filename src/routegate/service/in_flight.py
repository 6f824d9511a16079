"""The publishes, activations and reloads this process is replaying now, and how far each is.

A replay of a large fleet takes seconds (3 to 5 at a million workspaces), and
the request waiting on it says nothing until it ends: ``GET
/registry/versions/progress`` and the console read this instead. It is one
process's own account (each worker and instance keeps its own, and nothing is
stored), safe to update from every thread that publishes and to read from any.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .db import iso_utc, utcnow
from .publication import ReplayProgress

__all__ = ["Replay", "ReplayKind", "Replays"]


class ReplayKind(enum.StrEnum):
    """What a replay is for."""

    PUBLISH = "publish"
    ACTIVATE = "activate"
    RELOAD = "reload"


@dataclass(frozen=True, slots=True)
class Replay:
    """One replay in flight, as it stood at its last report."""

    kind: ReplayKind
    dry_run: bool
    version: int | None  # the version an activation makes active
    started_at: datetime
    replayed: int = 0
    total: int | None = None  # None until the replay has counted the fleet

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
    """The replays in flight in this process, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self._running: dict[int, Replay] = {}

    def now(self) -> list[Replay]:
        with self._lock:
            return list(self._running.values())

    @contextmanager
    def track(self, kind: ReplayKind, *, dry_run: bool, version: int | None = None) -> Iterator[ReplayProgress]:
        """Lists a replay for the block, however it ends; yields the progress its publish reports to."""
        with self._lock:
            number = next(self._numbers)
            self._running[number] = Replay(kind, dry_run, version, utcnow())

        def report(replayed: int, total: int) -> None:
            with self._lock:
                self._running[number] = dataclasses.replace(self._running[number], replayed=replayed, total=total)

        try:
            yield report
        finally:
            with self._lock:
                del self._running[number]
