"""POST /calls/receipts/{receipt_id}/usage is served outside the router too (middleware.Front's
lane for a path that names a segment): every answer it gives, for any receipt id and any body, is
the one the FastAPI route gives on the same app; and a report is taken once, whichever serves it."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from .conftest import LANE_TOKEN as TOKEN
from .conftest import LiveServer
from .test_authorize_lane import JSON

UNKNOWN = "0190a5f0-0000-7000-8000-000000000000"  # shaped as a receipt id, naming none
RECEIPT_IDS = [
    UNKNOWN,
    UNKNOWN.upper(),
    "not-a-receipt",
    "0190a5f0-0000-7000-8000-0000000000001",  # one digit too many
    "0190a5f0-0000-4000-8000-000000000000",  # a UUID, not a v7
    "é",
    "..",
]
REPORT = b'{"prompt_tokens": 12, "completion_tokens": 30, "status": "ok"}'
BODIES: list[tuple[bytes, dict[str, str]]] = [
    (REPORT, JSON),
    (b'{"prompt_tokens": 12, "completion_tokens": 30, "status": "ok"', JSON),  # cut short
    (b"", JSON),
    (b"[]", JSON),
    (b"null", JSON),
    (b'{"prompt_tokens": -1, "completion_tokens": 30, "status": "ok"}', JSON),
    (b'{"prompt_tokens": 3.0, "completion_tokens": 30.5, "status": "ok"}', JSON),
    (b'{"prompt_tokens": "12", "completion_tokens": 30, "status": "ok"}', JSON),
    (b'{"prompt_tokens": 12, "completion_tokens": 30, "status": "not ok!"}', JSON),
    (b'{"prompt_tokens": 12, "completion_tokens": 30, "status": "' + b"x" * 33 + b'"}', JSON),
    (b'{"prompt_tokens": 12, "completion_tokens": 30}', JSON),
    (b'{"prompt_tokens": 12, "completion_tokens": 30, "status": "ok", "cost": 1}', JSON),
    (b'{"prompt_tokens": 12, "status": "\xff"}', JSON),  # not UTF-8
    (REPORT, {"Content-Type": "text/plain"}),
    (REPORT, {}),
    (REPORT, {**JSON, "Origin": "https://attacker.example"}),
]


def _answer(live: LiveServer, path: str, body: bytes, headers: dict[str, str], bearer: str | None) -> Any:
    with live.client(bearer) as http:
        answer = http.post(path, content=body, headers=headers)
    assert answer.status_code != 500, answer.text
    spelled = answer.text.replace(f":{live.port}", ":PORT")  # each server's own port
    return answer.status_code, json.loads(spelled) if spelled else None


@pytest.mark.parametrize("bearer", [TOKEN, None], ids=["service-token", "no-token"])
@pytest.mark.parametrize(("body", "headers"), BODIES)
@pytest.mark.parametrize("receipt_id", RECEIPT_IDS)
def test_the_lane_answers_as_the_route_does(
    lane_and_route: list[LiveServer], receipt_id: str, body: bytes, headers: dict[str, str], bearer: str | None
) -> None:
    path = f"/calls/receipts/{receipt_id}/usage"
    lane, route = (_answer(live, path, body, headers, bearer) for live in lane_and_route)
    assert lane == route


def _receipts(live: LiveServer, count: int) -> list[str]:
    """``count`` admitted calls' receipt ids, for a workspace of their own."""
    with live.client(TOKEN) as http:
        created = http.post("/workspaces", json={"name": "report", "runtime": "hermes", "model": "moonshot/kimi-k2.6"})
        token = http.post(f"/workspaces/{created.json()['id']}/call-tokens", json={}).json()["token"]
        authorized = [
            http.post("/calls/authorize", json={"token": token, "model": "moonshot/kimi-k2.6"}) for _ in range(count)
        ]
    return [answer.json()["receipt_id"] for answer in authorized]


