"""Workspace names under concurrency, as a property over what was taken before and how many race.

A create inserts the name as asked and looks for a free one only when the
unique index refuses it. Whatever names a parent already has (suffix forms,
gaps, look-alikes that are not suffix forms) and however many creates race for
one name, through two servers on one database: the winners get exactly the
lowest free of "name", "name (2)", ... up to the limit, the rest get 409
NAME_CONFLICT, and the decision log has one row per request, each with the
manifest version it was decided under.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from routegate.service import Settings
from routegate.service.db import DecisionRecord

from .conftest import LiveServer

LIMIT = 5
SUFFIXES = ["", *(f" ({n})" for n in range(2, LIMIT + 1))]  # the names a create may be given, in order
LOOK_ALIKES = [" (1)", " (02)", " (x)", f" ({LIMIT + 1})", "(2)", " (2", " ( 3)"]  # never chosen, never in the way
MOST_RACERS = 8
HERMES = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}


@pytest.fixture(scope="module")
def servers(backend_url: str) -> Iterator[list[LiveServer]]:
    """Two servers on one database, as two workers or two machines would be."""
    pair = [LiveServer(Settings(database_url=backend_url, name_suffix_limit=LIMIT)).start() for _ in range(2)]
    yield pair
    for server in pair:
        server.stop()


@pytest.fixture(scope="module")
def clients(servers: list[LiveServer]) -> Iterator[list[httpx.Client]]:
    """One client per racer, alternating between the servers."""
    opened = [servers[n % 2].client() for n in range(MOST_RACERS)]
    yield opened
    for client in opened:
        client.close()


def _last_decision(server: LiveServer) -> int:
    with server.state.database.engine.connect() as connection:
        return int(connection.scalar(select(func.coalesce(func.max(DecisionRecord.seq), 0))))


def _decisions_after(client: httpx.Client, cursor: int) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    next_cursor: str | None = str(cursor)
    while next_cursor is not None:
        page = client.get("/decisions", params={"limit": 200, "cursor": next_cursor}).json()
        items += page["items"]
        next_cursor = page["next_cursor"]
    return items


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    taken=st.sets(st.sampled_from(SUFFIXES + LOOK_ALIKES)),
    racers=st.integers(1, MOST_RACERS),
    under_a_parent=st.booleans(),
)
def test_racing_creates_get_the_lowest_free_names(
    servers: list[LiveServer], clients: list[httpx.Client], taken: set[str], racers: int, under_a_parent: bool
) -> None:
    base = f"crowd {uuid.uuid4().hex[:8]}"  # a name no earlier example used, at the root too
    http = clients[0]
    parent_id = None
    if under_a_parent:
        parent_id = http.post("/workspaces", json={"name": f"parent of {base}", **HERMES}).json()["id"]
    for suffix in sorted(taken):
        made = http.post("/workspaces", json={"name": base + suffix, "parent_id": parent_id, **HERMES})
        assert (made.status_code, made.json()["name"]) == (201, base + suffix), made.text
    before = _last_decision(servers[0])
    barrier = threading.Barrier(racers)

    def race(client: httpx.Client) -> httpx.Response:
        barrier.wait()
        return client.post("/workspaces", json={"name": base, "parent_id": parent_id, **HERMES})

    with ThreadPoolExecutor(racers) as pool:
        responses = list(pool.map(race, clients[:racers]))

    free = [base + suffix for suffix in SUFFIXES if suffix not in taken]
    winners = free[:racers]
    created = [r.json() for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert sorted(w["name"] for w in created) == sorted(winners), [r.text for r in responses]
    assert all(w["parent_id"] == parent_id for w in created)
    assert [(r.status_code, r.json()["code"]) for r in refused] == [(409, "NAME_CONFLICT")] * (racers - len(winners))
    version = servers[0].state.manifest_version
    assert {w["manifest_version"] for w in created} <= {version}

    logged = _decisions_after(http, before)
    admitted = [d for d in logged if d["admitted"]]
    assert len(logged) == racers
    assert sorted(str(d["workspace_id"]) for d in admitted) == sorted(w["id"] for w in created)
    assert [(d["action"], d["code"]) for d in logged if not d["admitted"]] == [("create", "NAME_CONFLICT")] * len(
        refused
    )
    assert {d["manifest_version"] for d in logged} == {version}
