"""The gate's usage reports: batched, committed on the event loop's own thread (in process) or sent as
one POST /calls/usage per batch (over HTTP), retried until taken, never dropped."""

from __future__ import annotations

import asyncio
import http.server
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: LiteLLM's bundled cost map, no fetch

from routegate.integrations._gates import Service, UsageBatches
from routegate.service import Settings
from routegate.service.receipts import Usage
from tests import event_loops
from tests.service.conftest import BACKENDS, LiveServer, database_url
from tests.service.test_calls import authorize, issue, workspace


class FlakyDatabase:
    """Refuses its first ``refusals`` commits, as a database that is away for a moment; then keeps each batch."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.batches: list[list[Usage]] = []
        self.committed_at: list[float] = []
        self.attempts = 0
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    async def commit(self, batch: Sequence[Usage]) -> None:
        with self._lock:
            self.threads.add(threading.get_ident())
            self.attempts += 1
            if self.attempts <= self.refusals:
                raise ConnectionError("the database is away")
            self.batches.append(list(batch))
            self.committed_at.append(time.monotonic())


def report_all(database: FlakyDatabase, count: int) -> tuple[list[Usage], int]:
    """``count`` reports made at once; and the thread the event loop ran on."""
    reports = [(f"receipt-{number}", number, 1, "ok") for number in range(count)]

    async def main() -> int:
        batches = UsageBatches(database.commit)
        await asyncio.gather(*(batches.report(usage) for usage in reports))
        return threading.get_ident()

    return reports, event_loops.run(main())


def test_concurrent_reports_share_commits_and_each_is_written_once_before_its_caller_returns() -> None:
    database = FlakyDatabase(refusals=0)
    reports, _ = report_all(database, 200)
    written = [usage for batch in database.batches for usage in batch]
    assert sorted(written) == sorted(reports)
    assert len(database.batches) < len(reports) / 10, "the reports made before a batch's turn form it"


def test_each_batch_is_committed_on_the_event_loops_own_thread() -> None:
    """No worker thread: in a proxy whose loop is busy, a thread's each return of the interpreter
    lock costs the loop more than the commit."""
    database = FlakyDatabase(refusals=1)
    _, loop_thread = report_all(database, 50)
    assert database.threads == {loop_thread}


def test_a_batch_the_database_refuses_is_retried_until_it_is_written() -> None:
    database = FlakyDatabase(refusals=2)
    reports, _ = report_all(database, 20)
    assert database.attempts >= 3
    assert sorted(usage for batch in database.batches for usage in batch) == sorted(reports)


def test_reports_within_the_linger_go_as_one_batch_and_each_caller_waits_for_it() -> None:
    """Over HTTP a batch waits ``linger`` after its first report: reports a call apart share it."""
    database = FlakyDatabase(refusals=0)
    returned: list[float] = []

    async def main() -> None:
        batches = UsageBatches(database.commit, linger=0.5)

        async def one(number: int) -> None:
            await asyncio.sleep(0.005 * number)  # all five well inside the linger, however loaded the machine
            await batches.report((f"receipt-{number}", number, 1, "ok"))
            returned.append(time.monotonic())

        await asyncio.gather(*(one(number) for number in range(5)))

    event_loops.run(main())
    assert [len(batch) for batch in database.batches] == [5]
    assert min(returned) >= database.committed_at[0], "a caller returns only once its batch is taken"


def test_a_report_not_waited_for_is_still_taken() -> None:
    database = FlakyDatabase(refusals=1)

    async def main() -> float:
        batches = UsageBatches(database.commit, linger=0.05)
        await batches.report(("receipt-0", 1, 1, "not_forwarded"), wait=False)
        returned = time.monotonic()
        deadline = returned + 30  # the first try refused, the second (0.05 s later) taken
        while not database.batches and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return returned

    returned = event_loops.run(main())
    assert database.batches == [[("receipt-0", 1, 1, "not_forwarded")]]
    assert returned < database.committed_at[0]


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from database_url(request.param, Path(tmp_path_factory.mktemp("usage")))


def test_over_http_reports_sent_while_the_service_is_away_are_taken_once_it_answers(database: str) -> None:
    """A gateway's reports to a service that is not answering yet (its port bound, nothing
    listening) are sent again until one that serves the same database answers; then every
    receipt has its own usage."""
    serving, away = LiveServer(Settings(database_url=database)).start(), LiveServer(Settings(database_url=database))
    try:
        with serving.client() as http:
            made = workspace(http, "usage-over-http", "hermes", "moonshot/kimi-k2.6")
            token = issue(http, made["id"])["token"]
            receipts = [authorize(http, token, "moonshot/kimi-k2.6").json()["receipt_id"] for _ in range(12)]
        reports = [(receipt, number, 2 * number, "ok") for number, receipt in enumerate(receipts)]

        async def main() -> None:
            gateway = Service(away.url, None)
            sent = asyncio.gather(*(gateway.report(*usage) for usage in reports))
            await asyncio.sleep(0.4)  # tried at least twice meanwhile, refused each time
            away.start()
            try:
                await asyncio.wait_for(sent, 30)
            finally:
                await gateway._client().close()

        event_loops.run(main())
        with serving.client() as http:
            stored = {row["id"]: row for row in http.get("/calls/receipts", params={"limit": 50}).json()["items"]}
        for receipt, prompt, completion, status in reports:
            assert stored[receipt]["usage"] == {"prompt_tokens": prompt, "completion_tokens": completion}
            assert stored[receipt]["status"] == status
    finally:
        serving.stop()
        away.stop()


class _NotRoutegate(http.server.BaseHTTPRequestHandler):
    """Another server at ROUTEGATE_URL: every POST answered 200 with JSON that is no object."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, *args: object) -> None:
        pass


def test_a_batch_another_server_answers_with_json_that_is_no_object_is_not_sent_forever() -> None:
    """A misconfigured ROUTEGATE_URL: the answer is taken as an answer without routegate's fields."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotRoutegate)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def main() -> None:
        gateway = Service(f"http://127.0.0.1:{server.server_address[1]}", None)
        try:
            await asyncio.wait_for(gateway.report("receipt-0", 1, 1, "ok"), 5)
        finally:
            await gateway._client().close()

    try:
        event_loops.run(main())
    finally:
        server.shutdown()
        server.server_close()
