"""The in-process gate's usage reports: batched, committed on the event loop's own thread, retried until
written, never dropped."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: LiteLLM's bundled cost map, no fetch

from routegate.integrations.litellm import _UsageBatches
from routegate.service.receipts import Usage
from tests import event_loops


class FlakyDatabase:
    """Refuses its first ``refusals`` commits, as a database that is away for a moment; then keeps each batch."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.batches: list[list[Usage]] = []
        self.attempts = 0
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def commit(self, batch: Sequence[Usage]) -> None:
        with self._lock:
            self.threads.add(threading.get_ident())
            self.attempts += 1
            if self.attempts <= self.refusals:
                raise ConnectionError("the database is away")
            self.batches.append(list(batch))


def report_all(database: FlakyDatabase, count: int) -> tuple[list[Usage], int]:
    """``count`` reports made at once; and the thread the event loop ran on."""
    reports = [(f"receipt-{number}", number, 1, "ok") for number in range(count)]

    async def main() -> int:
        batches = _UsageBatches(database.commit)
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
