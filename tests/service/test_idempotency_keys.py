"""``Idempotency-Key`` over real HTTP on SQLite and PostgreSQL: a retry gets the first answer and
writes nothing, across instances and restarts, for 24 hours; a key reused for another request or
malformed is refused, and a refused request stores none.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import text

from routegate.service import Settings

from .conftest import LiveServer
from .writes import HERMES, everything


def test_a_retry_with_its_key_gets_the_first_answer_and_writes_nothing(live: LiveServer, http: httpx.Client) -> None:
    key = str(uuid.uuid4())
    first = http.post("/workspaces", json={"name": "retried", **HERMES}, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    after_first = everything(live)
    # The same request, however it is spelt (key order, spacing, a default written out).
    spellings = [
        httpx.Request("POST", "/", json={"name": "retried", **HERMES}).content,
        b'{"model": "kimi-coding/kimi-k2",  "runtime": "hermes", "name": "retried", "external": false}',
    ]
    for body in spellings:
        again = http.post(
            "/workspaces", content=body, headers={"Idempotency-Key": key, "Content-Type": "application/json"}
        )
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["idempotent-replayed"] == "true"
    assert everything(live) == after_first, "a retry wrote something"
    assert [w["name"] for w in http.get("/workspaces").json()["items"]] == ["retried"]

    # The model change takes a key too.
    path = f"/workspaces/{first.json()['id']}/model"
    change = {"model": "openrouter/anthropic/claude-3.5-sonnet", "auth_env": ["OPENROUTER_API_KEY"]}
    changed = http.put(path, json=change, headers={"Idempotency-Key": "change-1"})
    assert changed.status_code == 200
    after_change = everything(live)
    http.put(path, json={"model": "moonshot/kimi-k2.6"})  # another change meanwhile, without a key
    replayed = http.put(path, json=change, headers={"Idempotency-Key": "change-1"})
    assert (replayed.status_code, replayed.json()) == (200, changed.json())
    assert everything(live)[2] == after_change[2]
    assert http.get(f"/workspaces/{first.json()['id']}").json()["model"] == "moonshot/kimi-k2.6"


def test_a_key_used_for_another_request_is_422(live: LiveServer, http: httpx.Client) -> None:
    key = "order-42"
    created = http.post("/workspaces", json={"name": "one", **HERMES}, headers={"Idempotency-Key": key})
    assert created.status_code == 201
    before = everything(live)
    others: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/workspaces", {"name": "two", **HERMES}),
        ("POST", "/workspaces", {"name": "one", **HERMES, "role": "r"}),
        ("POST", "/workspaces", {"name": "one", "runtime": "hermes", "model": "gpt-4o"}),  # would be refused
        ("PUT", f"/workspaces/{created.json()['id']}/model", {"model": "moonshot/kimi-k2.6"}),
    ]
    for method, path, body in others:
        reused = http.request(method, path, json=body, headers={"Idempotency-Key": key})
        assert reused.status_code == 422, reused.text
        assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert "Idempotency-Key" in reused.json()["error"]
    assert everything(live) == before


def test_invalid_keys_are_400_naming_the_header(live: LiveServer, http: httpx.Client) -> None:
    before = everything(live)
    for key in ("", "has space", "k" * 256, "tab\there", "é"):
        response = http.post(
            "/workspaces",
            json={"name": "k", **HERMES},
            headers={"Idempotency-Key": key.encode("utf-8")},
        )
        assert response.status_code == 400, (key, response.text)
        assert response.json()["code"] == "INVALID_FIELDS"
        assert response.json()["fields"] == ["Idempotency-Key"], response.json()
    assert everything(live) == before


def test_a_refused_request_stores_no_key(live: LiveServer, http: httpx.Client) -> None:
    refused = http.post(
        "/workspaces", json={"name": "r", "runtime": "hermes", "model": "gpt-4o"}, headers={"Idempotency-Key": "r-1"}
    )
    assert refused.status_code == 422 and live.count("idempotency_keys") == 0
    fixed = http.post("/workspaces", json={"name": "r", **HERMES}, headers={"Idempotency-Key": "r-1"})
    assert fixed.status_code == 201


def test_concurrent_retries_across_instances_create_once(fresh_url: str) -> None:
    """Two service instances on one database; 24 clients send one keyed create at once."""
    servers = [LiveServer(Settings(database_url=fresh_url)).start() for _ in range(2)]
    try:
        clients = [servers[n % 2].client() for n in range(24)]
        barrier = threading.Barrier(len(clients))
        body = {"name": "once", **HERMES}

        def send(client: httpx.Client) -> httpx.Response:
            barrier.wait()
            return client.post("/workspaces", json=body, headers={"Idempotency-Key": "crowd-key"})

        with ThreadPoolExecutor(len(clients)) as pool:
            responses = list(pool.map(send, clients))
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses if r.status_code != 201]
        assert len({r.json()["id"] for r in responses}) == 1
        assert sum(r.headers.get("idempotent-replayed") != "true" for r in responses) == 1
        assert everything(servers[0]) == (1, 1, 1)
        for client in clients:
            client.close()
    finally:
        for server in servers:
            server.stop()


def test_keys_hold_across_restarts_for_24_hours(fresh_url: str) -> None:
    first = LiveServer(Settings(database_url=fresh_url)).start()
    try:
        with first.client() as http:
            created = http.post("/workspaces", json={"name": "kept", **HERMES}, headers={"Idempotency-Key": "k-24"})
            assert created.status_code == 201
    finally:
        first.stop()
    second = LiveServer(Settings(database_url=fresh_url)).start()
    try:
        with second.client() as http:
            again = http.post("/workspaces", json={"name": "kept", **HERMES}, headers={"Idempotency-Key": "k-24"})
            assert (again.status_code, again.json()) == (201, created.json())
            assert everything(second) == (1, 1, 1)
            with second.state.database.engine.begin() as connection:  # the key grows 25 hours old
                connection.execute(
                    text("UPDATE idempotency_keys SET created_at = :then"),
                    {"then": _hours_ago(25)},
                )
            expired = http.post(
                "/workspaces",
                json={"name": "kept", "runtime": "hermes", "model": "moonshot/kimi-k2.6"},
                headers={"Idempotency-Key": "k-24"},
            )
            assert expired.status_code == 201 and expired.json()["name"] == "kept (2)"
            assert everything(second) == (2, 2, 1)  # the old key was forgotten, the new one stored
    finally:
        second.stop()


def _hours_ago(hours: int) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(hours=hours)
