"""The call gate over HTTP, on SQLite and PostgreSQL: tokens, POST /calls/authorize against the
core's decision, receipts, a publish that changes the next answer, and two instances on one database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from routegate.calls import Payer, Scope, decide_call
from routegate.registry import Registry
from routegate.service.call_tokens import TOKEN_PREFIX, hash_token

from .conftest import LiveServer, database_url, free_port
from .test_cli import serving
from .test_versions import NEW_MODEL, add_platform_model, variant

WORKSPACES = {  # runtime: (model, external)
    "hermes": ("moonshot/kimi-k2.6", False),
    "claude-code": ("anthropic/claude-opus-4-7", False),
    "codex": ("gpt-5.5", False),
    "openclaw": (None, False),
    "external": (None, True),
    "langgraph": ("anything", False),
}


def _ids(registry: Registry) -> list[str]:
    menu = [m for rt in registry.runtimes for m in registry.menu(rt)]
    extra = ["anthropic/claude-opus-4-1", "platform/x", "openrouter/x", "GLM-5", "", "  kimi-coding/kimi-k2 "]
    variants = [v for m in menu[::4] for v in (m.upper(), m.replace("/", ":"), f"platform/{m}", m + "x")]
    return list(dict.fromkeys(menu + extra + variants))


def workspace(http: httpx.Client, name: str, runtime: str, model: str | None = None, **more: Any) -> dict[str, Any]:
    body = {"name": name, "runtime": runtime, **more}
    if model is not None:
        body["model"] = model
    created = http.post("/workspaces", json=body)
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def issue(http: httpx.Client, workspace_id: str, **body: Any) -> dict[str, Any]:
    issued = http.post(f"/workspaces/{workspace_id}/call-tokens", json=body)
    assert issued.status_code == 201, issued.text
    return issued.json()  # type: ignore[no-any-return]


def authorize(http: httpx.Client, token: str, model: str) -> httpx.Response:
    return http.post("/calls/authorize", json={"token": token, "model": model})


def _menu_model(registry: Registry, runtime: str) -> str | None:
    model, _ = WORKSPACES[runtime]
    if model is None and runtime in registry.runtimes:
        return registry.menu(runtime)[0]
    return model


def test_every_runtimes_calls_are_the_cores_decision(server: LiveServer, client: httpx.Client) -> None:
    registry = server.state.registry
    for runtime, (_, external) in WORKSPACES.items():
        own = _menu_model(registry, runtime)
        created = workspace(client, f"oracle-{runtime}", runtime, own, external=external)
        token = issue(client, created["id"])["token"]
        for model in _ids(registry):
            answer = authorize(client, token, model)
            call = decide_call(registry, runtime, created["model"], created["auth_env"], model, Scope.MENU)
            body = answer.json()
            assert answer.status_code == (200 if call.allowed else 403), (runtime, model, body)
            assert body["allowed"] is call.allowed and body["receipt_id"]
            if not call.allowed:
                assert body["code"] == call.code and body["error"] == call.reason
                continue
            assert body["payer"] == call.payer and body["required_env"] == list(call.required_env)
            if call.payer is Payer.PLATFORM:
                assert call.upstream is not None and body["upstream"]["vendor"] == call.upstream.vendor
            else:
                assert body["upstream"] is None


def test_the_guardrail_id_is_refused_on_hermes_with_a_receipt(server: LiveServer, client: httpx.Client) -> None:
    created = workspace(client, "guardrail", "hermes", "moonshot/kimi-k2.6")
    token = issue(client, created["id"], note="gateway")["token"]
    refused = authorize(client, token, "anthropic/claude-opus-4-1")
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "UNREGISTERED_MODEL_FOR_RUNTIME" and body["allowed"] is False
    receipts = client.get("/calls/receipts", params={"workspace_id": created["id"]}).json()["items"]
    assert [(r["id"], r["allowed"], r["code"], r["payer"]) for r in receipts] == [
        (body["receipt_id"], False, "UNREGISTERED_MODEL_FOR_RUNTIME", None)
    ]


def test_tokens_are_shown_once_stored_as_hashes_and_listed_without_secrets(
    server: LiveServer, client: httpx.Client
) -> None:
    created = workspace(client, "tokens", "hermes", "moonshot/kimi-k2.6")
    issued = issue(client, created["id"], note="gw", expires_in_s=3600)
    token = issued["token"]
    assert token.startswith(TOKEN_PREFIX) and len(token) >= len(TOKEN_PREFIX) + 43
    assert issued["workspace_id"] == created["id"] and issued["expires_at"] and issued["revoked_at"] is None
    listed = client.get(f"/workspaces/{created['id']}/call-tokens").json()["items"]
    assert [t["id"] for t in listed] == [issued["id"]] and "token" not in listed[0]
    with server.state.database.engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM call_tokens WHERE id = :id"), {"id": issued["id"]}).one()
    assert token not in [str(value) for value in stored] and stored.token_hash == hash_token(token)
    assert client.post("/workspaces/0000/call-tokens", json={}).json()["code"] == "WORKSPACE_NOT_FOUND"


def test_deleted_workspace_revoked_and_expired_tokens_are_401_alike(server: LiveServer, client: httpx.Client) -> None:
    created = workspace(client, "doomed", "hermes", "moonshot/kimi-k2.6")
    kept = workspace(client, "kept", "hermes", "moonshot/kimi-k2.6")
    doomed = issue(client, created["id"])
    revoked = issue(client, kept["id"])
    expiring = issue(client, kept["id"], expires_in_s=1)
    for token in (doomed, revoked, expiring):
        assert authorize(client, token["token"], "moonshot/kimi-k2.6").status_code == 200
    assert client.delete(f"/workspaces/{created['id']}").status_code == 204
    assert client.delete(f"/workspaces/{kept['id']}/call-tokens/{revoked['id']}").status_code == 204
    assert client.delete(f"/workspaces/{kept['id']}/call-tokens/{revoked['id']}").status_code == 204  # again: fine
    time.sleep(1.05)
    answers = [authorize(client, t["token"], "moonshot/kimi-k2.6") for t in (doomed, revoked, expiring)]
    answers.append(authorize(client, TOKEN_PREFIX + "never-issued", "moonshot/kimi-k2.6"))
    assert {(a.status_code, a.json()["code"], a.json()["error"]) for a in answers} == {
        (401, "CALL_TOKEN_INVALID", answers[0].json()["error"])
    }
    listed = {t["id"]: t for t in client.get(f"/workspaces/{kept['id']}/call-tokens").json()["items"]}
    assert listed[revoked["id"]]["revoked_at"] and listed[expiring["id"]]["revoked_at"] is None
    with server.state.database.engine.connect() as connection:
        gone = connection.scalar(text("SELECT revoked_at FROM call_tokens WHERE id = :id"), {"id": doomed["id"]})
    assert gone is not None


def test_scope_model_admits_only_the_workspaces_model(server: LiveServer, client: httpx.Client) -> None:
    created = workspace(client, "scoped", "hermes", "moonshot/kimi-k2.6")
    token = issue(client, created["id"], scope="model")["token"]
    assert authorize(client, token, "moonshot/kimi-k2.6").status_code == 200
    other = authorize(client, token, "moonshot/kimi-k2.5")
    assert other.status_code == 403 and other.json()["code"] == "CALL_OUTSIDE_WORKSPACE_MODEL"


def test_a_model_change_reaches_the_view_within_a_second(server: LiveServer, client: httpx.Client) -> None:
    created = workspace(client, "moving", "hermes", "moonshot/kimi-k2.6")
    token = issue(client, created["id"], scope="model")["token"]
    assert authorize(client, token, "moonshot/kimi-k2.5").status_code == 403
    changed = client.put(f"/workspaces/{created['id']}/model", json={"model": "moonshot/kimi-k2.5"})
    assert changed.status_code == 200, changed.text
    started = time.monotonic()
    while authorize(client, token, "moonshot/kimi-k2.5").status_code != 200:
        assert time.monotonic() - started < 1.0, "the model change did not reach the call gate within a second"
        time.sleep(0.02)
    assert authorize(client, token, "moonshot/kimi-k2.6").json()["code"] == "CALL_OUTSIDE_WORKSPACE_MODEL"


def test_receipts_page_by_cursor_filter_take_usage_once_and_sum_up(server: LiveServer, client: httpx.Client) -> None:
    created = workspace(client, "receipts", "hermes", "moonshot/kimi-k2.6")
    token = issue(client, created["id"])["token"]
    asked = ["moonshot/kimi-k2.6", "openrouter/x", "gpt-4o", "moonshot/kimi-k2.5", "openrouter/y"]
    ids = [authorize(client, token, model).json()["receipt_id"] for model in asked]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"workspace_id": created["id"], "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/calls/receipts", params=params).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    tenant = client.get("/calls/receipts", params={"workspace_id": created["id"], "payer": "tenant"}).json()
    assert [r["model"] for r in tenant["items"]] == ["openrouter/y", "openrouter/x"]
    refused = client.get("/calls/receipts", params={"workspace_id": created["id"], "allowed": False}).json()
    assert [r["model"] for r in refused["items"]] == ["gpt-4o"]
    report = {"prompt_tokens": 120, "completion_tokens": 30, "status": "ok"}
    reported = client.post(f"/calls/receipts/{ids[0]}/usage", json=report)
    assert reported.status_code == 200 and reported.json()["usage"] == {"prompt_tokens": 120, "completion_tokens": 30}
    again = client.post(f"/calls/receipts/{ids[0]}/usage", json=report)
    assert again.status_code == 409 and again.json()["code"] == "USAGE_ALREADY_REPORTED"
    later = client.get("/calls/receipts", params={"workspace_id": created["id"], "since": "2999-01-01T00:00:00Z"})
    assert later.status_code == 200 and later.json() == {"items": [], "next_cursor": None}
    summary = client.get("/calls/summary", params={"workspace_id": created["id"]}).json()
    rows = {(i["payer"], i["provider"]): (i["calls"], i["prompt_tokens"]) for i in summary["items"]}
    assert rows == {("platform", "platform"): (2, 120), ("tenant", "openrouter"): (2, 0)} and summary["refused"] == 1


def test_a_cursor_that_names_no_receipt_is_a_documented_404(client: httpx.Client) -> None:
    """A receipt id's first 48 bits are its millisecond: these name moments past the year 9999."""
    documented = client.get("/openapi.json").json()["paths"]["/calls/receipts"]["get"]["responses"]
    for cursor in ("ef246b48-e03c-7903-8f40-d41058095d03", "ffffffff-ffff-7fff-bfff-ffffffffffff"):
        answer = client.get("/calls/receipts", params={"cursor": cursor})
        assert answer.status_code == 404, answer.text
        assert (answer.json()["code"], answer.json()["receipt_id"]) == ("RECEIPT_NOT_FOUND", cursor)
        assert "404" in documented


