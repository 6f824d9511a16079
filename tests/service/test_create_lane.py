"""POST /workspaces is served outside the router (middleware.Front's lane): every answer it gives,
admissions, the gates' refusals, invalid fields and a retried Idempotency-Key included, is the
one the FastAPI route gives on the same app; what differs is only what each create makes new
(its id and times)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from .conftest import LANE_TOKEN as TOKEN
from .conftest import LiveServer
from .test_authorize_lane import JSON

MISSING_PARENT = "0190a5f0-0000-7000-8000-000000000000"
FIELDS: list[dict[str, Any]] = [
    {"runtime": "hermes", "model": "moonshot/kimi-k2.6"},
    {"runtime": "codex", "model": "gpt-5.5"},
    {"runtime": "hermes", "model": "moonshot/kimi-k2.7"},  # near a menu id: a refusal with suggestions
    {"runtime": "codex", "model": "moonshot/kimi-k2.6"},  # another runtime's
    {"runtime": "hermes", "model": "anthropic/claude-opus-4-1"},  # the billing guardrail's
    {"runtime": "no-such-runtime", "model": "gpt-5.5"},
    {"template": "no-such-template"},
    {"runtime": "hermes"},  # no model
    {"runtime": "hermes", "model": "moonshot/kimi-k2.6", "parent_id": MISSING_PARENT},
    {"runtime": "hermes", "model": "moonshot/kimi-k2.6", "parent_id": "not-an-id"},
    {"runtime": "hermes", "model": "moonshot/kimi-k2.6", "auth_env": ["lower case"]},
    {"runtime": "hermes", "model": "moonshot/kimi-k2.6", "external": True, "url": "https://agent.example/"},
    {"runtime": "hermes", "model": "moonshot/kimi-k2.6", "external": "yes"},
    {"runtime": "hermes", "model": "moonshot/kimi-k2.6", "cost": 1},
    {"runtime": 7, "model": "\ud800"},
]
BODIES: list[bytes] = [
    *(json.dumps({"name": "lane", **fields}).encode() for fields in FIELDS),
    b'{"runtime": "hermes", "model": "moonshot/kimi-k2.6"}',  # no name
    b'{"name": "lane", "runtime": "hermes"',  # cut short
    b"",
    b"[]",
    b"null",
    b'{"name": "\xff"}',  # not UTF-8
]
HEADERS: list[dict[str, str]] = [
    JSON,
    {"Content-Type": "text/plain"},
    {},
    {**JSON, "Origin": "https://attacker.example"},
    {**JSON, "Idempotency-Key": "not a key"},
]
MADE_NEW = ("id", "created_at", "updated_at")  # what two creates of the same body never share


def _seen(live: LiveServer, body: bytes, headers: dict[str, str], bearer: str | None, unique: str = "") -> Any:
    """The answer as a client compares it: status, the replay mark, whether it was timed, and the body with what each
    create makes new (and each server's port) spelled alike. The name "lane" is sent as ``unique``,
    by default one never used before, as a workspace's name is unique among its siblings."""
    unique = unique or f"lane-{uuid.uuid4()}"
    with live.client(bearer) as http:
        answer = http.post("/workspaces", content=body.replace(b'"lane"', f'"{unique}"'.encode()), headers=headers)
    assert answer.status_code != 500, answer.text
    timed = "app;dur=" in answer.headers.get("server-timing", "")
    spelled = json.loads(answer.text.replace(f":{live.port}", ":PORT").replace(unique, "lane"))
    if answer.status_code == 201:
        spelled |= {field: "new" for field in MADE_NEW}
    return answer.status_code, answer.headers.get("idempotent-replayed"), timed, spelled


@pytest.mark.parametrize("bearer", [TOKEN, None], ids=["service-token", "no-token"])
@pytest.mark.parametrize("headers", HEADERS)
@pytest.mark.parametrize("body", BODIES)
def test_the_lane_answers_as_the_route_does(
    lane_and_route: list[LiveServer], body: bytes, headers: dict[str, str], bearer: str | None
) -> None:
    lane, route = (_seen(live, body, headers, bearer) for live in lane_and_route)
    assert lane == route


@pytest.mark.parametrize("body", BODIES[:4])
def test_a_retried_key_is_answered_alike(lane_and_route: list[LiveServer], body: bytes) -> None:
    """Each server with a key of its own: the first answer, then the same one marked as replayed,
    then a different body under that key refused alike."""
    other = json.dumps({"name": "lane", "runtime": "codex", "model": "gpt-5.5"}).encode()
    answers = []
    for live in lane_and_route:
        keyed = {**JSON, "Idempotency-Key": f"create-lane-{uuid.uuid4()}"}
        unique = f"lane-{uuid.uuid4()}"  # sent again as it was
        answers.append([_seen(live, sent, keyed, TOKEN, unique) for sent in (body, body, other)])
    assert answers[0] == answers[1]
    first, again, _ = answers[0]
    assert first[1] is None
    assert again[1] == ("true" if first[0] == 201 else None)


def test_the_lane_admits_onto_a_parent_the_route_made(lane_and_route: list[LiveServer]) -> None:
    """One database behind both: a child created through the lane names a parent the router made."""
    lane, route = lane_and_route
    with route.client(TOKEN) as http:
        parent = http.post("/workspaces", json={"name": "parent", "runtime": "hermes", "model": "moonshot/kimi-k2.6"})
    child = {"name": "child", "runtime": "hermes", "model": "moonshot/kimi-k2.6", "parent_id": parent.json()["id"]}
    with lane.client(TOKEN) as http:
        created = http.post("/workspaces", json=child)
        listed = http.get(f"/workspaces/{created.json()['id']}")
    assert created.status_code == 201, created.text
    assert listed.json()["parent_id"] == parent.json()["id"]
