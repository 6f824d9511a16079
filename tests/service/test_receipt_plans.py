"""The receipt queries stay index reads on PostgreSQL however many receipts there are.

Each query is the one :class:`ReceiptQueries` really sends (caught on the engine as it runs),
explained on a vacuumed, analyzed table whose planner is told to avoid sequential scans: a
``Seq Scan`` left in a plan then means no index can answer it, which at ten million receipts
is a read of every one (bench/receipts.py shows the latencies). A workspace's receipts are
found by an index condition, never a filter, through migration 0008's index: its summary
reads that index alone, its pages read the days newest first. Queries bounded by ``since``
or by a receipt id read only their days' partitions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from routegate.service.call_tables import RECEIPT_PARTITION_PREFIX, CallReceipt
from routegate.service.db import Database
from routegate.service.receipt_days import ReceiptDays
from routegate.service.receipt_queries import ReceiptQueries

from .conftest import database_url
from .test_call_receipts import _row

DAYS = 10
PER_DAY = 5000
WORKSPACES = 100  # the queried workspace holds one receipt in a hundred, as in bench/receipts.py

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """Receipts of :data:`WORKSPACES` workspaces over the last :data:`DAYS` days, vacuumed and analyzed
    (a planner that knows the table as a running service's would: statistics, a visibility map)."""
    for url in database_url("postgres", tmp_path_factory.mktemp("plans")):
        database = Database(url)
        database.upgrade()
        now = datetime.now(UTC)
        moments = [now - timedelta(days=DAYS) * (number / (DAYS * PER_DAY)) for number in range(DAYS * PER_DAY)]
        ReceiptDays(database, 0).ensure({moment.date() for moment in moments})
        keys = [column.key for column in CallReceipt.__table__.columns]
        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True) as connection:
            with connection.cursor().copy(f"COPY call_receipts ({', '.join(keys)}) FROM STDIN") as copy:
                for number, moment in enumerate(moments):
                    row = _row(moment) | {"workspace_id": f"w{number % WORKSPACES}", "allowed": number % 8 != 7}
                    copy.write_row([row[key] for key in keys])
            connection.execute("VACUUM ANALYZE call_receipts")
        yield database
        database.dispose()


def plans_of(database: Database, run: Callable[[ReceiptQueries], Any]) -> list[str]:
    """The plan of every statement on call_receipts that ``run`` sends, with sequential scans disabled."""
    sent: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "call_receipts" in statement and not statement.startswith("EXPLAIN"):
            sent.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", catch)
    try:
        run(ReceiptQueries(database))
    finally:
        event.remove(database.engine, "before_cursor_execute", catch)
    assert sent, "the query sent nothing to call_receipts"
    with database.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")
        return ["\n".join(connection.exec_driver_sql(f"EXPLAIN {sql}", values).scalars()) for sql, values in sent]


def partitions_read(plan: str) -> int:
    """How many day partitions a plan reads (scans name them, their indexes carry a suffix)."""
    return len(set(re.findall(rf" on ({RECEIPT_PARTITION_PREFIX}\d{{8}}) ", plan)))


def _newest(database: Database) -> str:
    return str(ReceiptQueries(database).page(limit=1)[0][0]["id"])


def _day_ago() -> datetime:
    return datetime.now(UTC) - timedelta(days=1)


QUERIES: dict[str, Callable[[ReceiptQueries], Any]] = {
    "first page": lambda q: q.page(limit=50),
    "a workspace's first page": lambda q: q.page(limit=50, workspace_id="w1"),
    "a workspace's page since a day ago": lambda q: q.page(limit=50, workspace_id="w1", since=_day_ago()),
    "a workspace's platform-paid page": lambda q: q.page(limit=50, workspace_id="w1", payer="platform"),
    "a workspace's summary": lambda q: q.summary(workspace_id="w1"),
    "a workspace's summary since a day ago": lambda q: q.summary(workspace_id="w1", since=_day_ago()),
}


@pytest.mark.parametrize("name", QUERIES)
def test_a_receipts_query_is_an_index_read(database: Database, name: str) -> None:
    for plan in plans_of(database, QUERIES[name]):
        assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize("name", [name for name in QUERIES if "summary" in name])
def test_a_workspaces_summary_reads_its_index_alone(database: Database, name: str) -> None:
    """The summed columns are in ix_call_receipts_workspace_at (migration 0008): no receipt row is visited."""
    for plan in plans_of(database, QUERIES[name]):
        scans = [line for line in plan.splitlines() if " on call_receipts_p" in line and "Scan" in line]
        assert scans and all("Index Only Scan using" in line and "workspace_id_at" in line for line in scans), plan


@pytest.mark.parametrize("name", [name for name in QUERIES if "workspace" in name])
def test_a_workspaces_receipts_are_found_by_the_index_not_filtered(database: Database, name: str) -> None:
    for plan in plans_of(database, QUERIES[name]):
        assert re.search(r"Index Cond: \(+workspace_id\b", plan), plan
        assert not any("Filter:" in line and "workspace_id" in line for line in plan.splitlines()), plan


@pytest.mark.parametrize("name", ["a workspace's first page", "a workspace's platform-paid page"])
def test_a_workspaces_page_reads_its_days_newest_first_and_merges_nothing(database: Database, name: str) -> None:
    """An ordered Append over the days (it stops at the page's end), not a merge of every day's newest row."""
    [plan] = plans_of(database, QUERIES[name])
    assert "Merge Append" not in plan and "Sort" not in plan, plan
    scans = [line for line in plan.splitlines() if " on call_receipts_p" in line and "Scan" in line]
    assert scans and all("Index Scan Backward using" in line and "workspace_id_at" in line for line in scans), plan


def test_a_query_since_a_day_ago_reads_only_today_and_yesterday(database: Database) -> None:
    for query in ("a workspace's page since a day ago", "a workspace's summary since a day ago"):
        for plan in plans_of(database, QUERIES[query]):
            assert partitions_read(plan) == 2, plan


def test_one_receipt_and_the_page_after_it_read_from_their_days_alone(database: Database) -> None:
    newest = _newest(database)
    [plan] = plans_of(database, lambda q: q.get(newest))
    assert partitions_read(plan) == 1, plan
    [plan] = plans_of(database, lambda q: q.page(limit=50, workspace_id="w1", cursor=newest, since=_day_ago()))
    assert "Seq Scan" not in plan and partitions_read(plan) == 2, plan


def test_the_plans_see_every_day(database: Database) -> None:
    """The whole-table page reads every day's partition: the counts above are pruning, not an empty table."""
    [plan] = plans_of(database, QUERIES["first page"])
    assert partitions_read(plan) >= DAYS, plan
