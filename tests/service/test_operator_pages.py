"""Operator pages and deletes read indexes, on SQLite and PostgreSQL, over real HTTP.

A service holds a fleet past the console's count cap, inserted through the store's
own INSERT (so the search index's triggers fire as they do for a create). Every
query the console's list and search, the API's list and a delete send is caught
as it reaches the database and EXPLAINed there: none may scan the workspace
table. On PostgreSQL the plans are asked for with sequential scans disabled,
after VACUUM ANALYZE, so that a plan without an index would still show a scan.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text

from routegate.service import Settings
from routegate.service.db import MIGRATIONS, NAME_TRIGRAMS, Database, Workspace
from routegate.service.inserts import RowInsert
from routegate.service.store import Store

from .conftest import BACKENDS, LiveServer, database_url

FLEET = Store.COUNT_CAP + 45
WORDS = ("alpha", "bravo", "charlie", "delta", "echo")
NEEDLE = "Needle"  # in 7 names only, spelt in mixed case
HERMES = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}


def fleet_row(number: int, parent_id: str | None = None) -> dict[str, Any]:
    """A workspace row as the store inserts one, numbered."""
    now = datetime.now(UTC)
    name = f"{WORDS[number % len(WORDS)]} {number:06}" + (f" {NEEDLE}" if number % 1500 == 7 else "")
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "parent_id": parent_id,
        "role": None,
        "runtime": "hermes",
        "model": "kimi-coding/kimi-k2",
        "template": None,
        "external": False,
        "url": None,
        "provider": "kimi-coding",
        "billing_mode": "byok",
        "required_env": [],
        "auth_env": [],
        "manifest_fingerprint": "0" * 16,
        "manifest_version": None,
        "created_at": now,
        "updated_at": now,
    }


def insert_fleet(database: Database, count: int) -> list[dict[str, Any]]:
    insert = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
    rows = [fleet_row(number) for number in range(count)]
    with database.write_connection() as connection:
        for row in rows:
            insert.run(connection, row)
    return rows


@pytest.fixture(scope="module", params=BACKENDS)
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A fresh service holding FLEET workspaces, oldest first by number."""
    for url in database_url(request.param, tmp_path_factory.mktemp(request.param)):
        live = LiveServer(Settings(database_url=url)).start()
        try:
            insert_fleet(live.state.database, FLEET)
            engine = live.state.database.engine
            if engine.dialect.name == "postgresql":  # as autovacuum would: statistics, GIN's pending list merged
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE workspaces")
            yield live
        finally:
            live.stop()


def _ids(page: str) -> list[str]:
    return re.findall(r'<tr data-id="([0-9a-f-]{36})"', page)


def _link(page: str, label: str) -> str | None:
    found = re.search(rf'<a class="button button--quiet"(?: rel="\w+")? href="([^"]+)">{label}</a>', page)
    return None if found is None else found.group(1).replace("&amp;", "&")


def _ids_newest_first(live: LiveServer) -> list[str]:
    with live.state.database.engine.connect() as connection:
        return list(connection.scalars(text("SELECT id FROM workspaces ORDER BY seq DESC")))


def test_the_count_stops_at_the_cap_and_says_more(fleet: LiveServer) -> None:
    with fleet.client() as client:
        page = client.get("/ui/workspaces").text
        assert f'data-more-than="{Store.COUNT_CAP}"' in page and "data-total" not in page
        assert "More than <strong>10,000</strong> workspaces; showing 20, newest first." in page
        searched = client.get("/ui/workspaces", params={"q": NEEDLE.lower()}).text
    needles = sum(NEEDLE in name for name in (fleet_row(n)["name"] for n in range(FLEET)))
    assert f'data-total="{needles}"' in searched, "a count under the cap is exact"


def test_pages_link_both_ways_from_any_depth(fleet: LiveServer) -> None:
    expected = _ids_newest_first(fleet)
    with fleet.client() as client:
        first = client.get("/ui/workspaces").text
        assert _ids(first) == expected[:20]
        assert _link(first, "Previous page") is None and _link(first, "Newest") is None
        second = client.get(_link(first, "Next page") or "").text
        assert _ids(second) == expected[20:40]
        assert _ids(client.get(_link(second, "Previous page") or "").text) == expected[:20]

        oldest = client.get(_link(first, "Oldest") or "").text
        assert _ids(oldest) == expected[-20:]
        assert _link(oldest, "Next page") is None, "nothing is older than the oldest page"
        before = client.get(_link(oldest, "Previous page") or "").text
        assert _ids(before) == expected[-40:-20]
        assert _ids(client.get(_link(before, "Next page") or "").text) == expected[-20:]
        assert _ids(client.get(_link(before, "Newest") or "").text) == expected[:20]


def _explained(connection: Connection, statement: str, parameters: Any) -> str:
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(str(row[-1]) for row in rows)
    connection.exec_driver_sql("SET enable_seqscan = off")
    return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))


def _scans_workspaces(connection: Connection, plan: str) -> bool:
    if connection.dialect.name == "sqlite":
        return re.search(r"\bSCAN workspaces\b", plan) is not None
    return "Seq Scan on workspaces" in plan


