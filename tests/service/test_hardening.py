"""Issue 10's service defects, each tested as a class over real HTTP (and SQLite and PostgreSQL
where the database is involved): the status, the code, where the message points, and that
nothing was written.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from routegate import _ids
from routegate.service import Settings

from .conftest import BACKENDS, LiveServer, database_url

HERMES = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}
HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


@pytest.fixture
def live(fresh_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Settings(database_url=fresh_url)).start()
    yield server
    server.stop()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


def everything(server: LiveServer) -> tuple[int, int, int]:
    """Rows of every table a request could write."""
    return server.count("workspaces"), server.count("decisions"), server.count("idempotency_keys")


def decisions(http: httpx.Client) -> list[dict[str, Any]]:
    return list(http.get("/decisions", params={"limit": 200}).json()["items"])


# --- 8 and 9: template scans stay inside the root and show no server path ----------------------------------


@pytest.fixture
def hostile_templates(tmp_path: Path, templates_copy: Path) -> Path:
    """The bundled templates plus every way a folder or file can lead out of the root or fail to read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = (
        "runtime: hermes\nruntime_config:\n  model: secret/outside-model\n  models:\n    - id: secret/outside-model\n"
    )
    (outside / "config.yaml").write_text(secret)
    (templates_copy / "folder-link").symlink_to(outside)  # the folder leads out
    (templates_copy / "file-link").mkdir()
    (templates_copy / "file-link" / "config.yaml").symlink_to(outside / "config.yaml")  # only the file does
    (templates_copy / "hermes-alias").symlink_to(templates_copy / "hermes")  # inside the root: fine
    (templates_copy / "broken").mkdir()
    (templates_copy / "broken" / "config.yaml").write_text("runtime: [unclosed\n")
    (templates_copy / "not-a-mapping").mkdir()
    (templates_copy / "not-a-mapping" / "config.yaml").write_text("- a list\n")
    (templates_copy / "unreadable").mkdir()
    (templates_copy / "unreadable" / "config.yaml").write_bytes(b"runtime: \xff\xfe\n")
    return templates_copy


def test_template_scans_never_leave_the_root_nor_show_server_paths(
    fresh_url: str, tmp_path: Path, hostile_templates: Path
) -> None:
    server = LiveServer(Settings(database_url=fresh_url, templates=hostile_templates)).start()
    try:
        with server.client() as http:
            before = everything(server)
            listed = http.get("/templates")
            assert listed.status_code == 200
            problems = {p["name"]: p["error"] for p in listed.json()["problems"]}
            assert set(problems) == {"folder-link", "file-link", "broken", "not-a-mapping", "unreadable"}
            for name in ("folder-link", "file-link"):
                assert problems[name] == f"template '{name}' resolves outside the templates root"
            for name in ("broken", "not-a-mapping", "unreadable"):  # the file, relative to the root
                assert problems[name].startswith(f"cannot read {name}/config.yaml: ") or problems[name].startswith(
                    f"{name}/config.yaml: "
                ), problems[name]
            shown = {t["name"] for t in listed.json()["templates"]}
            assert shown == {"claude-code", "codex", "hermes", "openclaw", "hermes-alias"}
            page = http.get("/ui/drift")
            assert page.status_code == 200
            for body in (listed.text, page.text):
                assert "secret/outside-model" not in body, "a template outside the root was read"
                assert str(tmp_path) not in body and str(hostile_templates) not in body

            # A create reads templates by the same rule, and its refusals (and their log) name no path either.
            for name, status, code in (
                ("folder-link", 400, "INVALID_TEMPLATE"),
                ("file-link", 400, "INVALID_TEMPLATE"),
                ("broken", 422, "MODEL_REQUIRED"),
                ("unreadable", 422, "MODEL_REQUIRED"),
            ):
                refused = http.post("/workspaces", json={"name": "t", "runtime": "hermes", "template": name})
                assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
                assert str(tmp_path) not in refused.text
                if code == "MODEL_REQUIRED":  # the template could not fill the model in: the message says why
                    assert f"{name}/config.yaml" in refused.json()["error"]
                else:
                    assert refused.json()["template"] == name
            log = http.get("/decisions", params={"limit": 200})
            assert str(tmp_path) not in log.text and "secret/outside-model" not in log.text
            assert everything(server) == (before[0], before[1] + 4, before[2])  # four refusals logged, nothing else
    finally:
        server.stop()


