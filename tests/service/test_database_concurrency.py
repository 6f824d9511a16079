"""How many threads a serving process uses the database in at once, and that its pool keeps their connections.

Reads run in at most ``database_readers`` threads at once; writes one at a time on a SQLite
file, ``database_writers`` at once on PostgreSQL. More only contend for the cores, and a
burst beyond the connections the pool keeps used to open a connection per request and close
it again (on PostgreSQL a server process forked each time). So a burst of concurrent
requests, far more than either setting, must keep to the setting and close no connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from routegate.service.db import DEFAULT_READERS, DEFAULT_WRITERS
from routegate.service.settings import Settings, SettingsError

from .conftest import LiveServer, free_port, run_cli

CLIENTS = 24
REQUESTS_EACH = 4


class Overlap:
    """The most calls of one method open at once, counted around the real method of one object
    (for a context manager's method, while its context is open)."""

    def __init__(self, owner: object, method: str, *, context_manager: bool) -> None:
        self.most = 0
        self._open = 0
        self._lock = threading.Lock()
        self._real = getattr(owner, method)
        setattr(owner, method, self._counted_context if context_manager else self._counted)

    @contextmanager
    def _inside(self) -> Iterator[None]:
        with self._lock:
            self._open += 1
            self.most = max(self.most, self._open)
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1

    def _counted(self, *args: Any, **kwargs: Any) -> Any:
        with self._inside():
            return self._real(*args, **kwargs)

    @contextmanager
    def _counted_context(self) -> Iterator[Any]:
        real: AbstractContextManager[Any] = self._real()
        with real as opened, self._inside():
            yield opened


def burst(server: LiveServer, send: Callable[[httpx.Client, str], httpx.Response]) -> list[int]:
    """``CLIENTS`` clients at once, each sending ``REQUESTS_EACH`` requests on its own connection."""

    def client(number: int) -> list[int]:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            return [send(http, f"{number}-{each}").status_code for each in range(REQUESTS_EACH)]

    with ThreadPoolExecutor(CLIENTS) as clients:
        return [status for statuses in clients.map(client, range(CLIENTS)) for status in statuses]


def create(http: httpx.Client, name: str) -> httpx.Response:
    return http.post("/workspaces", json={"name": f"burst {name}", "runtime": "hermes", "model": "moonshot/kimi-k2.6"})


def list_page(http: httpx.Client, _name: str) -> httpx.Response:
    return http.get("/workspaces", params={"limit": 5})


@pytest.mark.parametrize(
    ("send", "owner", "method"), [(create, "database", "versioned_write"), (list_page, "store", "page")]
)
def test_a_burst_keeps_to_the_setting_and_closes_no_connection(
    fresh_url: str, send: Callable[[httpx.Client, str], httpx.Response], owner: str, method: str
) -> None:
    readers, writers = 2, 3
    server = LiveServer(Settings(database_url=fresh_url, database_readers=readers, database_writers=writers)).start()
    try:
        for number in range(3):  # something to list
            assert create(server.client(), f"first {number}").status_code == 201
        overlap = Overlap(getattr(server.state, owner), method, context_manager=send is create)
        closed: list[object] = []
        event.listen(server.state.database.engine, "close", lambda _connection, record: closed.append(record))
        assert burst(server, send) == [201 if send is create else 200] * CLIENTS * REQUESTS_EACH
        closed_in_the_burst = len(closed)  # the pool closes the rest when the server stops
    finally:
        server.stop()
    if send is list_page:
        assert 1 < overlap.most <= readers, overlap.most
    elif fresh_url.startswith("sqlite"):  # a SQLite file's writers take turns whatever the setting
        assert overlap.most == 1
    else:
        assert 1 < overlap.most <= writers, overlap.most
    assert closed_in_the_burst == 0, f"{closed_in_the_burst} connections opened for the burst were closed again"


@pytest.mark.parametrize(("setting", "default"), [("readers", DEFAULT_READERS), ("writers", DEFAULT_WRITERS)])
def test_each_is_a_setting_with_a_flag_and_environment(setting: str, default: int, tmp_path: Path) -> None:
    url, key, variable, flag = (
        f"sqlite:///{tmp_path / 'a.db'}",
        f"database_{setting}",
        f"ROUTEGATE_DATABASE_{setting.upper()}",
        f"--database-{setting}",
    )
    assert getattr(Settings(database_url=url), key) == default
    from_env = Settings.from_sources({"database_url": url}, {variable: "7"})
    assert getattr(from_env, key) == 7
    assert getattr(Settings.from_sources({}, from_env.to_env()), key) == 7  # every worker agrees
    assert getattr(Settings.from_sources({key: 2}, {variable: "7"}), key) == 2
    with pytest.raises(SettingsError, match=f"{variable} must be a whole number, such as {default}, not 'many'"):
        Settings.from_sources({}, {variable: "many"})
    for given, environ in (({}, {variable: "0"}), ({"database_url": url, key: 65}, {})):
        with pytest.raises(SettingsError, match=rf"{flag} \({variable}\) must be between 1 and 64, not (0|65)"):
            Settings.from_sources(given, environ)
    shown = run_cli("serve", "--help").stdout
    assert flag in shown and variable in shown


@pytest.mark.parametrize(
    ("args", "environ", "said"),
    [
        (["--database-writers", "0"], {}, "--database-writers (ROUTEGATE_DATABASE_WRITERS) must be between 1 and 64"),
        (["--database-readers", "65"], {}, "--database-readers (ROUTEGATE_DATABASE_READERS) must be between 1 and 64"),
        (["--database-readers", "some"], {}, "--database-readers: invalid int value: 'some'"),
        (
            [],
            {"ROUTEGATE_DATABASE_READERS": "lots"},
            f"ROUTEGATE_DATABASE_READERS must be a whole number, such as {DEFAULT_READERS}",
        ),
        (
            [],
            {"ROUTEGATE_DATABASE_WRITERS": "-3"},
            "--database-writers (ROUTEGATE_DATABASE_WRITERS) must be between 1 and 64, not -3",
        ),
    ],
)
def test_serve_refuses_a_bad_setting_before_it_listens(
    args: list[str], environ: dict[str, str], said: str, tmp_path: Path
) -> None:
    """The process exits 2 naming the setting, and nothing was created for it."""
    database = tmp_path / "never.db"
    done = run_cli(
        "serve", "--database-url", f"sqlite:///{database}", "--port", str(free_port()), *args, env=environ, timeout=30
    )
    assert done.returncode == 2 and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not database.exists()
