"""The workspaces a manifest's dates reach, read from indexes, on SQLite and PostgreSQL, over real HTTP.

A service serving a manifest with a model entry, a provider entry and a model entry that
exempts one of that provider's ids holds a fleet: most of it undated, and a crafted
family of rows on each side of every entry (other runtimes, other providers, the
exempted id, the successor). For each day around every date, the console's "deprecated
or retired model" filter must list, page by page, exactly the rows the core's lifecycle
rule governs at a stage other than active; ``GET /registry/lifecycle`` must count each
change's rows the same way and link to a list that holds them; and no query these send
may scan the workspace table (on SQLite each reads the lifecycle indexes).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event

from routegate import Registry
from routegate.cli import main
from routegate.lifecycle import Stage, today
from routegate.manifest import bundled_manifest_path
from routegate.service import Settings
from routegate.service.db import Database
from tests.manifests import CLAUDE_CODE_DATES, NEW, OLD
from tests.manifests import DATES as LIFECYCLE_DATES

from .conftest import BACKENDS, LiveServer, database_url
from .test_operator_pages import _explained, _ids, _link, _scans_workspaces, fleet_row

DATES = LIFECYCLE_DATES + CLAUDE_CODE_DATES
UNDATED_FLEET = 1500
# (runtime, model, provider, copies): each side of each entry; enough of one to fill pages.
FAMILY = [
    ("hermes", OLD, "platform", 27),
    ("hermes", NEW, "platform", 3),
    ("openclaw", OLD, "platform", 2),  # the entry names hermes only
    ("openclaw", "moonshot:kimi-k2.5", "kimi-coding", 1),
    ("claude-code", "sonnet", "anthropic-oauth", 4),
    ("claude-code", "anthropic:haiku", "anthropic-oauth", 2),
    ("claude-code", "opus", "anthropic-oauth", 3),  # its own entry governs, not its provider's
    ("claude-code", "claude-sonnet-4-6", "anthropic-api", 2),
    ("codex", "gpt-5.5", "openai-subscription", 1),
    ("claude-code", None, "anthropic-oauth", 1),  # no model: no date reaches it, whatever its provider
]
DAYS = [
    date(2026, 5, 31),
    date(2026, 6, 1),
    date(2026, 6, 9),
    date(2026, 6, 10),
    date(2026, 6, 30),
    date(2026, 7, 1),
    date(2026, 7, 31),
    date(2026, 8, 1),
    date(2026, 8, 31),
    date(2026, 9, 1),
]


def _manifest(folder: Path) -> Path:
    path = folder / "providers.yaml"
    path.write_text(bundled_manifest_path().read_text(encoding="utf-8") + DATES, encoding="utf-8")
    return path


def _family_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for runtime, model, provider, copies in FAMILY:
        for _ in range(copies):
            row = fleet_row(len(rows))
            row.update(
                id=str(uuid.uuid4()), runtime=runtime, model=model, provider=provider, name=f"dated {uuid.uuid4()}"
            )
            rows.append(row)
    return rows


def _undated(start: int, stop: int) -> list[dict[str, Any]]:
    return [{**fleet_row(number), "name": f"undated {number}"} for number in range(start, stop)]


def _insert(database: Database, rows: list[dict[str, Any]]) -> None:
    from routegate.service.db import Workspace
    from routegate.service.inserts import RowInsert

    insert = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
    with database.write_connection() as connection:
        for row in rows:
            insert.run(connection, row)


class Fleet:
    def __init__(self, live: LiveServer, manifest: Path, url: str, rows: list[dict[str, Any]]) -> None:
        self.live, self.manifest, self.url = live, manifest, url
        self.rows = rows  # oldest first
        self.registry = Registry.load(manifest)

    def dated_on(self, day: date) -> list[str]:
        """The core's answer, newest first: rows whose stored (runtime, model, provider) an entry dates on ``day``."""
        lifecycle = self.registry.lifecycle
        return [
            row["id"]
            for row in reversed(self.rows)
            if row["model"] is not None
            and (entry := lifecycle.governing(row["runtime"], row["model"], row["provider"])) is not None
            and entry.stage(day) is not Stage.ACTIVE
        ]


@pytest.fixture(scope="module", params=BACKENDS)
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp(f"lifecycle-{request.param}")
    manifest = _manifest(folder)
    for url in database_url(request.param, folder):
        live = LiveServer(Settings(database_url=url, manifest=manifest)).start()
        try:
            half = UNDATED_FLEET // 2
            undated, family, rest = _undated(0, half), _family_rows(), _undated(half, UNDATED_FLEET)
            for rows in (undated, family, rest):
                _insert(live.state.database, rows)
            engine = live.state.database.engine
            if engine.dialect.name == "postgresql":
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE workspaces")
            yield Fleet(live, manifest, url, [*undated, *family, *rest])
        finally:
            live.stop()


def _walk(client: Any, first: str) -> tuple[list[str], str]:
    """Every id the list shows from ``first`` on, following Next page; and the first page."""
    page = client.get(first).text
    shown, link = _ids(page), _link(page, "Next page")
    while link is not None:
        later = client.get(link).text
        shown += _ids(later)
        link = _link(later, "Next page")
    return shown, page


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_the_filter_lists_exactly_the_rows_dated_on_the_day(fleet: Fleet, day: date) -> None:
    expected = fleet.dated_on(day)
    with fleet.live.client() as client:
        shown, first = _walk(client, f"/ui/workspaces?lifecycle=dated&on={day}")
    assert shown == expected
    assert f'data-total="{len(expected)}"' in first
    assert f"Deprecated or retired model on {day}</option>" in first


