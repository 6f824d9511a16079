"""The publish gate's grouped read of a real database gives the verdict of replaying every stored
workspace by itself, on SQLite and PostgreSQL.

Random fleets (every kind of workspace the bundled manifest admits, with and without tenant keys,
external or not, one with no model) are stored in a random order, and random candidates judged on
them twice: through :class:`~routegate.service.store.StoredGroups` (``GROUP BY`` in windows, the
members of changed groups read back by their group) and through the plain per-workspace replay of
:func:`~routegate.publishing.assess` over :func:`~routegate.service.store.stored_workspaces`. The two
must agree on every count and every listed workspace, in stored order; the read's reports must rise
by windows of at most a hundredth of the fleet to its size.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from routegate import Registry
from routegate.publishing import StoredWorkspace, assess, assess_groups
from routegate.service.db import Database, Workspace
from routegate.service.inserts import RowInsert
from routegate.service.store import StoredGroups, stored_workspaces
from tests.core.test_publishing import DAY, STORED, candidates

from .conftest import database_url

TENANT_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MOONSHOT_API_KEY")
NO_MODEL = StoredWorkspace("hermes", None, False, frozenset(), None, None, id="", name="no model")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    for url in database_url(request.param, tmp_path_factory.mktemp(request.param)):
        database = Database(url)
        try:
            database.upgrade()
            yield database
        finally:
            database.dispose()


@st.composite
def fleets(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Workspace rows in stored order: kinds repeated and scattered, some past a window of one."""
    kinds = draw(st.lists(st.sampled_from((*STORED, NO_MODEL)), min_size=1, max_size=12))
    rows = []
    for number in range(draw(st.integers(0, 260))):
        kind = kinds[draw(st.integers(0, len(kinds) - 1))]
        now = datetime.now(UTC)
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "name": f"{kind.name} {number}",
                "parent_id": None,
                "role": None,
                "runtime": kind.runtime,
                "model": kind.model,
                "template": None,
                "external": draw(st.booleans()) if number % 7 == 0 else kind.external,
                "url": None,
                "provider": kind.provider,
                "billing_mode": kind.billing_mode,
                "required_env": [],
                "auth_env": sorted(draw(st.sets(st.sampled_from(TENANT_KEYS), max_size=2))) if number % 3 == 0 else [],
                "manifest_fingerprint": "0" * 16,
                "manifest_version": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def _store(database: Database, rows: list[dict[str, Any]]) -> None:
    insert = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
    with database.write_connection() as connection:
        connection.execute(delete(Workspace))
        if rows:
            insert.run_many(connection, rows)


@given(candidate=candidates(), rows=fleets())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
def test_the_grouped_read_gives_the_verdict_of_every_workspace_replayed_alone(
    database: Database, candidate: Registry, rows: list[dict[str, Any]]
) -> None:
    _store(database, rows)
    reports: list[tuple[int, int]] = []
    with database.read() as session:
        alone = assess(candidate, stored_workspaces(session), on=DAY)
    stored = StoredGroups(database.read, lambda read, total: reports.append((read, total)))
    grouped = assess_groups(candidate, stored.groups, stored.members, on=DAY)
    assert grouped == alone
    assert sum(group.count for group in stored.groups) == len(rows)
    assert reports[0] == (0, len(rows)) and reports[-1] == (len(rows), len(rows))
    steps = [b - a for (a, _), (b, _) in itertools.pairwise(reports)]
    assert all(0 < step <= -(-len(rows) // 100) for step in steps), steps


def test_an_empty_fleet_is_read_as_no_groups(database: Database) -> None:
    _store(database, [])
    reports: list[tuple[int, int]] = []
    stored = StoredGroups(database.read, lambda read, total: reports.append((read, total)))
    assert stored.groups == [] and reports == [(0, 0)]