def test_a_report_is_taken_once_whichever_serves_it(lane_and_route: list[LiveServer]) -> None:
    """The lane and the route write and refuse alike: the first report stands, the second is 409."""
    first, second = _receipts(lane_and_route[0], 2)
    lane, route = lane_and_route
    taken = [
        _answer(live, f"/calls/receipts/{receipt}/usage", REPORT, JSON, TOKEN)
        for live, receipt in ((lane, first), (route, second))
    ]
    again = [
        _answer(live, f"/calls/receipts/{receipt}/usage", REPORT, JSON, TOKEN)
        for live, receipt in ((route, first), (lane, second))
    ]
    assert [status for status, _ in taken + again] == [200, 200, 409, 409]
    # Each pair: the lane's answer on one receipt, the route's on the other, spelt with the lane's id.
    for lanes, routes, (theirs, ours) in ((taken[0], taken[1], (second, first)), (again[1], again[0], (first, second))):
        assert _without_moments(lanes[1]) == _without_moments(routes[1]).replace(theirs, ours)
    assert taken[0][1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 30} and taken[0][1]["status"] == "ok"


@pytest.mark.parametrize("round_", range(5))
def test_racing_reports_of_one_receipt_through_the_lane_and_the_route_leave_one_standing(
    lane_and_route: list[LiveServer], round_: int
) -> None:
    """Four clients, two on each server, report the same receipts at once, each with its own counts:
    each receipt takes exactly one report, every other is refused 409 naming the one that stood, and
    the receipt keeps that one."""
    receipts = _receipts(lane_and_route[0], 6)
    clients = [(live, number) for number, live in enumerate(lane_and_route * 2)]
    start = threading.Barrier(len(clients))
    answers: dict[str, list[tuple[int, dict[str, Any]]]] = {receipt: [] for receipt in receipts}

    def report(live: LiveServer, number: int) -> None:
        order = receipts[number % 3 :] + receipts[: number % 3]  # the clients meet on different receipts first
        with live.client(TOKEN) as http:
            start.wait()
            for receipt in order:
                usage = {"prompt_tokens": 100 * round_ + number, "completion_tokens": number, "status": f"c{number}"}
                answer = http.post(f"/calls/receipts/{receipt}/usage", json=usage)
                answers[receipt].append((answer.status_code, answer.json()))

    threads = [threading.Thread(target=report, args=client) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with lane_and_route[1].client(TOKEN) as http:
        stored = {row["id"]: row for row in http.get("/calls/receipts", params={"limit": 200}).json()["items"]}
    for receipt, seen in answers.items():
        assert sorted(status for status, _ in seen) == [200, 409, 409, 409], seen
        (winner,) = [body for status, body in seen if status == 200]
        assert all(body["usage"] == winner["usage"] and body["status"] == winner["status"] for _, body in seen)
        assert (stored[receipt]["usage"], stored[receipt]["status"]) == (winner["usage"], winner["status"])


def _without_moments(answer: dict[str, Any]) -> str:
    """The answer as text, its moments left out."""
    return json.dumps({key: value for key, value in answer.items() if key not in ("at", "reported_at")}, sort_keys=True)


def test_front_sends_a_path_naming_a_segment_to_its_lane_and_nothing_else() -> None:
    """Only the method and a path of exactly that shape reach the lane, with the segment as a route
    would read it; any other request goes on to the app."""
    from starlette.testclient import TestClient
    from starlette.types import Receive, Scope, Send

    from routegate.service.middleware import Front

    def answering(who: str) -> Any:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            body = json.dumps([who, scope.get("path_params", {})]).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})

        return app

    front = Front(answering("app"), limit=1000, lanes={("POST", "/r/{receipt_id}/usage"): answering("lane")})
    client = TestClient(front)  # no lifespan: these apps answer HTTP only
    served = {
        (method, path): tuple(client.request(method, path).json())
        for method, path in [
            ("POST", "/r/abc-1/usage"),
            ("POST", "/r/a%20b/usage"),
            ("POST", "/r/a/b/usage"),
            ("POST", "/r//usage"),
            ("POST", "/r/abc/usage/"),
            ("POST", "/x/r/abc/usage"),
            ("GET", "/r/abc/usage"),
        ]
    }
    assert served == {
        ("POST", "/r/abc-1/usage"): ("lane", {"receipt_id": "abc-1"}),
        ("POST", "/r/a%20b/usage"): ("lane", {"receipt_id": "a b"}),
        ("POST", "/r/a/b/usage"): ("app", {}),
        ("POST", "/r//usage"): ("app", {}),
        ("POST", "/r/abc/usage/"): ("app", {}),
        ("POST", "/x/r/abc/usage"): ("app", {}),
        ("GET", "/r/abc/usage"): ("app", {}),
    }