def test_the_filter_defaults_to_today_and_joins_the_other_filters(fleet: Fleet) -> None:
    today_ids = fleet.dated_on(today())
    on_hermes = [i for i in today_ids if next(r for r in fleet.rows if r["id"] == i)["runtime"] == "hermes"]
    with fleet.live.client() as client:
        assert _walk(client, "/ui/workspaces?lifecycle=dated")[0] == today_ids
        assert _walk(client, "/ui/workspaces?lifecycle=dated&runtime=hermes")[0] == on_hermes
        notices = {
            "lifecycle=&#39;old&#39; is not a lifecycle filter and was ignored": {"lifecycle": "old"},
            "on=&#39;2026-06-01&#39; dates the lifecycle filter, which is not set": {"on": "2026-06-01"},
            "on=&#39;tomorrow&#39; is not a UTC date YYYY-MM-DD; showing today": {
                "lifecycle": "dated",
                "on": "tomorrow",
            },
        }
        for notice, params in notices.items():
            page = client.get("/ui/workspaces", params=params)
            assert page.status_code == 200 and notice in page.text, params


def test_each_change_counts_and_links_the_rows_it_reaches(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    with fleet.live.client() as client:
        answer = client.get("/registry/lifecycle", params={"on": "2026-05-01", "within": 200}).json()
        changes = answer["changes"]
        assert [(c["on"], c["stage"], c["runtime"]) for c in changes] == [
            ("2026-06-01", "deprecated", "hermes"),
            ("2026-06-10", "deprecated", "claude-code"),
            ("2026-07-01", "retired", "hermes"),
            ("2026-08-01", "retired", "claude-code"),
            ("2026-09-01", "retired", "claude-code"),
        ]
        for change in changes:
            entry = next(
                e
                for e in fleet.registry.lifecycle.entries
                if (e.model, e.provider) == (change["model"], change["provider"])
            )
            governed = [
                row["id"]
                for row in reversed(fleet.rows)
                if row["runtime"] == change["runtime"]
                and row["model"] is not None
                and fleet.registry.lifecycle.governing(row["runtime"], row["model"], row["provider"]) is entry
            ]
            assert change["workspace_count"] == len(governed) > 0, change
            assert change["workspaces"] == governed[:100]
            assert change["strands"] is (change["stage"] == "retired")
            assert _walk(client, change["workspaces_link"])[0] == governed, change["workspaces_link"]
        page = client.get("/ui/registry/lifecycle", params={"on": "2026-07-15", "within": 60}).text
    in_force = re.findall(r'data-count="(\d+)"><a href="([^"]+)"', page)
    # In force: claude-code's provider deprecated, hermes retired; ahead: claude-code retired, then opus.
    assert [int(count) for count, _ in in_force] == [6, 27, 6, 3]
    assert 'id="lifecycle-dated-link" href="/ui/workspaces?lifecycle=dated&amp;on=2026-07-15"' in page

    argv = ["--manifest", str(fleet.manifest), "--database-url", fleet.url, "--on", "2026-05-01", "--within", "200"]
    assert main(["lifecycle", *argv, "--json"]) == 1  # a retirement strands workspaces
    listed = json.loads(capsys.readouterr().out)["changes"]
    assert listed == changes  # the CLI reads what the service shows


def test_no_lifecycle_query_scans_the_workspace_table(fleet: Fleet) -> None:
    sent: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if re.search(r"workspaces\.runtime = .{1,40} AND workspaces\.(model|provider) =", statement):
            sent.append((statement, parameters))

    engine = fleet.live.state.database.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with fleet.live.client() as client:
            for day in (date(2026, 6, 15), date(2026, 9, 15)):
                _walk(client, f"/ui/workspaces?lifecycle=dated&on={day}")
            client.get("/registry/lifecycle", params={"on": "2026-05-01", "within": 200})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(sent) >= 10  # pages, their counts, and each change's count and newest rows
    with engine.connect() as connection:
        for statement, parameters in sent:
            plan = _explained(connection, statement, parameters)
            assert not _scans_workspaces(connection, plan), f"{statement}\n{plan}"
            assert _reads_a_lifecycle_index(connection, plan), f"{statement}\n{plan}"


def _reads_a_lifecycle_index(connection: Connection, plan: str) -> bool:
    """On SQLite, which keeps no statistics, the query's form decides the plan: it must read the
    lifecycle indexes, not walk the key range. PostgreSQL weighs its statistics and may walk a short
    key range instead (never the table: that is :func:`_scans_workspaces`)."""
    if connection.dialect.name != "sqlite":
        return True
    return "ix_workspaces_runtime_model" in plan or "ix_workspaces_runtime_provider" in plan


def test_a_caller_who_may_not_read_workspaces_gets_no_counts(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    for backend in BACKENDS:
        (tmp_path / backend).mkdir()
        for url in database_url(backend, tmp_path / backend):
            live = LiveServer(Settings(database_url=url, manifest=manifest, api_token="t" * 32)).start()
            try:
                _insert(live.state.database, _family_rows())
                params = {"on": "2026-07-15"}
                with live.client() as anonymous:
                    hidden = anonymous.get("/registry/lifecycle", params=params).json()["changes"]
                    page = anonymous.get("/ui/registry/lifecycle", params=params).text
                with live.client(token="t" * 32) as signed:
                    shown = signed.get("/registry/lifecycle", params=params).json()["changes"]
            finally:
                live.stop()
            assert [(c["workspace_count"], c["workspaces"], c["strands"]) for c in hidden] == [(None, [], False)] * 2
            assert [c["workspace_count"] for c in shown] == [6, 27]
            assert "data-count" not in page and "Sign in to see the stored workspaces" in page