def test_a_publish_that_changes_a_decision_changes_the_next_call(server: LiveServer, client: httpx.Client) -> None:
    created = workspace(client, "publish", "hermes", "moonshot/kimi-k2.6")
    token = issue(client, created["id"])["token"]
    before = authorize(client, token, NEW_MODEL)
    assert before.status_code == 403
    published = client.post("/registry/versions", json={"manifest": variant(add_platform_model(NEW_MODEL))})
    assert published.status_code in (200, 201), published.text
    after = authorize(client, token, NEW_MODEL)
    assert after.status_code == 200 and after.json()["payer"] == "platform"
    assert after.json()["manifest_version"] == published.json()["version"]
    back = client.post("/registry/versions/1/activate", json={"force": True})
    assert back.status_code == 200, back.text
    assert authorize(client, token, NEW_MODEL).status_code == 403


def test_metrics_count_calls_by_outcome_and_payer(client: httpx.Client) -> None:
    text_ = client.get("/metrics").text
    assert 'routegate_calls_total{outcome="admitted",payer="platform"}' in text_
    assert 'routegate_calls_total{outcome="CALL_TOKEN_INVALID",payer="none"}' in text_
    for name in ("routegate_call_authorize_seconds_bucket", "routegate_call_receipt_queue_depth"):
        assert name in text_
    assert "routegate_call_receipt_waits_total" in text_


