"""A publish or activation tells a caller how far its replay of the fleet is, on SQLite and PostgreSQL.

The gate's own ``VersionStore`` on a real database holding a fleet past PROGRESS_FROM: the
reports rise from (0, total) to (total, total), about a hundred at most however large the
fleet; a publish that runs again from its start reports from 0 again; and the log's
line per tenth is built on the same reports. Over real HTTP, another client watches
``GET /registry/versions/progress`` rise while a publish replays (its read paced, to be seen on
any machine), and finds the list empty once it ends, refused or not, and with two at once.
The list is stored: another instance on the database lists a replay it does not run, a
replay whose process died leaves the list, and a database that refuses the progress never
fails the publish it follows.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy

from routegate.decision import FOREIGN_RUNTIMES
from routegate.service import Settings
from routegate.service.db import Database
from routegate.service.in_flight import ReplayKind, Replays
from routegate.service.publication import PROGRESS_FROM, PublishResult, VersionStore, candidate

from .conftest import LiveServer, database_url, two_servers_on
from .fleets import HOLD_BOUND, HeldReads, fill
from .test_versions import BUNDLED, NEW_MODEL, add_platform_model, drop_runtime, variant

FLEET = PROGRESS_FROM + 345  # not a multiple of a hundredth: the last report is the end's own
WITH_K3 = candidate(variant(add_platform_model(NEW_MODEL)), "k3")
WITH_K4 = candidate(variant(add_platform_model("moonshot/kimi-k4-preview")), "k4")

Reports = list[tuple[int, int]]


def _store(url: str) -> Iterator[VersionStore]:
    database = Database(url)
    try:
        database.upgrade()
        versions = VersionStore(database, foreign_runtimes=FOREIGN_RUNTIMES)
        versions.bootstrap(candidate(BUNDLED, "the bundled manifest"), note="first")
        yield versions
    finally:
        database.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VersionStore]:
    """Version 1 active over FLEET stored workspaces."""
    for url in database_url(request.param, tmp_path_factory.mktemp(request.param)):
        for versions in _store(url):
            fill(versions.database, FLEET)
            yield versions


@pytest.fixture(params=["sqlite", "postgres"])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VersionStore]:
    for url in database_url(request.param, tmp_path):
        yield from _store(url)


def assert_one_replay(reports: Reports, total: int) -> None:
    """From (0, total) to (total, total), never backwards, each step at most about a hundredth."""
    assert reports[0] == (0, total) and reports[-1] == (total, total), (reports[:2], reports[-2:])
    assert {seen for _, seen in reports} == {total}
    counts = [replayed for replayed, _ in reports]
    assert counts == sorted(counts) and len(set(counts)) == len(counts), counts
    assert len(reports) <= 101
    assert max((b - a for a, b in itertools.pairwise(counts)), default=0) <= -(-total // 100)


def test_a_dry_run_reports_a_rising_count_to_the_total_about_every_hundredth(fleet: VersionStore) -> None:
    reports: Reports = []
    outcome = fleet.publish(WITH_K3, note=None, dry_run=True, force=False, progress=lambda *r: reports.append(r))
    assert outcome.impact is not None and outcome.impact.checked == FLEET
    assert_one_replay(reports, FLEET)
    assert len(reports) >= 100  # not only the two ends


def test_an_activation_reports_its_replay_too(fleet: VersionStore) -> None:
    reports: Reports = []
    fleet.activate(1, force=False, dry_run=True, progress=lambda *r: reports.append(r))
    assert_one_replay(reports, FLEET)


def test_the_log_says_each_tenth_from_the_same_reports(fleet: VersionStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routegate.service")
    reports: Reports = []
    fleet.publish(WITH_K3, note=None, dry_run=True, force=False, progress=lambda *r: reports.append(r))
    logged = [
        (int(found[1]), int(found[2]), int(found[3]))
        for record in caplog.records
        if (found := re.fullmatch(r"publish gate: replayed (\d+) of (\d+) workspaces \((\d+)%\)", record.getMessage()))
    ]
    assert [percent for _, _, percent in logged] == list(range(10, 101, 10)), logged
    assert all(total == FLEET for _, total, _ in logged)
    assert {(replayed, FLEET) for replayed, _, _ in logged} <= set(reports)  # each line is one of the reports


def test_a_publish_that_runs_again_reports_from_zero_again(fleet: VersionStore) -> None:
    """Another publish switches versions while the first replays: the first runs again, counting anew."""
    reports: Reports = []
    meanwhile: list[PublishResult] = []

    def report(replayed: int, total: int) -> None:
        reports.append((replayed, total))
        if replayed and not meanwhile:  # inside the first replay
            meanwhile.append(fleet.publish(WITH_K4, note="meanwhile", dry_run=False, force=False))

    outcome = fleet.publish(WITH_K3, note="the slow one", dry_run=False, force=False, progress=report)
    assert outcome.changed and outcome.previous is not None
    assert outcome.previous.version == meanwhile[0].version, "the switch saw the version published meanwhile"
    restart = reports.index((0, FLEET), 1)
    first, second = reports[:restart], reports[restart:]
    assert first[-1] == (FLEET, FLEET), "the first replay ran to its end before the switch found the change"
    assert_one_replay(first, FLEET)
    assert_one_replay(second, FLEET)


@pytest.mark.parametrize("size", [0, 1, 7, 100])
def test_a_small_fleet_is_reported_to_its_end_without_a_log_line(
    empty: VersionStore, size: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="routegate.service")
    fill(empty.database, size)
    reports: Reports = []
    empty.publish(WITH_K3, note=None, dry_run=True, force=False, progress=lambda *r: reports.append(r))
    assert_one_replay(reports, size)
    assert len(reports) == size + 1  # up to a hundred, each workspace is a hundredth or more
    assert not [r for r in caplog.records if "publish gate: replayed" in r.getMessage()]


# --- over HTTP: GET /registry/versions/progress while publishes replay ----------------------------

HTTP_FLEET = 20_000
PACE_S = 0.02  # per report of the read: about two seconds a replay, long enough to be watched anywhere
POLL_S = 0.01


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served_fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    for url in database_url(request.param, tmp_path_factory.mktemp(request.param)):
        live = LiveServer(Settings(database_url=url)).start()
        try:
            fill(live.state.database, HTTP_FLEET)
            yield live
        finally:
            live.stop()


def watched(live: LiveServer, method: str, path: str, **body: Any) -> tuple[httpx.Response, list[list[dict[str, Any]]]]:
    """Send a request and, from another client, ask for the progress until it is answered."""
    with ThreadPoolExecutor(1) as pool, live.client() as sender, live.client() as watcher:
        answer = pool.submit(sender.request, method, path, json=body or None)
        samples = []
        while not answer.done():
            samples.append(watcher.get("/registry/versions/progress").json()["items"])
            time.sleep(POLL_S)
        assert watcher.get("/registry/versions/progress").json() == {"items": []}, "still listed after it ended"
        return answer.result(), samples


def assert_seen_rising(samples: list[list[dict[str, Any]]], kind: str, dry_run: bool) -> None:
    seen = [items for items in samples if items]
    assert all(len(items) == 1 for items in seen), seen[:3]
    entries = [items[0] for items in seen]
    assert {(e["kind"], e["dry_run"], e["version"], e["started_at"]) for e in entries} == {
        (kind, dry_run, None, entries[0]["started_at"])
    }
    counted = [e["replayed"] for e in entries if e["total"] is not None]
    assert {e["total"] for e in entries if e["total"] is not None} == {HTTP_FLEET}
    assert counted == sorted(counted), counted
    assert len({c for c in counted if 0 < c < HTTP_FLEET}) >= 3, f"too few steps seen: {counted}"


def test_a_publish_is_seen_rising_from_another_client_and_leaves_the_list_when_done(
    served_fleet: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    HeldReads(monkeypatch, holds=lambda read, total: False, pace=PACE_S)
    answer, samples = watched(served_fleet, "POST", "/registry/versions", manifest=WITH_K3.manifest.decode())
    assert answer.status_code == 201, answer.text
    assert_seen_rising(samples, "publish", dry_run=False)


def test_a_refused_publish_is_seen_too_and_leaves_the_list(
    served_fleet: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    HeldReads(monkeypatch, holds=lambda read, total: False, pace=PACE_S)
    stranding = variant(drop_runtime("hermes"))
    answer, samples = watched(served_fleet, "POST", "/registry/versions", manifest=stranding)
    assert answer.status_code == 409 and answer.json()["code"] == "MANIFEST_WOULD_STRAND", answer.text
    assert_seen_rising(samples, "publish", dry_run=False)


def test_replays_from_two_threads_are_both_listed_and_each_leaves_when_it_ends(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(live.state.database, 5)
    held = HeldReads(monkeypatch, holds=lambda read, total: read == 0)
    with ThreadPoolExecutor(2) as pool, live.client() as http, live.client() as watcher:

        def listed() -> list[tuple[str, bool, int | None, int, int | None]]:
            items = watcher.get("/registry/versions/progress").json()["items"]
            return [(i["kind"], i["dry_run"], i["version"], i["replayed"], i["total"]) for i in items]

        activating = pool.submit(http.post, "/registry/versions/1/activate", json={"dry_run": True})
        first = held.next_inside()
        stranding = pool.submit(http.post, "/registry/versions", json={"manifest": variant(drop_runtime("hermes"))})
        second = held.next_inside()
        assert listed() == [("activate", True, 1, 0, 5), ("publish", False, None, 0, 5)]
        first.set()
        assert activating.result(HOLD_BOUND).status_code == 200
        assert listed() == [("publish", False, None, 0, 5)]
        second.set()
        assert stranding.result(HOLD_BOUND).status_code == 409, "refused, and still taken off the list"
        assert listed() == []


@pytest.fixture
def two_instances(fresh_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    yield from two_servers_on(fresh_url)


def test_each_instance_lists_the_replays_every_other_one_runs(
    two_instances: tuple[LiveServer, LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_instances
    fill(first.state.database, 7)
    held = HeldReads(monkeypatch, holds=lambda read, total: read == 0)
    with ThreadPoolExecutor(2) as pool, first.client() as one, second.client() as other:

        def listed(client: httpx.Client) -> list[tuple[str, bool, int | None, int, int | None]]:
            items = client.get("/registry/versions/progress").json()["items"]
            return [(i["kind"], i["dry_run"], i["version"], i["replayed"], i["total"]) for i in items]

        publishing = pool.submit(one.post, "/registry/versions", json={"manifest": WITH_K3.manifest.decode()})
        first_release = held.next_inside()
        assert listed(other) == [("publish", False, None, 0, 7)], "the other instance does not see the publish"
        activating = pool.submit(other.post, "/registry/versions/1/activate", json={"dry_run": True})
        second_release = held.next_inside()
        both = [("publish", False, None, 0, 7), ("activate", True, 1, 0, 7)]
        assert listed(one) == listed(other) == both
        second_release.set()
        assert activating.result(HOLD_BOUND).status_code == 200
        assert listed(one) == both[:1]
        first_release.set()
        assert publishing.result(HOLD_BOUND).status_code == 201
        assert listed(one) == listed(other) == []


def test_concurrent_replays_on_two_instances_all_leave_the_list_round_after_round(
    two_instances: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_instances
    fill(first.state.database, 40)
    rounds, each = 5, 4
    with ThreadPoolExecutor(2 * each + 2) as pool, first.client() as one, second.client() as other:
        for _ in range(rounds):
            asked = [
                pool.submit(
                    client.post, "/registry/versions", json={"manifest": WITH_K3.manifest.decode(), "dry_run": True}
                )
                for client in (one, other)
                for _ in range(each)
            ]
            seen = [len(client.get("/registry/versions/progress").json()["items"]) for client in (one, other)]
            assert [answer.result(HOLD_BOUND).status_code for answer in asked] == [200] * 2 * each
            assert max(seen) <= 2 * each, "listed more replays than are running"
            assert [client.get("/registry/versions/progress").json() for client in (one, other)] == [{"items": []}] * 2
    assert first.count("replays_in_flight") == 0


def test_a_replay_whose_process_died_leaves_the_list_once_stale(empty: VersionStore) -> None:
    replays = Replays(empty.database, stale_after=timedelta(seconds=2))  # a loaded machine stalls less than that
    abandoned = replays.track(ReplayKind.PUBLISH, dry_run=False)
    abandoned.__enter__()(0, 50)  # entered, reported, never left: its process was killed
    assert [(r.kind, r.replayed, r.total) for r in replays.now()] == [(ReplayKind.PUBLISH, 0, 50)]
    time.sleep(2.1)
    assert replays.now() == []
    with replays.track(ReplayKind.RELOAD, dry_run=False):  # the next replay clears the dead one's row
        assert [r.kind for r in replays.now()] == [ReplayKind.RELOAD]
    with empty.database.read() as session:
        assert session.scalar(sqlalchemy.text("SELECT count(*) FROM replays_in_flight")) == 0


def test_every_report_is_stored_as_it_is_made(fleet: VersionStore) -> None:
    replays = Replays(fleet.database)
    seen: list[tuple[tuple[int, int], list[tuple[int, int | None]]]] = []

    def stored() -> list[tuple[int, int | None]]:
        return [(r.replayed, r.total) for r in replays.now()]

    with replays.track(ReplayKind.PUBLISH, dry_run=True) as report:
        assert stored() == [(0, None)], "listed from its start, before the fleet is counted"

        def watched(replayed: int, total: int) -> None:
            report(replayed, total)
            seen.append(((replayed, total), stored()))

        fleet.publish(WITH_K3, note=None, dry_run=True, force=False, progress=watched)
    assert len(seen) > 3
    assert all(listed == [made] for made, listed in seen), [s for s in seen if s[1] != [s[0]]][:3]
    assert stored() == []


def test_a_database_that_refuses_the_progress_never_fails_the_publish_nor_is_asked_again(
    empty: VersionStore, caplog: pytest.LogCaptureFixture
) -> None:
    fill(empty.database, 300)
    replays = Replays(empty.database)
    reports = 0

    def dropping_the_table(report: Callable[[int, int], None]) -> Callable[[int, int], None]:
        def progress(replayed: int, total: int) -> None:
            nonlocal reports
            reports += 1
            if reports == 2:  # the table goes away mid-replay: this report and the end's delete are refused
                with empty.database.write() as session:
                    session.execute(sqlalchemy.text("DROP TABLE replays_in_flight"))
            report(replayed, total)

        return progress

    tracked = replays.track(ReplayKind.PUBLISH, dry_run=False)
    with caplog.at_level(logging.WARNING, "routegate.service"), tracked as report:
        outcome = empty.publish(WITH_K3, note=None, dry_run=False, force=False, progress=dropping_the_table(report))
    assert outcome.changed and outcome.version == 2
    refused = [record for record in caplog.records if "replay progress not stored" in record.getMessage()]
    assert reports > 10 and len(refused) == 2, (reports, [record.getMessage() for record in refused])
