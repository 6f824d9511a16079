"""How many writes a serving process runs at once: one on a SQLite file, ``database_writers`` on PostgreSQL.

More PostgreSQL transactions at once than that only contend for the cores, and a burst
beyond the connections the pool keeps used to open a connection for each write and close
it again (a fork on the server, each time). So a burst of concurrent creates, far more than
the setting, must run at most that many transactions at once and close no connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from routegate.service.db import DEFAULT_WRITERS, Database
from routegate.service.settings import Settings, SettingsError

from .conftest import LiveServer, run_cli

CLIENTS = 24
CREATES_EACH = 4


class Overlap:
    """The most create transactions open at once, counted around the database's own ``versioned_write``."""

    def __init__(self, database: Database) -> None:
        self._open = 0
        self.most = 0
        self._lock = threading.Lock()
        real = database.versioned_write

        @contextmanager
        def counted() -> Iterator[Any]:
            with real() as opened:
                with self._lock:
                    self._open += 1
                    self.most = max(self.most, self._open)
                try:
                    yield opened
                finally:
                    with self._lock:
                        self._open -= 1

        database.versioned_write = counted  # type: ignore[method-assign]


def burst_of_creates(server: LiveServer) -> list[int]:
    def client(number: int) -> list[int]:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            return [
                http.post(
                    "/workspaces",
                    json={"name": f"burst {number}-{each}", "runtime": "hermes", "model": "moonshot/kimi-k2.6"},
                ).status_code
                for each in range(CREATES_EACH)
            ]

    with ThreadPoolExecutor(CLIENTS) as clients:
        return [status for statuses in clients.map(client, range(CLIENTS)) for status in statuses]


def test_a_burst_of_creates_runs_as_many_transactions_at_once_as_the_setting_allows(fresh_url: str) -> None:
    writers = 3
    server = LiveServer(Settings(database_url=fresh_url, database_writers=writers)).start()
    try:
        overlap = Overlap(server.state.database)
        closed: list[object] = []
        event.listen(server.state.database.engine, "close", lambda _connection, record: closed.append(record))
        assert burst_of_creates(server) == [201] * CLIENTS * CREATES_EACH
        closed_in_the_burst = len(closed)  # the pool closes the rest when the server stops
        assert server.count("workspaces") == CLIENTS * CREATES_EACH
    finally:
        server.stop()
    if fresh_url.startswith("sqlite"):  # a SQLite file's writers take turns whatever the setting
        assert overlap.most == 1
    else:
        assert 1 < overlap.most <= writers, overlap.most
        assert closed_in_the_burst == 0, f"{closed_in_the_burst} connections opened for the burst were closed again"


def test_the_writers_are_a_setting_with_a_flag_and_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert Settings(database_url=url).database_writers == DEFAULT_WRITERS
    from_env = Settings.from_sources({"database_url": url}, {"ROUTEGATE_DATABASE_WRITERS": "7"})
    assert from_env.database_writers == 7
    assert Settings.from_sources({}, from_env.to_env()).database_writers == 7  # every worker agrees
    assert Settings.from_sources({"database_writers": 2}, {"ROUTEGATE_DATABASE_WRITERS": "7"}).database_writers == 2
    for bad in ({"ROUTEGATE_DATABASE_WRITERS": "many"}, {"ROUTEGATE_DATABASE_WRITERS": "0"}):
        with pytest.raises(SettingsError, match=r"ROUTEGATE_DATABASE_WRITERS|--database-writers"):
            Settings.from_sources({}, bad)
    with pytest.raises(SettingsError, match="between 1 and 64, not 65"):
        Settings(database_url=url, database_writers=65)
    shown = run_cli("serve", "--help").stdout
    assert "--database-writers" in shown and "ROUTEGATE_DATABASE_WRITERS" in shown
