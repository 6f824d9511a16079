"""A publish replays the fleet from a snapshot, outside the write lock: held inside its replay (a
test hook on the replay), a dry run or a real publish lets a create through, on SQLite and
PostgreSQL; and the switch afterwards sees the workspace that create wrote."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from routegate import publishing
from routegate.publishing import Impact, WorkspaceGroup
from routegate.service import Settings, publication

from .conftest import LiveServer, database_url
from .fleets import HOLD_BOUND, HeldReads, fill  # HOLD_BOUND: longer than CREATE_BOUND
from .test_versions import BUNDLED, NEW_MODEL, add_platform_model, variant

WITH_K3 = variant(add_platform_model(NEW_MODEL))
HERMES_BYOK = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}
CREATE_BOUND = 30  # seconds: a create still waiting then is taken as stuck behind the replay


class HeldReplay:
    """Wraps the publish gate's replay: once armed, the next replay waits, inside, until released."""

    def __init__(self, assess: Callable[..., Impact]) -> None:
        self._assess = assess
        self._armed = False
        self.inside = threading.Event()
        self.release = threading.Event()

    def arm(self) -> None:
        self._armed = True

    def __call__(self, proposed: Any, groups: Iterable[WorkspaceGroup], *args: Any, **options: Any) -> Impact:
        if not self._armed:
            return self._assess(proposed, groups, *args, **options)
        self._armed = False
        stream = iter(groups)
        read = list(itertools.islice(stream, 1))  # the replay has begun reading its workspaces
        self.inside.set()
        self.release.wait(HOLD_BOUND)
        return self._assess(proposed, itertools.chain(read, stream), *args, **options)


@pytest.fixture(params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    for url in database_url(request.param, tmp_path):
        server = LiveServer(Settings(database_url=url)).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldReplay:
    hook = HeldReplay(publishing.assess_groups)
    monkeypatch.setattr(publication, "assess_groups", hook)
    return hook


def publish_while_held(
    live: LiveServer, held: HeldReplay, body: dict[str, Any], workspace: dict[str, str]
) -> tuple[httpx.Response, httpx.Response | None]:
    """Start a publish, wait until it is inside its replay, create ``workspace`` meanwhile, then let
    the publish go. The create's answer is None if it had none while the replay was held."""
    held.arm()
    with ThreadPoolExecutor(2) as pool, live.client() as http:
        publishing: Future[httpx.Response] = pool.submit(http.post, "/registry/versions", json=body)
        assert held.inside.wait(HOLD_BOUND), "the publish never reached its replay"
        creating = pool.submit(http.post, "/workspaces", json=workspace)
        try:
            created: httpx.Response | None = creating.result(CREATE_BOUND)
        except TimeoutError:
            created = None
        held.release.set()
        return publishing.result(), created


def test_a_dry_run_held_in_its_replay_lets_creates_through(live: LiveServer, held: HeldReplay) -> None:
    with live.client() as http:
        assert http.post("/workspaces", json={"name": "before", **HERMES_BYOK}).status_code == 201
    body = {"manifest": WITH_K3, "dry_run": True}
    published, created = publish_while_held(live, held, body, {"name": "meanwhile", **HERMES_BYOK})
    assert created is not None, "the create waited for the dry run"
    assert created.status_code == 201, created.text
    assert published.status_code == 200 and published.json()["dry_run"] is True


def test_a_publish_held_in_its_replay_lets_creates_through_and_sees_them_at_the_switch(
    live: LiveServer, held: HeldReplay
) -> None:
    with live.client() as http:
        assert http.post("/registry/versions", json={"manifest": WITH_K3}).status_code == 201
        assert http.post("/workspaces", json={"name": "before", **HERMES_BYOK}).status_code == 201
    # Dropping the new model would strand a workspace on it: the snapshot has none, the create
    # during the replay makes one, and the switch's re-check must find it.
    on_k3 = {"name": "k3", "runtime": "hermes", "model": NEW_MODEL}
    published, created = publish_while_held(live, held, {"manifest": BUNDLED}, on_k3)
    assert created is not None, "the create waited for the publish's replay"
    assert created.status_code == 201 and created.json()["manifest_version"] == 2, created.text
    assert published.status_code == 409, published.text
    assert [s["id"] for s in published.json()["impact"]["workspaces"]["stranded"]] == [created.json()["id"]]
    with live.client() as http:
        assert http.get("/healthz").json()["manifest_version"] == 2


# --- the read's windows see the fleet as it is ----------------------------------------------------

WINDOWED_FLEET = 300  # three workspaces a window: a hold after the first leaves most of the fleet unread


def _publish_held_midway(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], meanwhile: Callable[[httpx.Client], None]
) -> httpx.Response:
    """Publish ``body`` with its read of the fleet held after its first window, doing ``meanwhile`` then."""
    reads = HeldReads(monkeypatch, holds=lambda read, total: 0 < read < total)
    with ThreadPoolExecutor(1) as pool, live.client() as http:
        publishing: Future[httpx.Response] = pool.submit(http.post, "/registry/versions", json=body)
        release = reads.next_inside()
        try:
            meanwhile(http)
        finally:
            release.set()
        return publishing.result(HOLD_BOUND)


def _fleet_with_k3(live: LiveServer) -> None:
    """Version 2 (the bundled manifest and NEW_MODEL) active over WINDOWED_FLEET workspaces."""
    with live.client() as http:
        assert http.post("/registry/versions", json={"manifest": WITH_K3}).status_code == 201
    fill(live.state.database, WINDOWED_FLEET)


def _create_on_k3(http: httpx.Client) -> str:
    """A workspace on NEW_MODEL, which the bundled manifest strands; its id."""
    answer = http.post("/workspaces", json={"name": "k3", "runtime": "hermes", "model": NEW_MODEL})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_a_workspace_created_while_the_read_is_halfway_is_judged_and_listed_once(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fleet_with_k3(live)
    created: list[str] = []
    published = _publish_held_midway(
        live, monkeypatch, {"manifest": BUNDLED}, lambda http: created.append(_create_on_k3(http))
    )
    assert published.status_code == 409, published.text
    # read by a later window and re-checked at the switch: counted by both, listed once
    assert [s["id"] for s in published.json()["impact"]["workspaces"]["stranded"]] == created


def test_a_workspace_deleted_before_the_read_reaches_it_strands_nothing(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fleet_with_k3(live)
    with live.client() as http:
        last = _create_on_k3(http)  # the newest: in the read's last window

    def delete_it(http: httpx.Client) -> None:
        assert http.delete(f"/workspaces/{last}").status_code == 204

    published = _publish_held_midway(live, monkeypatch, {"manifest": BUNDLED}, delete_it)
    assert published.status_code == 201, "the one workspace on the dropped model was gone when its window was read"
