"""POST /calls/usage: a gateway's usage reports in one request. Each is taken as one report to
/calls/receipts/{id}/usage is (a receipt's first report stands), the answer says where each went,
the lane answers as the route does, and racing batches leave one report standing per receipt."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import pytest

from routegate.service.http_errors import STATUS, ServiceCode

from .conftest import LANE_TOKEN as TOKEN
from .conftest import LiveServer
from .test_authorize_lane import JSON
from .test_report_lane import UNKNOWN, _answer, _receipts

REPORT = {"prompt_tokens": 12, "completion_tokens": 30, "status": "ok"}


def _batch(*items: dict[str, Any]) -> bytes:
    return json.dumps({"reports": list(items)}).encode()


BODIES: list[tuple[bytes, dict[str, str]]] = [
    (_batch({"receipt_id": UNKNOWN, **REPORT}), JSON),
    (_batch({"receipt_id": UNKNOWN, **REPORT}, {"receipt_id": UNKNOWN, **REPORT}), JSON),
    (_batch(*[{"receipt_id": UNKNOWN, **REPORT}] * 500), JSON),  # the most one request takes
    (_batch(*[{"receipt_id": UNKNOWN, **REPORT}] * 501), JSON),
    (_batch(), JSON),
    (b'{"reports": {}}', JSON),
    (b"[]", JSON),
    (b"", JSON),
    (b'{"reports": [', JSON),  # cut short
    (_batch({"receipt_id": UNKNOWN.upper(), **REPORT}), JSON),
    (_batch({"receipt_id": "not-a-receipt", **REPORT}, {"receipt_id": UNKNOWN, **REPORT, "status": "not ok!"}), JSON),
    (_batch({"receipt_id": UNKNOWN, **REPORT, "prompt_tokens": -1}), JSON),
    (_batch({"receipt_id": UNKNOWN, **REPORT, "completion_tokens": 30.5}), JSON),
    (_batch({"receipt_id": UNKNOWN, **REPORT, "cost": 1}), JSON),
    (_batch({"receipt_id": UNKNOWN}), JSON),
    (b'{"reports": [{"receipt_id": "\xff"}]}', JSON),  # not UTF-8
    (_batch({"receipt_id": UNKNOWN, **REPORT}), {"Content-Type": "text/plain"}),
    (_batch({"receipt_id": UNKNOWN, **REPORT}), {**JSON, "Origin": "https://attacker.example"}),
]


@pytest.mark.parametrize("bearer", [TOKEN, None], ids=["service-token", "no-token"])
@pytest.mark.parametrize(("body", "headers"), BODIES)
def test_the_lane_answers_as_the_route_does(
    lane_and_route: list[LiveServer], body: bytes, headers: dict[str, str], bearer: str | None
) -> None:
    lane, route = (_answer(live, "/calls/usage", body, headers, bearer) for live in lane_and_route)
    assert lane == route
    status, answer = lane
    if status != 200:  # every refusal names what was wrong
        assert answer["code"] and answer["error"], answer
    if answer and answer.get("code") == "INVALID_FIELDS":  # field by field
        assert status == STATUS[ServiceCode.INVALID_FIELDS] and answer["problems"], answer


def _report(live: LiveServer, items: list[dict[str, Any]]) -> dict[str, list[str]]:
    status, answer = _answer(live, "/calls/usage", _batch(*items), JSON, TOKEN)
    assert status == 200, answer
    return answer  # type: ignore[no-any-return]


def _stored(live: LiveServer) -> dict[str, dict[str, Any]]:
    with live.client(TOKEN) as http:
        return {row["id"]: row for row in http.get("/calls/receipts", params={"limit": 500}).json()["items"]}


@pytest.mark.parametrize("seed", range(4))
def test_each_report_is_taken_as_one_report_is_and_the_answer_says_where_it_went(
    lane_and_route: list[LiveServer], seed: int
) -> None:
    """A crafted family: receipts reported before or not, named once or twice, and ids naming no
    receipt, in a random order, through either server; the first report of each receipt stands."""
    rng = random.Random(seed)
    fresh, before = _receipts(lane_and_route[0], 4), _receipts(lane_and_route[0], 2)
    for receipt in before:
        _report(lane_and_route[1], [{"receipt_id": receipt, **REPORT}])
    unknown = [f"{receipt[:24]}{rng.randrange(16**12):012x}" for receipt in fresh[:2]]
    named = [*fresh, *rng.sample(fresh, 2), *before, *unknown]
    rng.shuffle(named)
    items = [{"receipt_id": receipt, **REPORT, "prompt_tokens": number} for number, receipt in enumerate(named)]
    answer = _report(rng.choice(lane_and_route), items)

    firsts = {receipt: named.index(receipt) for receipt in fresh}
    assert sorted(answer["reported"]) == sorted(fresh)
    assert answer["reported"] == sorted(fresh, key=firsts.__getitem__), "in the batch's order"
    again = [receipt for at, receipt in enumerate(named) if receipt in before or firsts.get(receipt, at) < at]
    assert answer["already_reported"] == again
    assert answer["not_found"] == [receipt for receipt in named if receipt in unknown]
    stored = _stored(lane_and_route[0])
    for receipt in fresh:
        assert stored[receipt]["usage"] == {"prompt_tokens": firsts[receipt], "completion_tokens": 30}
    for receipt in before:
        assert stored[receipt]["usage"] == {"prompt_tokens": 12, "completion_tokens": 30}


@pytest.mark.parametrize("round_", range(5))
def test_racing_batches_and_single_reports_leave_one_report_standing_per_receipt(
    lane_and_route: list[LiveServer], round_: int
) -> None:
    """Six clients at once, on both servers: four send every receipt in one batch (each in its own
    order, with its own counts), two report each receipt alone. Each receipt takes exactly one
    report, every other answer says it was already reported, and the receipt keeps the one taken."""
    receipts = _receipts(lane_and_route[0], 8)
    clients = [(live, number) for number, live in enumerate(lane_and_route * 3)]
    start = threading.Barrier(len(clients))
    taken: dict[str, list[int]] = {receipt: [] for receipt in receipts}
    refused: dict[str, int] = dict.fromkeys(receipts, 0)
    lock = threading.Lock()

    def usage(number: int) -> dict[str, Any]:
        return {"prompt_tokens": 100 * round_ + number, "completion_tokens": number, "status": f"c{number}"}

    def report(live: LiveServer, number: int) -> None:
        order = receipts[number % 4 :] + receipts[: number % 4]
        with live.client(TOKEN) as http:
            start.wait()
            if number < 4:
                batch = [{"receipt_id": receipt, **usage(number)} for receipt in order]
                answer = http.post("/calls/usage", json={"reports": batch})
                assert answer.status_code == 200, answer.text
                won, lost = answer.json()["reported"], answer.json()["already_reported"]
            else:
                answers = {r: http.post(f"/calls/receipts/{r}/usage", json=usage(number)) for r in order}
                assert {a.status_code for a in answers.values()} <= {200, 409}, [a.text for a in answers.values()]
                won = [r for r, a in answers.items() if a.status_code == 200]
                lost = [r for r, a in answers.items() if a.status_code == 409]
        with lock:
            for receipt in won:
                taken[receipt].append(number)
            for receipt in lost:
                refused[receipt] += 1

    threads = [threading.Thread(target=report, args=client) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stored = _stored(lane_and_route[1])
    for receipt in receipts:
        assert len(taken[receipt]) == 1 and refused[receipt] == len(clients) - 1, (taken[receipt], refused[receipt])
        (winner,) = taken[receipt]
        assert stored[receipt]["usage"] == {"prompt_tokens": 100 * round_ + winner, "completion_tokens": winner}
        assert stored[receipt]["status"] == f"c{winner}"


@pytest.mark.parametrize(
    "flaw",
    [{"prompt_tokens": -1}, {"status": "not ok!"}, {"receipt_id": "not-a-receipt"}, {"cost": 1}],
    ids=["negative-count", "status", "receipt-id", "unknown-field"],
)
def test_a_batch_with_one_bad_report_is_refused_whole_and_writes_nothing(
    lane_and_route: list[LiveServer], flaw: dict[str, Any]
) -> None:
    good, other = _receipts(lane_and_route[0], 2)
    for live in lane_and_route:
        items = [{"receipt_id": good, **REPORT}, {"receipt_id": other, **REPORT, **flaw}]
        status, answer = _answer(live, "/calls/usage", _batch(*items), JSON, TOKEN)
        assert (status, answer["code"]) == (STATUS[ServiceCode.INVALID_FIELDS], "INVALID_FIELDS"), answer
        assert all(problem["field"].startswith("reports.1.") for problem in answer["problems"]), answer
    stored = _stored(lane_and_route[0])
    assert stored[good]["usage"] is None and stored[other]["usage"] is None
