"""Large fleets of stored workspaces, for the tests of a long publish: inserted in batches with the
store's own INSERT (:class:`~routegate.service.inserts.RowInsert`), as ``bench/publish.py`` does; and the
replay's read of them held or paced, so a test sees a publish in flight however fast the machine."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from routegate.service import publication
from routegate.service.db import Database, Workspace
from routegate.service.inserts import RowInsert
from routegate.service.store import StoredGroups

from .test_operator_pages import fleet_row

BATCH = 5_000


def fill(database: Database, count: int) -> None:
    """Store ``count`` more workspaces (hermes on kimi-coding's BYOK menu: every bundled variant admits them)."""
    insert = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
    for start in range(0, count, BATCH):
        with database.write_connection() as connection:
            insert.run_many(connection, [fleet_row(number) for number in range(start, min(start + BATCH, count))])


HOLD_BOUND = 120  # seconds a held read waits for its test before it lets itself go


class HeldReads:
    """In place of the replay's read of the fleet (:class:`~routegate.service.store.StoredGroups`):
    each read waits at its first report that ``holds`` for its own release, handed out in arrival
    order; with ``pace``, every report waits that many seconds (a long read, at any machine's speed)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, holds: Callable[[int, int], bool], pace: float = 0) -> None:
        self._read = StoredGroups
        self._holds = holds
        self._pace = pace
        self.arrived: queue.Queue[threading.Event] = queue.Queue()
        monkeypatch.setattr(publication, "StoredGroups", self)

    def __call__(self, reading: Any, progress: Callable[[int, int], None]) -> Any:
        held = False

        def report(read: int, total: int) -> None:
            nonlocal held
            progress(read, total)
            time.sleep(self._pace)
            if not held and self._holds(read, total):
                held = True
                release = threading.Event()
                self.arrived.put(release)
                release.wait(HOLD_BOUND)

        return self._read(reading, report)

    def next_inside(self) -> threading.Event:
        """The release of the next read to reach its hold."""
        return self.arrived.get(timeout=HOLD_BOUND)
