"""SQLite's WAL is copied back into the file by the service's own thread, so no commit pays for it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from routegate.service.engines import WalCheckpoints, wal_checkpoints

PAGES = 200  # below SQLite's own checkpoint at 1000 pages: only a background checkpoint moves them


def _filled_wal(file: Path) -> sqlite3.Connection:
    """A WAL database whose last commit, PAGES pages of it, is still only in the WAL."""
    connection = sqlite3.connect(file, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE blobs (data BLOB)")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("BEGIN")
    for _ in range(PAGES):
        connection.execute("INSERT INTO blobs VALUES (zeroblob(4000))")
    connection.execute("COMMIT")
    return connection


def _pages_in_file(file: Path) -> int:
    return file.stat().st_size // 4096


@pytest.mark.parametrize("running", [True, False], ids=["checkpoints", "none"])
def test_committed_pages_reach_the_file_only_with_the_checkpoints(tmp_path: Path, running: bool) -> None:
    file = tmp_path / "wal.db"
    writer = _filled_wal(file)
    before = _pages_in_file(file)
    checkpoints = WalCheckpoints(file)
    if running:
        checkpoints.start()
    deadline = time.monotonic() + (10.0 if running else 0.5)  # 0.1 s apart: 10 s allows a loaded machine
    while time.monotonic() < deadline and _pages_in_file(file) < before + PAGES:
        time.sleep(0.02)
    checkpoints.stop()
    moved = _pages_in_file(file) >= before + PAGES
    writer.close()
    assert moved is running


def test_stop_ends_the_thread_at_once(tmp_path: Path) -> None:
    checkpoints = WalCheckpoints(tmp_path / "idle.db")
    checkpoints.start()
    started = time.monotonic()
    checkpoints.stop()
    assert time.monotonic() - started < 5.0  # it waits 0.1 s between checkpoints, not for the next
    assert not checkpoints._thread.is_alive()


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("sqlite:////tmp/routegate.db", True),
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
        ("postgresql+psycopg://user@localhost/routegate", False),
    ],
)
def test_only_a_sqlite_file_gets_checkpoints(url: str, kept: bool) -> None:
    assert (wal_checkpoints(url) is not None) is kept
