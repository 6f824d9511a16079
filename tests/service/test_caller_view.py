"""The callers' view reads only what changed, and still ends up where a full read does; a server
starts without waiting for its first read, and its calls wait for it.

One view (``here``) issues and revokes through its own :class:`TokenStore`, as the instance
that serves those requests; another (``there``) only refreshes, as every other instance does.
Whatever runs of issues, revocations, model changes and workspace deletes happen between its
refreshes, and however they race them, ``there`` must answer every token as a view built by
one full read would. On PostgreSQL, where transactions commit in any order, a token committed
after a refresh by a transaction that began before it is still read the next time.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from routegate.calls import Scope
from routegate.service import call_service
from routegate.service.call_tokens import TOKEN_PREFIX, CallerView, TokenStore, hash_token
from routegate.service.db import Database, Workspace
from routegate.service.inserts import RowInsert
from routegate.service.settings import Settings
from routegate.service.store import Store

from .conftest import PATIENCE_S, LiveServer, database_url
from .test_operator_pages import HERMES, fleet_row

OLDER_SECRET = f"{TOKEN_PREFIX}written-by-an-older-transaction"
MODELS = ("kimi-coding/kimi-k2", "moonshot/kimi-k2.6", "moonshot/kimi-k2.5")
operations = st.lists(
    st.one_of(
        st.tuples(st.just("issue"), st.integers(0, 5), st.sampled_from([None, 3600, 1])),
        st.tuples(st.just("revoke"), st.integers(0, 30)),
        st.tuples(st.just("model"), st.integers(0, 5), st.sampled_from(MODELS)),
        st.tuples(st.just("delete"), st.integers(0, 5)),
        st.tuples(
            st.just("refresh"),
        ),
    ),
    max_size=40,
)


class Fleet:
    """Workspaces and their tokens on one database, changed through the service's own store."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.here = CallerView(database)
        self.tokens = TokenStore(database, self.here)
        self.store = Store(database, name_suffix_limit=5)
        self.workspaces = [self.workspace() for _ in range(6)]
        self.issued: list[tuple[str, str, str]] = []  # (workspace id, token id, secret)

    def workspace(self) -> str:
        row = fleet_row(0) | {"name": f"caller {uuid.uuid4()}"}
        with self.database.write_connection() as connection:
            RowInsert(Workspace.__table__).run(connection, row)  # type: ignore[arg-type]
        return str(row["id"])

    def issue(self, which: int, expires_in_s: int | None = None) -> None:
        workspace_id = self.workspaces[which % len(self.workspaces)]
        issued = self.tokens.issue(workspace_id, None, expires_in_s, Scope.MENU)
        self.issued.append((workspace_id, issued.row["id"], issued.token))

    def revoke(self, which: int) -> None:
        if self.issued:
            workspace_id, token_id, _ = self.issued[which % len(self.issued)]
            self.tokens.revoke(workspace_id, token_id)

    def change_model(self, which: int, model: str) -> None:
        with self.database.write_connection() as connection:
            connection.execute(
                text("UPDATE workspaces SET model = :model WHERE id = :id"),
                {"model": model, "id": self.workspaces[which % len(self.workspaces)]},
            )

    def delete(self, which: int) -> None:
        """Deletes a workspace (revoking its tokens) and puts a new one in its place."""
        index = which % len(self.workspaces)
        self.store.delete(self.workspaces[index])
        self.workspaces[index] = self.workspace()

    def answers(self, view: CallerView, now: float) -> list[Any]:
        return [view.caller(secret, now) for _, _, secret in self.issued]

    def agree(self, view: CallerView) -> None:
        """``view`` answers every token as a view made by one full read now does. The moment
        compared at is taken after that read, so a token expiring meanwhile is expired in both."""
        fresh = CallerView(self.database)
        fresh.refresh()
        now = time.time()
        assert self.answers(view, now) == self.answers(fresh, now)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_refreshes_of_what_changed_answer_as_a_full_read(database: Database, steps: list[tuple[Any, ...]]) -> None:
    fleet = Fleet(database)
    there = CallerView(database)
    there.refresh()
    for step in steps:
        match step:
            case ("issue", which, expires_in_s):
                fleet.issue(which, expires_in_s)
            case ("revoke", which):
                fleet.revoke(which)
            case ("model", which, model):
                fleet.change_model(which, model)
            case ("delete", which):
                fleet.delete(which)
            case ("refresh",):
                there.refresh()
                fleet.agree(there)
    there.refresh()
    fleet.agree(there)


def test_a_refresh_reads_only_the_rows_that_changed(database: Database) -> None:
    fleet = Fleet(database)
    for which in range(30):
        fleet.issue(which)
    there = CallerView(database)
    assert there.refresh() >= 30  # the first read takes every live token
    assert there.refresh() == 0
    fleet.revoke(3)
    assert there.refresh() == 1
    fleet.change_model(0, MODELS[1])  # the workspace's 5 tokens
    assert there.refresh() == 5
    with database.write_connection() as connection:  # a token's use is no change a view holds
        connection.execute(text("UPDATE call_tokens SET last_used_at = created_at"))
    assert there.refresh() == 0


def test_an_expired_token_leaves_memory_at_the_next_refresh(fresh_url: str) -> None:
    database = Database(fresh_url)
    database.upgrade()
    try:
        fleet = Fleet(database)
        fleet.issue(0, expires_in_s=2)  # the first read must come before it expires
        fleet.issue(1)
        view = CallerView(database)
        view.refresh()
        assert len(view) == 2
        time.sleep(2.05)
        view.refresh()
        assert len(view) == 1
        assert view.caller(fleet.issued[0][2], time.time()) is None
        assert view.caller(fleet.issued[1][2], time.time()) is not None
    finally:
        database.dispose()


