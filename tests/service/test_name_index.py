"""SQLite's name index written in batches: a search still finds exactly the names committed before it.

Creates queue their workspace's ``seq``; renames and deletes touch the queue or the index,
whichever holds the workspace; :func:`index_pending` moves the queue into the FTS5 table. For
random runs of creates, renames, deletes and batches (seq reused after the newest row's
delete included), every search equals a scan of the table, and FTS5's own integrity check
passes. The service's thread empties the queue by itself, and searches racing creates on
two servers find every workspace created before them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from routegate.service.db import NAME_TRIGRAMS, Database, Workspace
from routegate.service.inserts import RowInsert
from routegate.service.name_index import PENDING, NameIndexer, index_pending, name_indexer
from routegate.service.store import Store

from .conftest import LiveServer, database_url, two_servers_on
from .test_operator_pages import HERMES, _ids, fleet_row

LETTERS = "abAB -"
names = st.text(LETTERS, min_size=1, max_size=8).map(lambda text: f"w{text}")
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), names),
        st.tuples(st.just("rename"), st.integers(0, 40), names),
        st.tuples(st.just("delete"), st.integers(0, 40)),
        st.tuples(st.just("delete newest")),
        st.tuples(st.just("index"), st.integers(1, 4)),
        st.tuples(st.just("search"), st.text(LETTERS, min_size=3, max_size=4)),
    ),
    max_size=60,
)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('names') / 'names.db'}")
    database.upgrade()
    yield database
    database.dispose()


def _pending(database: Database) -> int:
    with database.read() as session:
        return int(session.scalar(text(f"SELECT count(*) FROM {PENDING}")) or 0)


def _scan(database: Database, query: str) -> list[str]:
    """The oracle: every stored name holding ``query``, ASCII case folded, newest first."""
    with database.read() as session:
        rows = session.execute(text("SELECT id, name FROM workspaces ORDER BY seq DESC")).all()
    return [id_ for id_, name in rows if query.lower() in name.lower()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_searches_equal_a_scan_whatever_was_queued_renamed_or_deleted(
    database: Database, steps: list[tuple[Any, ...]]
) -> None:
    store = Store(database, name_suffix_limit=5)
    insert = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
    with database.write_connection() as connection:
        connection.execute(text("DELETE FROM workspaces"))
    index_pending(database)
    for step in steps:
        with database.read() as session:
            ids = list(session.scalars(text("SELECT id FROM workspaces ORDER BY seq")))
        match step:
            case ("create", name):
                with database.write_connection() as connection:
                    insert.run(connection, {**fleet_row(0), "name": f"{name} {uuid.uuid4().hex[:4]}"})
            case ("rename", which, name) if ids:
                with database.write_connection() as connection:
                    renamed = {"id": ids[which % len(ids)], "name": f"{name} {uuid.uuid4().hex[:4]}"}
                    connection.execute(text("UPDATE workspaces SET name = :name WHERE id = :id"), renamed)
            case ("delete", which) if ids:
                with database.write_connection() as connection:
                    connection.execute(text("DELETE FROM workspaces WHERE id = :id"), {"id": ids[which % len(ids)]})
            case ("delete newest",) if ids:  # the next create takes its seq again (no AUTOINCREMENT)
                with database.write_connection() as connection:
                    connection.execute(text("DELETE FROM workspaces WHERE id = :id"), {"id": ids[-1]})
            case ("index", batch):
                index_pending(database, batch=batch)
            case ("search", query):
                found = [w["id"] for w in store.listing(limit=500, name_contains=query).items]
                assert found == _scan(database, query), query
                assert _pending(database) == 0
    index_pending(database)  # FTS5 checks the index against the table: with nothing queued, they must agree
    with database.write_connection() as connection:
        connection.execute(text(f"INSERT INTO {NAME_TRIGRAMS}({NAME_TRIGRAMS}, rank) VALUES ('integrity-check', 1)"))


def test_a_batch_moves_what_was_queued_and_a_search_with_nothing_queued_writes_nothing(database: Database) -> None:
    insert = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
    index_pending(database)
    with database.write_connection() as connection:
        for number in range(7):
            insert.run(connection, fleet_row(number))
    assert _pending(database) == 7
    assert index_pending(database, batch=3) == 7
    assert _pending(database) == 0
    writes: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        writes.append(statement)

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        assert index_pending(database) == 0
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    assert [s for s in writes if not s.lstrip().upper().startswith("SELECT")] == []


def test_a_sqlite_file_gets_the_thread_and_postgresql_is_left_alone(tmp_path: Path) -> None:
    """PostgreSQL indexes names in the create's own transaction: it gets no thread, and
    :func:`index_pending` runs no statement there at all."""
    filed = Database(f"sqlite:///{tmp_path / 'filed.db'}")
    assert isinstance(name_indexer(filed), NameIndexer)
    filed.dispose()
    statements: list[str] = []
    for url in database_url("postgres", tmp_path):
        postgres = Database(url)
        postgres.upgrade()
        assert name_indexer(postgres) is None
        event.listen(postgres.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        try:
            assert index_pending(postgres) == 0
        finally:
            postgres.dispose()
    assert statements == []


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    yield from two_servers_on(f"sqlite:///{tmp_path / 'two.db'}")


def test_the_service_empties_the_queue_by_itself(two_servers: tuple[LiveServer, LiveServer]) -> None:
    first, _ = two_servers
    with first.client() as client:
        for number in range(20):
            assert client.post("/workspaces", json={"name": f"queued {number}", **HERMES}).status_code == 201
    deadline = time.monotonic() + 10
    while _pending(first.state.database) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pending(first.state.database) == 0


def test_searches_racing_creates_on_two_servers_find_every_earlier_create(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    with ThreadPoolExecutor(6) as pool, first.client() as one, second.client() as other:
        for round_ in range(5):
            marker = f"{uuid.uuid4().hex[:8]}r{round_}"  # a round's creates fit on the console's first page
            done: list[str] = []

            def create(number: int, marker: str = marker) -> str:
                client = (one, other)[number % 2]
                answer = client.post("/workspaces", json={"name": f"race {marker} {number}", **HERMES})
                assert answer.status_code == 201, answer.text
                return str(answer.json()["id"])

            def searched(number: int, marker: str = marker, done: list[str] = done) -> tuple[set[str], set[str]]:
                client = (other, one)[number % 2]
                before = set(done)
                page = client.get("/ui/workspaces", params={"q": marker})  # the console's search
                assert page.status_code == 200, page.text
                return before, set(_ids(page.text))

            creating = [pool.submit(create, n) for n in range(8)]
            searches = []
            for future in creating:
                done.append(future.result())
                searches.append(pool.submit(searched, len(done)))
            for search in searches:
                before, found = search.result()
                assert before <= found, f"{len(before - found)} created before the search not found"
            assert set(done) == {w["id"] for w in first.state.store.listing(limit=50, name_contains=marker).items}