@pytest.fixture
def caught(fleet: LiveServer) -> Iterator[list[tuple[str, Any]]]:
    """Every statement on the workspace table the service sends while the test runs."""
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if re.search(r"\bworkspaces\b", statement) and not statement.lstrip().upper().startswith("INSERT"):
            statements.append((statement, parameters))

    engine = fleet.state.database.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def test_no_list_search_or_delete_query_scans_the_workspace_table(
    fleet: LiveServer, caught: list[tuple[str, Any]]
) -> None:
    with fleet.client() as client:
        first = client.get("/ui/workspaces").text
        client.get(_link(first, "Next page") or "")
        oldest = client.get(_link(first, "Oldest") or "").text
        client.get(_link(oldest, "Previous page") or "")
        searched = client.get("/ui/workspaces", params={"q": "needle"}).text
        client.get("/ui/workspaces", params={"q": "ravo 00"})  # matches a fifth of the fleet
        assert client.get("/workspaces", params={"limit": 5}).status_code == 200
        cursor = client.get("/workspaces", params={"limit": 5}).json()["next_cursor"]
        assert client.get("/workspaces", params={"limit": 5, "cursor": cursor}).status_code == 200
        parent = client.post("/workspaces", json={"name": "parent", **HERMES}).json()
        child = client.post("/workspaces", json={"name": "child", "parent_id": parent["id"], **HERMES}).json()
        assert client.delete(f"/workspaces/{parent['id']}").status_code == 409
        assert client.delete(f"/workspaces/{child['id']}").status_code == 204
    sent = list(caught)  # before this test's own EXPLAINs join them
    assert len(_ids(searched)) == 7

    kinds = {
        "list": r"ORDER BY workspaces\.seq",
        "search": NAME_TRIGRAMS if fleet.state.database.engine.dialect.name == "sqlite" else "LIKE",
        "count": r"count\(\*\)",
        "children": r"workspaces\.parent_id =",
        "delete": r"^\s*DELETE FROM workspaces",
    }
    seen = {kind: [s for s in sent if re.search(pattern, s[0], re.MULTILINE)] for kind, pattern in kinds.items()}
    assert all(seen.values()), {kind: len(found) for kind, found in seen.items()}
    with fleet.state.database.engine.connect() as connection:
        for statement, parameters in sent:
            plan = _explained(connection, statement, parameters)
            assert not _scans_workspaces(connection, plan), f"{statement}\n{plan}"
        for statement, parameters in seen["search"]:
            plan = _explained(connection, statement, parameters)
            if connection.dialect.name == "sqlite":
                assert f"{NAME_TRIGRAMS} VIRTUAL TABLE INDEX" in plan, plan
            elif "needle" in str(parameters):  # a rare name: only the trigram index finds it without a walk
                assert f"Bitmap Index Scan on {NAME_TRIGRAMS}" in plan, plan


def test_the_foreign_key_check_of_a_delete_reads_the_parent_index(fleet: LiveServer) -> None:
    """SQLite checks a deleted parent's children with an index that starts with the child column,
    when there is one; PostgreSQL's check is a query of its own, explained here as it runs it."""
    with fleet.state.database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            leading = {
                connection.exec_driver_sql(f"PRAGMA index_info('{index[1]}')").first()[2]
                for index in connection.exec_driver_sql("PRAGMA index_list('workspaces')")
            }
            assert "parent_id" in leading
        else:
            check = "SELECT 1 FROM ONLY workspaces x WHERE parent_id = %(id)s FOR KEY SHARE OF x"
            plan = _explained(connection, check, {"id": str(uuid.uuid4())})
            assert "ix_workspaces_parent_id" in plan, plan


def test_the_trigram_index_follows_inserts_renames_and_deletes(fleet: LiveServer) -> None:
    """The triggers (SQLite) or the index (PostgreSQL) keep search in step with every change to a name."""
    store = fleet.state.store
    marker = f"zq{uuid.uuid4().hex[:6]}"
    with fleet.client() as client:
        made = client.post("/workspaces", json={"name": f"Find {marker}", **HERMES}).json()
        assert [w["id"] for w in store.listing(limit=5, name_contains=marker.upper()).items] == [made["id"]]
        with fleet.state.database.write_connection() as connection:
            connection.execute(text("UPDATE workspaces SET name = 'renamed' WHERE id = :id"), {"id": made["id"]})
        assert store.listing(limit=5, name_contains=marker).items == []
        assert made["id"] in [w["id"] for w in store.listing(limit=50, name_contains="renamed").items]
        assert client.delete(f"/workspaces/{made['id']}").status_code == 204
        assert made["id"] not in [w["id"] for w in store.listing(limit=50, name_contains="renamed").items]


_SCHEMA_NAMES = {  # where each database lists the objects a downgrade must drop
    "sqlite": "SELECT name FROM sqlite_master",
    "postgresql": "SELECT indexname FROM pg_indexes WHERE tablename = 'workspaces'",
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_migration_indexes_names_stored_before_it(backend: str, tmp_path: Path) -> None:
    """Workspaces stored at revision 0004 are found by a search once 0005 ran; downgrading drops its objects."""
    for url in database_url(backend, tmp_path):
        database = Database(url)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with database.engine.connect() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "0004")
                connection.commit()
            rows = insert_fleet(database, 40)
            database.upgrade()
            store = Store(database, name_suffix_limit=5)
            found = store.listing(limit=50, name_contains=NEEDLE.upper()).items
            assert [w["id"] for w in found] == [r["id"] for r in reversed(rows) if NEEDLE in r["name"]]
            with database.engine.connect() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, "0004")
                connection.commit()
                names = {row[0] for row in connection.exec_driver_sql(_SCHEMA_NAMES[connection.dialect.name])}
            assert not {name for name in names if name.startswith(NAME_TRIGRAMS) or name == "ix_workspaces_parent_id"}
        finally:
            database.dispose()