def test_refreshes_racing_issues_revokes_and_deletes_miss_nothing(database: Database) -> None:
    """Eight clients change tokens while another instance refreshes as fast as it can, 5 rounds."""
    for _ in range(5):
        _race_one_round(database)


def _race_one_round(database: Database) -> None:
    fleet = Fleet(database)
    there = CallerView(database)
    there.refresh()
    stop = threading.Event()

    def refreshing() -> None:
        while not stop.is_set():
            there.refresh()

    def client(number: int) -> None:
        for step in range(12):
            fleet.issue(number + step)
            if step % 3 == 2:
                fleet.revoke(number * 7 + step)
            if step % 5 == 4:
                fleet.change_model(number + step, MODELS[step % len(MODELS)])

    refresher = threading.Thread(target=refreshing)
    refresher.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(client, range(8)))
        fleet.delete(2)
    finally:
        stop.set()
        refresher.join()
    there.refresh()
    fleet.agree(there)


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_token_committed_after_a_refresh_by_an_older_transaction_is_read_next_time(
    backend: str, tmp_path: Path
) -> None:
    """PostgreSQL numbers a change by its transaction, which may commit after a younger one:
    the refresh between the two commits must not move past the older one."""
    for url in database_url(backend, tmp_path):
        database = Database(url)
        database.upgrade()
        try:
            fleet = Fleet(database)
            there = CallerView(database)
            there.refresh()
            older = database.engine.connect()
            try:
                older.execute(text("SELECT pg_current_xact_id()"))  # the older transaction's id is taken first
                fleet.issue(0)  # a younger transaction, committed at once
                row = {
                    "id": str(uuid.uuid4()),
                    "workspace_id": fleet.workspaces[1],
                    "token_hash": hash_token(OLDER_SECRET),
                    "scope": Scope.MENU.value,
                }
                older.execute(
                    text(
                        "INSERT INTO call_tokens (id, workspace_id, token_hash, scope, created_at) "
                        "VALUES (:id, :workspace_id, :token_hash, :scope, now())"
                    ),
                    row,
                )
                there.refresh()
                assert there.caller(fleet.issued[0][2], time.time()) is not None
                older.commit()
            finally:
                older.close()
            assert there.caller(OLDER_SECRET, time.time()) is None
            there.refresh()
            found = there.caller(OLDER_SECRET, time.time())
            assert found is not None and found.workspace_id == fleet.workspaces[1]
        finally:
            database.dispose()


def _hold_first_reads(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """From now on every view's first read waits until the returned event is set."""
    released = threading.Event()
    reading = CallerView.refresh

    def held(view: CallerView) -> int:
        if not view.loaded.is_set():
            released.wait(PATIENCE_S)
        return reading(view)

    monkeypatch.setattr(CallerView, "refresh", held)
    return released


def token_from_an_earlier_server(url: str) -> str:
    earlier = LiveServer(Settings(database_url=url)).start()
    try:
        with earlier.client() as http:
            created = http.post("/workspaces", json={"name": "loaded later", **HERMES})
            assert created.status_code == 201, created.text
            issued = http.post(f"/workspaces/{created.json()['id']}/call-tokens", json={})
            assert issued.status_code == 201, issued.text
            return str(issued.json()["token"])
    finally:
        earlier.stop()


def _authorize(server: LiveServer, token: str) -> httpx.Response:
    with server.client() as http:
        return http.post("/calls/authorize", json={"token": token, "model": HERMES["model"]})


def test_a_starting_server_serves_while_its_view_loads_and_calls_wait_for_it(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first read takes seconds at a million tokens: the server starts without it, and a
    call that arrives meanwhile is answered once it is done, not refused as unknown."""
    token = token_from_an_earlier_server(fresh_url)
    held_first_read = _hold_first_reads(monkeypatch)
    server = LiveServer(Settings(database_url=fresh_url)).start()
    try:
        with ThreadPoolExecutor(1) as pool, server.client() as http:
            call = pool.submit(_authorize, server, token)
            assert http.post("/workspaces", json={"name": "while loading", **HERMES}).status_code == 201
            health = http.get("/healthz")
            assert (health.status_code, health.json()["call_tokens"]) == (200, "loading")
            time.sleep(0.3)
            assert not call.done()
            held_first_read.set()
            answer = call.result(timeout=PATIENCE_S)
            assert http.get("/healthz").json()["call_tokens"] == "ok"
        assert answer.status_code == 200, answer.text
        assert answer.json()["allowed"] is True
    finally:
        held_first_read.set()
        server.stop()


def test_a_call_that_waits_too_long_for_the_first_read_is_503_with_retry_after(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = token_from_an_earlier_server(fresh_url)
    monkeypatch.setattr(call_service, "LOAD_PATIENCE_S", 0.2)
    held_first_read = _hold_first_reads(monkeypatch)
    server = LiveServer(Settings(database_url=fresh_url)).start()
    try:
        answer = _authorize(server, token)
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "DATABASE_UNAVAILABLE"
        assert answer.headers["Retry-After"] == "1"
        held_first_read.set()
        deadline = time.monotonic() + PATIENCE_S
        while (answer := _authorize(server, token)).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answer.status_code == 200, answer.text
    finally:
        held_first_read.set()
        server.stop()