# --- two instances on one database ------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two ``routegate serve`` processes on one database, a client for each."""
    for url in database_url(request.param, tmp_path):
        ports = free_port(), free_port()
        for name in "ab":
            (tmp_path / name).mkdir()
        with (
            serving("--port", str(ports[0]), "--database-url", url, cwd=tmp_path / "a", port=ports[0]),
            serving("--port", str(ports[1]), "--database-url", url, cwd=tmp_path / "b", port=ports[1]),
            httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as first,
            httpx.Client(base_url=f"http://127.0.0.1:{ports[1]}", timeout=30) as second,
        ):
            yield first, second


def _answers_within(seconds: float, http: httpx.Client, token: str, status: int) -> None:
    """``token``'s calls are answered ``status`` within ``seconds``."""
    started = time.monotonic()
    while authorize(http, token, "moonshot/kimi-k2.6").status_code != status:
        assert time.monotonic() - started < seconds, f"not {status} within {seconds} s"
        time.sleep(0.02)


def test_a_token_issued_or_revoked_on_one_instance_is_honoured_by_the_other_within_a_second(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = pair
    created = workspace(first, "fleet", "hermes", "moonshot/kimi-k2.6")
    for _ in range(3):
        issued = issue(first, created["id"])
        _answers_within(1.0, second, issued["token"], 200)
        assert second.delete(f"/workspaces/{created['id']}/call-tokens/{issued['id']}").status_code == 204
        assert authorize(second, issued["token"], "moonshot/kimi-k2.6").status_code == 401  # here: at once
        _answers_within(1.0, first, issued["token"], 401)
    last = issue(second, created["id"])
    _answers_within(1.0, first, last["token"], 200)
    assert second.delete(f"/workspaces/{created['id']}").status_code == 204
    _answers_within(1.0, first, last["token"], 401)