def test_a_refused_reload_names_the_manifest_file_not_its_folder(tmp_path: Path, manifest_copy: Path) -> None:
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", manifest=manifest_copy)).start()
    try:
        with server.client() as http:
            for breakage in ("not: [valid", "schema_version: 1\n", None):  # bad YAML, bad content, file gone
                if breakage is None:
                    manifest_copy.unlink()
                else:
                    manifest_copy.write_text(breakage)
                refused = http.post("/registry/reload")
                assert refused.status_code == 422 and refused.json()["code"] == "INVALID_MANIFEST"
                assert refused.json()["error"].startswith("providers.yaml: ")
                assert refused.json()["problems"]
                assert str(tmp_path) not in refused.text, refused.text
    finally:
        server.stop()


# --- 10: Idempotency-Key ------------------------------------------------------------------------------------


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


# --- 11: cross-site requests and JSON bodies ------------------------------------------------------------------


def _unsafe_requests(workspace_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("POST", "/workspaces", {"name": "x", **HERMES}),
        ("PUT", f"/workspaces/{workspace_id}/model", {"model": "moonshot/kimi-k2.6"}),
        ("DELETE", f"/workspaces/{workspace_id}", None),
        ("POST", "/registry/check", HERMES),
        ("POST", "/registry/reload", None),
    ]


