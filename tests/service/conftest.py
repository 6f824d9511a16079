"""Fixtures for the service: a real uvicorn on a free port, a real SQLite file, a real PostgreSQL.

PostgreSQL comes from ROUTEGATE_TEST_POSTGRES_URL (``export
ROUTEGATE_TEST_POSTGRES_URL=$(scripts/postgres.sh)``); each server gets its
own freshly created database there. Without the variable the PostgreSQL cases
skip with that instruction, except under CI (see :func:`skip_or_fail`), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import psycopg
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url

from routegate.manifest import bundled_manifest_path
from routegate.service import Settings, create_app
from routegate.service.db import Database
from routegate.templates import bundled_templates_path

REPO = Path(__file__).resolve().parents[2]
POSTGRES_ENV = "ROUTEGATE_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgres"]
# How long a test waits for what must happen (a server up, a reload, a recovery): only a bound that
# keeps a broken case from hanging the suite, never a claim about speed, so it is generous for a
# loaded machine.
PATIENCE_S = 180.0


def in_ci() -> bool:
    """CI is set to a true-ish value: "1", "true" or "yes", in any case."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip a test whose real part is missing here; under CI, where everything is installed, fail it."""
    if in_ci():
        pytest.fail(f"CI is set, so nothing may skip, but {reason}", pytrace=False)
    pytest.skip(reason)


def postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    skip_or_fail(f"{POSTGRES_ENV} is not set; start one with: export {POSTGRES_ENV}=$(scripts/postgres.sh)")


def _admin_url(base: str) -> str:
    return make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)


def create_postgres_database(base: str) -> str:
    """A new, empty database on the test server; its SQLAlchemy URL."""
    name = f"rg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_url(base), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(base: str, url: str) -> None:
    """Drop a test database. FORCE ends our own sessions, but a non-superuser cannot end an
    autovacuum worker that happens to be in it: that one is waited out (it finishes in moments)."""
    name = make_url(url).database
    deadline = time.monotonic() + 30
    with psycopg.connect(_admin_url(base), autocommit=True) as connection:
        while True:
            try:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """create_app(settings) served by uvicorn in a background thread on a real socket.

    ``settle_heap`` as ``routegate serve`` does; a test that asks for it unfreezes after."""

    def __init__(self, settings: Settings, *, settle_heap: bool = False) -> None:
        self.settings = settings
        self.app = create_app(settings, settle_heap=settle_heap)
        self.state = self.app.state.routegate
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + PATIENCE_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)
        self._socket.close()

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers, **kwargs)

    def count(self, table: str) -> int:
        """Rows in a table, read straight from the database."""
        with self.state.database.engine.connect() as connection:
            return int(connection.scalar(text(f"SELECT count(*) FROM {table}")))

    def counts(self) -> tuple[int, int]:
        return self.count("workspaces"), self.count("decisions")


def database_url(backend: str, folder: Path) -> Iterator[str]:
    """A fresh database of the given backend, dropped (PostgreSQL) afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'routegate.db'}"
        return
    base = postgres_base_url()
    url = create_postgres_database(base)
    try:
        yield url
    finally:
        drop_postgres_database(base, url)


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database per backend, shared by a module's tests (a module may define its own)."""
    for url in database_url(request.param, tmp_path_factory.mktemp(request.param)):
        opened = Database(url)
        opened.upgrade()
        yield opened
        opened.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from database_url(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def server(backend_url: str) -> Iterator[LiveServer]:
    """The bundled manifest and templates, no token, name suffixes up to 50."""
    live = LiveServer(Settings(database_url=backend_url, name_suffix_limit=50)).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database per test, on each backend."""
    yield from database_url(request.param, tmp_path)


@pytest.fixture
def live(fresh_url: str) -> Iterator[LiveServer]:
    """A server of its own per test, on the bundled defaults (a module may define its own ``live``)."""
    server = LiveServer(Settings(database_url=fresh_url)).start()
    yield server
    server.stop()


def two_servers_on(url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one database, as two workers or two machines would be; both stopped afterwards."""
    first = LiveServer(Settings(database_url=url)).start()
    try:
        second = LiveServer(Settings(database_url=url)).start()
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


LANE_TOKEN = "s3rvice-token"
"""The service token of :func:`lane_and_route`'s servers."""


@pytest.fixture(scope="module", params=BACKENDS)
def lane_and_route(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[LiveServer]]:
    """Two servers of one app on one database: the first as served, the second with ``middleware.Front``
    sending every request to the router, so a lane's answers can be held against its route's."""
    for url in database_url(request.param, tmp_path_factory.mktemp(request.param)):
        settings = Settings(database_url=url, api_token=LANE_TOKEN)
        lane, route = LiveServer(settings), LiveServer(settings)
        route.app.state.front["lanes"] = {}
        yield [lane.start(), route.start()]
        lane.stop()
        route.stop()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


@pytest.fixture
def manifest_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled manifest, for reload tests."""
    target = tmp_path / "providers.yaml"
    shutil.copyfile(bundled_manifest_path(), target)
    return target


@pytest.fixture
def templates_copy(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(bundled_templates_path(), target)
    return target


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "routegate.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )
