"""POST /calls/authorize is served outside the router (middleware.Front's lane): every answer it
gives, refusals of a bad request included, is the one the FastAPI route gives on the same app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import LANE_TOKEN as TOKEN
from .conftest import LiveServer

JSON = {"Content-Type": "application/json"}
BODIES: list[tuple[bytes, dict[str, str]]] = [
    (b'{"token": "rgc_unknown", "model": "moonshot/kimi-k2.6"}', JSON),
    (b'{"token": "rgc_unknown", "model": "moonshot/kimi-k2.6"', JSON),  # cut short
    (b"", JSON),
    (b"[]", JSON),
    (b"null", JSON),
    (b'{"token": 1, "model": "m"}', JSON),
    (b'{"token": "rgc_x", "model": 2.5}', JSON),
    (b'{"token": "rgc_x"}', JSON),
    (b'{"token": "rgc_x", "model": "m", "extra": 1}', JSON),
    (b'{"token": "not a token!", "model": "m"}', JSON),
    (b'{"token": "rgc_x", "model": "\\ud800"}', JSON),  # a lone surrogate
    (b'{"token": "rgc_x", "model": "a\\u0000b"}', JSON),
    (b'{"token": "\xff", "model": "m"}', JSON),  # not UTF-8
    (b'{"token": "rgc_x", "model": "m"}', {"Content-Type": "text/plain"}),
    (b'{"token": "rgc_x", "model": "m"}', {}),
    (b'{"token": "rgc_x", "model": "m"}', {**JSON, "Origin": "https://attacker.example"}),
]


@pytest.mark.parametrize("bearer", [TOKEN, None], ids=["service-token", "no-token"])
@pytest.mark.parametrize(("body", "headers"), BODIES)
def test_the_lane_answers_as_the_route_does(
    lane_and_route: list[LiveServer], body: bytes, headers: dict[str, str], bearer: str | None
) -> None:
    answers = []
    for live in lane_and_route:
        with live.client(bearer) as http:
            answer = http.post("/calls/authorize", content=body, headers=headers)
        assert answer.status_code != 500, answer.text
        timed = "app;dur=" in answer.headers.get("server-timing", "")
        spelled = json.loads(answer.text.replace(f":{live.port}", ":PORT"))  # each server's own port
        answers.append((answer.status_code, spelled, timed))
    assert answers[0] == answers[1]


def test_the_lane_admits_and_refuses_calls_with_receipts(lane_and_route: list[LiveServer], tmp_path: Path) -> None:
    lane = lane_and_route[0]
    with lane.client(TOKEN) as http:
        created = http.post("/workspaces", json={"name": "lane", "runtime": "hermes", "model": "moonshot/kimi-k2.6"})
        token = http.post(f"/workspaces/{created.json()['id']}/call-tokens", json={}).json()["token"]
        admitted = http.post("/calls/authorize", json={"token": token, "model": "moonshot/kimi-k2.6"})
        refused = http.post("/calls/authorize", json={"token": token, "model": "anthropic/claude-opus-4-1"})
        receipts = http.get("/calls/receipts", params={"workspace_id": created.json()["id"]}).json()["items"]
    assert admitted.status_code == 200 and admitted.json()["allowed"] is True
    assert refused.status_code == 403 and refused.json()["allowed"] is False
    assert {r["id"] for r in receipts} == {admitted.json()["receipt_id"], refused.json()["receipt_id"]}


def test_an_unexpected_error_in_the_lane_is_the_services_500(
    lane_and_route: list[LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lane runs outside FastAPI's error middleware: an error without a handler of its own still
    gets the service's logged 500 in its JSON shape, and the server goes on."""
    lane = lane_and_route[0]

    async def broken(*_: object) -> None:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(lane.app.state.calls, "authorize", broken)
    with lane.client(TOKEN) as http:
        failed = http.post("/calls/authorize", json={"token": "rgc_x", "model": "m"})
    monkeypatch.undo()
    with lane.client(TOKEN) as http:
        alive = http.post("/calls/authorize", json={"token": "rgc_x", "model": "m"})
    assert failed.headers["content-type"] == "application/json", failed.text
    assert (failed.status_code, failed.json()["code"]) == (500, "INTERNAL")
    assert (alive.status_code, alive.json()["code"]) == (401, "CALL_TOKEN_INVALID")