def test_cross_site_requests_are_403(live: LiveServer, http: httpx.Client, manifest_copy: Path) -> None:
    own = f"http://127.0.0.1:{live.port}"
    created = http.post("/workspaces", json={"name": "target", **HERMES}, headers={"Origin": own})
    assert created.status_code == 201, "the server's own origin must pass"
    foreign = [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": f"http://127.0.0.1:{live.port + 1}"},
        {"Origin": f"http://localhost:{live.port}"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": own, "Sec-Fetch-Site": "cross-site"},
    ]
    before = everything(live)
    for method, path, body in _unsafe_requests(created.json()["id"]):
        for headers in foreign:
            refused = http.request(method, path, json=body, headers=headers)
            assert refused.status_code == 403, (method, path, headers, refused.text)
            assert refused.json()["code"] == "CROSS_SITE_REQUEST"
            assert method in refused.json()["error"]
    # The attack that was tried: a simple text/plain POST from a page.
    simple = http.post(
        "/registry/reload", content=b"x", headers={"Origin": "http://evil.example", "Content-Type": "text/plain"}
    )
    assert simple.status_code == 403 and simple.json()["code"] == "CROSS_SITE_REQUEST"
    login = http.post("/ui/login", data={"token": "t"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert login.status_code == 403
    assert everything(live) == before
    assert http.get(f"/workspaces/{created.json()['id']}").status_code == 200
    same_site = http.post("/registry/check", json=HERMES, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert same_site.status_code == 200


def test_json_endpoints_refuse_other_media_types_with_415(live: LiveServer, http: httpx.Client) -> None:
    created = http.post("/workspaces", json={"name": "target", **HERMES})
    before = everything(live)
    json_body = b'{"name": "x", "runtime": "hermes", "model": "kimi-coding/kimi-k2"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        for method, path, _ in _unsafe_requests(created.json()["id"]):
            headers = {} if content_type is None else {"Content-Type": content_type}
            refused = http.request(method, path, content=json_body, headers=headers)
            assert refused.status_code == 415, (method, path, content_type, refused.text)
            assert refused.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
            assert "application/json" in refused.json()["error"]
    empty_text = http.post("/registry/reload", headers={"Content-Type": "text/plain"})
    assert empty_text.status_code == 415
    assert everything(live) == before
    charset = http.post("/workspaces", content=json_body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert charset.status_code == 201
    assert http.post("/registry/reload").status_code == 200  # no body, no type: a program's reload


# --- 12: text fields show what they say; env names follow the manifest ----------------------------------------

TEXT_FIELDS = {
    "name": {"name": "{}", **HERMES},
    "role": {"name": "n", "role": "{}", **HERMES},
    "runtime": {"name": "n", "runtime": "{}", "model": "kimi-coding/kimi-k2"},
    "model": {"name": "n", "runtime": "hermes", "model": "{}"},
    "template": {"name": "n", "template": "{}", **HERMES},
    "url": {"name": "n", "url": "{}", **HERMES},
    "parent_id": {"name": "n", "parent_id": "{}", **HERMES},
}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    field=st.sampled_from(sorted(TEXT_FIELDS)),
    hidden=st.characters(categories=HIDDEN_CATEGORIES),
    prefix=st.text(alphabet="abc-/", max_size=5),
    suffix=st.text(alphabet="xyz.:", max_size=5),
)
def test_hidden_characters_in_any_text_field_are_400_naming_it(
    text_server: LiveServer, field: str, hidden: str, prefix: str, suffix: str
) -> None:
    body = {
        key: (value.replace("{}", prefix + hidden + suffix) if key == field else value)
        for key, value in TEXT_FIELDS[field].items()
    }
    before = everything(text_server)
    with text_server.client() as http:
        response = http.post("/workspaces", json=body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["code"] == "INVALID_FIELDS" and payload["fields"] == [field]
    assert f"U+{ord(hidden):04X}" in payload["problems"][0]["message"]
    assert f"position {len(prefix)}" in payload["problems"][0]["message"]
    assert everything(text_server) == before


@pytest.fixture(scope="module")
def text_server(backend_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Settings(database_url=backend_url)).start()
    yield server
    server.stop()


def test_named_hidden_characters(text_server: LiveServer) -> None:
    """The issue's examples: a bidi override, a zero-width space, a line separator, a BOM."""
    with text_server.client() as http:
        for char in ("\u202e", "\u200b", "\u2028", "\u2029", "\ufeff", "\x85"):
            response = http.post("/registry/check", json={"runtime": "hermes", "model": f"gpt{char}-4o"})
            assert response.status_code == 400 and response.json()["fields"] == ["model"], repr(char)
        assert http.post("/registry/check", json={"runtime": "hermes", "model": "kimi\u00a0k2"}).status_code == 200


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.text(alphabet="ABCXYZabcxyz019_-. ", min_size=1, max_size=12))
def test_env_names_follow_the_manifest_rule(text_server: LiveServer, name: str) -> None:
    with text_server.client() as http:
        response = http.post("/registry/check", json={**HERMES, "auth_env": [name]})
    accepted = _ids.ENV_NAME.fullmatch(name) is not None
    assert response.status_code == (200 if accepted else 400), (name, response.text)
    if not accepted:
        assert response.json()["fields"] == ["auth_env.0"]


# --- 13: 405 names every allowed method -------------------------------------------------------------------------


def test_405_allow_lists_every_method_the_path_serves(live: LiveServer, http: httpx.Client) -> None:
    created = http.post("/workspaces", json={"name": "m", **HERMES}).json()
    methods = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
    for path in ("/workspaces", f"/workspaces/{created['id']}", f"/workspaces/{created['id']}/model", "/registry"):
        answers = {method: http.request(method, path, json=None) for method in methods}
        served = {method for method, response in answers.items() if response.status_code != 405}
        assert len(served) < len(methods), path
        for method, response in answers.items():
            if response.status_code != 405:
                continue
            assert set(response.headers["allow"].split(", ")) == served, (path, response.headers["allow"])
            if method != "HEAD":  # a HEAD answer has no body
                assert response.json()["code"] == "METHOD_NOT_ALLOWED"
                assert set(response.json()["allowed"]) == served


# --- 14: template names are stored normalised -------------------------------------------------------------------


def test_template_names_are_normalised_before_they_are_stored(live: LiveServer, http: httpx.Client) -> None:
    for spelling in ("./hermes", "hermes/", "./hermes/", "hermes//", ".//hermes"):
        created = http.post("/workspaces", json={"name": "tpl", "template": spelling})
        assert created.status_code == 201, (spelling, created.text)
        assert created.json()["template"] == "hermes"
    refused = http.post("/workspaces", json={"name": "tpl", "template": "./openclaw/"})
    assert refused.status_code == 422 and refused.json()["code"] == "UNREGISTERED_MODEL_FOR_RUNTIME"
    assert {row["template"] for row in decisions(http)} == {"hermes", "openclaw"}
    with live.state.database.engine.connect() as connection:
        stored = set(connection.scalars(text("SELECT DISTINCT template FROM workspaces")))
    assert stored == {"hermes"}
    before = everything(live)
    for nested in ("hermes/extra", "a/b", "."):
        unsafe = http.post("/workspaces", json={"name": "tpl", "template": nested, **HERMES})
        assert unsafe.status_code == 400 and unsafe.json()["code"] == "INVALID_TEMPLATE", nested
    assert everything(live)[0] == before[0]
