"""The publish gate against the fleet's writes, as a fleet runs: real ``routegate serve`` processes
(one, and two on one database), on SQLite and PostgreSQL.

A publish that drops a BYOK menu id and moves another id's payer to the platform races creates
and model changes onto both ids, round after round. Whatever wins each race, a workspace row
exists only if its decision holds under the version active when it committed: after every round
each stored workspace is replayed against the active version and none is stranded or billed by
another payer, and the next unforced publish is not refused because of what the race left.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from routegate.publishing import Impact, assess
from routegate.service import Settings
from routegate.service.db import Database, ManifestVersion, Workspace
from routegate.service.publication import VersionStore, candidate
from routegate.service.store import stored_workspaces

from .conftest import LiveServer, database_url, free_port
from .test_cli import serving
from .test_versions import HERMES_ROUTED, Mutation, _arms, add_platform_model, drop_arm, variant

DROPPED = "kimi-coding/kimi-k9"  # on kimi-coding's BYOK menu before; refused after
MOVED = "kimi-coding/kimi-k2"  # billed BYOK by kimi-coding before; by the platform after
ROUNDS = 5
POLL = {"ROUTEGATE_MANIFEST_POLL_SECONDS": "0.05"}  # instances follow a publish within moments
CLIENTS = 4
WRITES_PER_CLIENT = 6  # alternately a create and a model change, onto DROPPED or MOVED


def add_menu_model(provider: str, model: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        next(arm for arm in _arms(doc, "hermes") if arm["name"] == provider)["models"].append(model)

    return mutate


BEFORE = variant(add_menu_model("kimi-coding", DROPPED))
AFTER = variant(drop_arm("kimi-coding"), add_platform_model(MOVED))  # drops DROPPED, moves MOVED
NEXT = variant(drop_arm("kimi-coding"), add_platform_model(MOVED), add_platform_model("moonshot/after-the-race"))


@dataclass
class Round:
    """What one race did, for the failure message."""

    publish_status: int = 0
    admitted: int = 0
    refused: int = 0
    stranded: int = 0
    payer_moved: int = 0
    next_publish_status: int | None = None
    unexpected: list[str] = field(default_factory=list)


def leftovers(url: str) -> Impact:
    """Every stored workspace replayed against the active version, read straight from the database."""
    database = Database(url)
    try:
        with database.read() as session:
            raw = session.scalar(select(ManifestVersion.manifest).where(ManifestVersion.active.is_(True)))
            assert raw is not None
            return assess(candidate(raw, "the active version").registry, list(stored_workspaces(session)))
    finally:
        database.dispose()


def forget_workspaces(url: str) -> None:
    database = Database(url)
    try:
        with database.write() as session:
            session.execute(delete(Workspace))
    finally:
        database.dispose()


def serves(port: int, version: int) -> None:
    """Wait (bounded) until the instance on ``port`` serves ``version``."""
    deadline = time.monotonic() + 30
    while httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()["manifest_version"] != version:
        assert time.monotonic() < deadline, f"instance on {port} never served version {version}"
        time.sleep(0.05)


def publish(port: int, manifest: str, **options: Any) -> httpx.Response:
    body = {"manifest": manifest, **options}
    return httpx.post(f"http://127.0.0.1:{port}/registry/versions", json=body, timeout=60)


def race(ports: list[int], number: int, seeds: list[list[str]], head_start: float) -> Round:
    """CLIENTS writers and one publisher of AFTER; the writers begin ``head_start`` seconds after it."""
    outcome = Round()
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)

    def write(client: int) -> None:
        port = ports[client % len(ports)]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            start.wait()
            time.sleep(head_start)
            for step in range(WRITES_PER_CLIENT):
                model = (DROPPED, MOVED)[(client + step) % 2]
                if step % 2:
                    answer = http.put(f"/workspaces/{seeds[client][step // 2]}/model", json={"model": model})
                else:
                    name = f"round {number} client {client} step {step}"
                    answer = http.post("/workspaces", json={"name": name, "runtime": "hermes", "model": model})
                with lock:
                    if answer.status_code in (200, 201):
                        outcome.admitted += 1
                    elif answer.status_code < 500 and answer.json().get("code") == "UNREGISTERED_MODEL_FOR_RUNTIME":
                        outcome.refused += 1
                    else:
                        outcome.unexpected.append(f"{answer.status_code} {answer.text}")

    def publisher() -> None:
        start.wait()
        outcome.publish_status = publish(ports[number % len(ports)], AFTER).status_code

    threads = [threading.Thread(target=write, args=(client,)) for client in range(CLIENTS)]
    threads.append(threading.Thread(target=publisher))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive(), "a client of the race never got an answer"
    return outcome


def seed(port: int, names: list[str]) -> list[str]:
    """Workspaces for the model changes to start from, on an id both versions admit alike."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        return [http.post("/workspaces", json={"name": name, **HERMES_ROUTED}).json()["id"] for name in names]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    """Two ``routegate serve`` processes on one fresh database: its URL and their ports."""
    folder = tmp_path_factory.mktemp(request.param)
    for url in database_url(request.param, folder):
        ports = [free_port(), free_port()]
        with ExitStack() as processes:
            for index, port in enumerate(ports):
                (folder / str(index)).mkdir()
                processes.enter_context(
                    serving("--port", str(port), "--database-url", url, cwd=folder / str(index), port=port, env=POLL)
                )
            yield url, ports


@pytest.mark.parametrize("instances", [1, 2])
def test_no_publish_strands_or_moves_a_workspace_written_while_it_ran(
    fleet: tuple[str, list[int]], instances: int
) -> None:
    """Each round: no workspaces, BEFORE active, seeds; then the race. The writers' head start
    follows the races' outcomes (longer after a publish refused, shorter after one that passed),
    so the rounds keep to where the publish and the writes meet, whatever the machine's load."""
    url, ports = fleet[0], fleet[1][:instances]
    rounds: list[Round] = []
    forget_workspaces(url)
    assert publish(ports[0], BEFORE).status_code in (200, 201)
    calibrating = time.monotonic()  # how long a publish of AFTER takes here, now: where to start looking
    assert publish(ports[0], AFTER, dry_run=True).status_code == 200
    head_start = time.monotonic() - calibrating
    for number in range(ROUNDS):
        forget_workspaces(url)
        restored = publish(ports[0], BEFORE)
        assert restored.status_code in (200, 201), restored.text
        for port in fleet[1]:
            serves(port, restored.json()["version"])
        names = [
            [f"round {number} seed {client} {index}" for index in range(WRITES_PER_CLIENT // 2)]
            for client in range(CLIENTS)
        ]
        seeds = [seed(ports[client % len(ports)], names[client]) for client in range(CLIENTS)]
        outcome = race(ports, number, seeds, head_start)
        impact = leftovers(url)
        outcome.stranded, outcome.payer_moved = impact.stranded_count, impact.billing_changed_count
        if outcome.publish_status == 201:  # the race's leftovers would make this publish 409
            outcome.next_publish_status = publish(ports[0], NEXT).status_code
        head_start *= 0.8 if outcome.publish_status == 201 else 1.25
        rounds.append(outcome)
    report = "\n".join(f"round {number}: {outcome}" for number, outcome in enumerate(rounds))
    assert all(outcome.publish_status in (201, 409) for outcome in rounds), report
    assert not any(outcome.unexpected for outcome in rounds), report
    assert sum(outcome.stranded for outcome in rounds) == 0, report
    assert sum(outcome.payer_moved for outcome in rounds) == 0, report
    assert all(outcome.next_publish_status in (None, 201) for outcome in rounds), report


@pytest.fixture(params=["sqlite", "postgres"])
def stale(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A served instance on BEFORE that does not look for new versions by itself (a minute between polls)."""
    for url in database_url(request.param, tmp_path):
        server = LiveServer(Settings(database_url=url, manifest_poll_seconds=60)).start()
        try:
            with server.client() as http:
                assert http.post("/registry/versions", json={"manifest": BEFORE}).status_code == 201
            yield server
        finally:
            server.stop()


def test_a_write_decided_under_a_version_no_longer_active_is_decided_again_under_the_active_one(
    stale: LiveServer,
) -> None:
    with stale.client() as http:
        seed = http.post("/workspaces", json={"name": "seed", **HERMES_ROUTED}).json()
        # Another instance publishes AFTER; this one still serves BEFORE when the writes arrive.
        other = VersionStore(stale.state.database, foreign_runtimes=stale.settings.foreign_runtimes)
        after = other.publish(candidate(AFTER, "after"), note=None, dry_run=False, force=False).version
        served_before = stale.state.served.version

        moved = http.post("/workspaces", json={"name": "moved", "runtime": "hermes", "model": MOVED})
        dropped = http.post("/workspaces", json={"name": "dropped", "runtime": "hermes", "model": DROPPED})
        changed = http.put(f"/workspaces/{seed['id']}/model", json={"model": DROPPED})
        decisions = http.get("/decisions").json()["items"]

    assert served_before != after  # the writes were decided under BEFORE first (on PostgreSQL NOTIFY may
    # have woken the instance meanwhile: the answers below are the same either way)
    assert moved.status_code == 201, moved.text
    assert (moved.json()["billing_mode"], moved.json()["manifest_version"]) == ("platform_managed", after)
    assert dropped.status_code == 422 and dropped.json()["code"] == "UNREGISTERED_MODEL_FOR_RUNTIME", dropped.text
    assert changed.status_code == 422 and changed.json()["code"] == "UNREGISTERED_MODEL_FOR_RUNTIME", changed.text
    assert [(d["model"], d["admitted"], d["manifest_version"]) for d in decisions[-3:]] == [
        (MOVED, True, after),
        (DROPPED, False, after),
        (DROPPED, False, after),
    ]
    assert leftovers(stale.settings.database_url).stranded_count == 0
