"""A fleet on one database, as an operator runs it: real ``routegate serve`` processes (one with
``--workers 2``), ``routegate publish``/``activate``/``versions`` as processes, signals sent for
real, on SQLite and PostgreSQL. Plus the listener's TCP_NODELAY, a clean Ctrl-C, and watchers that say
what they follow.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from routegate.registry import Registry
from routegate.service.propagation import ManifestWatcher
from routegate.service.server import listening_socket

from .conftest import database_url, free_port, run_cli
from .test_cli import serving
from .test_versions import BUNDLED, NEW_MODEL, add_platform_model, variant

HERMES_OK = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


def _fingerprints(ports: list[int]) -> list[str]:
    """What each instance serves, each asked on a fresh connection (so every worker gets asked)."""
    answers = []
    for port in ports:
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"Connection": "close"}, timeout=10)
        answers.append(health.json()["manifest_fingerprint"])
    return answers


def _converge(ports: list[int], fingerprint: str, rounds: int = 5) -> None:
    """Every instance answers ``fingerprint`` ``rounds`` times in a row (bounded wait)."""
    deadline = time.monotonic() + 20
    in_a_row = 0
    while in_a_row < rounds:
        seen = _fingerprints(ports)
        assert time.monotonic() < deadline, f"not converged on {fingerprint}: {seen}"
        in_a_row = in_a_row + 1 if set(seen) == {fingerprint} else 0


def _cli_json(*args: str) -> dict[str, Any]:
    done = run_cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_two_instances_converge_after_a_publish_and_after_a_rollback(shared_url: str, tmp_path: Path) -> None:
    one, two = free_port(), free_port()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        serving("--port", str(one), "--database-url", shared_url, "--workers", "2", cwd=tmp_path / "a", port=one),
        serving("--port", str(two), "--database-url", shared_url, cwd=tmp_path / "b", port=two),
    ):
        first = _fingerprints([one])[0]
        _converge([one, two], first)
        candidate = tmp_path / "k3.yaml"
        candidate.write_text(variant(add_platform_model(NEW_MODEL)))
        published = _cli_json("publish", str(candidate), "--database-url", shared_url, "--note", "k3")
        assert published["version"] == 2 and published["changed"] is True
        _converge([one, two], str(published["fingerprint"]))
        created = httpx.post(
            f"http://127.0.0.1:{two}/workspaces", json={"name": "k3", "runtime": "hermes", "model": NEW_MODEL}
        )
        assert created.status_code == 201 and created.json()["manifest_version"] == 2

        # Version 1 would strand the workspace just created: refused (exit 1), then forced.
        refused = run_cli("activate", "1", "--database-url", shared_url)
        assert refused.returncode == 1 and refused.stdout == ""  # the refusal goes to stderr
        assert "strand 1" in refused.stderr and created.json()["id"] in refused.stderr
        rolled_back = _cli_json("activate", "1", "--force", "--database-url", shared_url)
        assert rolled_back["version"] == 1
        _converge([one, two], first)
        listed = _cli_json("versions", "--database-url", shared_url)["items"]
        assert [(v["version"], v["active"]) for v in listed] == [(2, False), (1, True)]


def test_cli_publish_exit_codes_and_nothing_written_when_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    bundled = tmp_path / "bundled.yaml"
    bundled.write_text(BUNDLED)
    assert run_cli("publish", str(bundled), "--database-url", url).returncode == 0
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("schema_version: 1\nproviders: []\n")
    done = run_cli("publish", str(invalid), "--database-url", url, "--json")
    assert done.returncode == 2 and json.loads(done.stdout)["code"] == "INVALID_MANIFEST"
    assert run_cli("publish", str(tmp_path / "missing.yaml"), "--database-url", url).returncode == 2
    assert run_cli("activate", "7", "--database-url", url).returncode == 2
    k3 = tmp_path / "k3.yaml"
    k3.write_text(variant(add_platform_model(NEW_MODEL)))
    dry_run = _cli_json("publish", str(k3), "--dry-run", "--database-url", url)
    assert dry_run["dry_run"] is True and dry_run["version"] is None
    versions = run_cli("versions", "--database-url", url)
    assert versions.returncode == 0 and len(versions.stdout.strip().splitlines()) == 2  # header + version 1
    assert "*       1" in versions.stdout


def test_fifty_rounds_of_two_sighups_leave_the_server_answering(shared_url: str, tmp_path: Path) -> None:
    manifest = tmp_path / "providers.yaml"
    variants = [BUNDLED, variant(add_platform_model(NEW_MODEL))]
    manifest.write_text(variants[0])
    port = free_port()
    args = ("--port", str(port), "--database-url", shared_url, "--manifest", str(manifest))
    with serving(*args, cwd=tmp_path, port=port) as process, httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        for round_ in range(50):
            manifest.write_text(variants[(round_ + 1) % 2])
            process.send_signal(signal.SIGHUP)
            time.sleep(0.003)
            process.send_signal(signal.SIGHUP)
            assert http.get("/healthz", timeout=10).status_code == 200, f"round {round_}"
        assert process.poll() is None
        # The last file wins: once the coalesced reloads are done, it is the active version, served.
        last = Registry.from_yaml(variants[0]).fingerprint
        _converge([port], last)
        active = [v for v in http.get("/registry/versions", params={"limit": 200}).json()["items"] if v["active"]]
        assert [v["fingerprint"] for v in active] == [last]
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log


def test_a_reload_under_a_bounded_create_load_fails_no_request(shared_url: str, tmp_path: Path) -> None:
    manifest = tmp_path / "providers.yaml"
    variants = [variant(add_platform_model(NEW_MODEL)), BUNDLED.replace("# ", "#  ", 1), "not: [valid"]
    manifest.write_text(BUNDLED)
    port = free_port()
    args = ("--port", str(port), "--database-url", shared_url, "--manifest", str(manifest), "--workers", "2")
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(200):  # bounded
                if stop.is_set():
                    return
                statuses.append(http.post("/workspaces", json={"name": "busy", **HERMES_OK}).status_code)

    with serving(*args, cwd=tmp_path, port=port) as process:
        workers = [threading.Thread(target=load) for _ in range(3)]
        for worker in workers:
            worker.start()
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                for round_ in range(9):
                    manifest.write_text(variants[round_ % 3])
                    if round_ % 2:
                        process.send_signal(signal.SIGHUP)
                    else:
                        assert http.post("/registry/reload").status_code in (200, 422)
                    time.sleep(0.1)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        assert process.poll() is None
    assert len(statuses) >= 30 and set(statuses) == {201}, sorted(set(statuses))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_exits_zero_without_a_traceback(tmp_path: Path, workers: str) -> None:
    port = free_port()
    args = ("--port", str(port), "--workers", workers, "--database-url", f"sqlite:///{tmp_path / 'c.db'}")
    with serving(*args, cwd=tmp_path, port=port) as process:
        pass  # serving() stops it with SIGINT, as Ctrl-C does
    log = (tmp_path / "serve.log").read_text()
    assert process.returncode == 0, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]"])
def test_every_connection_the_listener_accepts_has_tcp_nodelay(host: str) -> None:
    try:
        listener = listening_socket(host, 0)
    except OSError as error:
        pytest.skip(f"{host} is not available here: {error}")
    with listener:
        assert listener.proto == socket.IPPROTO_TCP
        address = listener.getsockname()
        with socket.create_connection(address[:2], timeout=5) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # a plain socket has it off


def test_a_watcher_names_what_it_follows_in_its_thread_and_its_log_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The call tokens' view has a watcher of its own: a thread dump and the log tell it from the manifest's."""
    failed = threading.Event()

    def fail(_reload: bool) -> None:
        failed.set()
        raise RuntimeError("the database is away")

    watcher = ManifestWatcher(f"sqlite:///{tmp_path / 'watched.db'}", 60, fail, name="call-token")
    with caplog.at_level(logging.ERROR, logger="routegate.service"):
        watcher.start()
        try:
            watcher.wake()
            assert failed.wait(10)
            threads = [thread.name for thread in threading.enumerate()]
            deadline = time.monotonic() + 10
            while not caplog.records and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            watcher.stop()
    assert "routegate-call-token-watcher" in threads
    assert [record.getMessage() for record in caplog.records] == [
        "call-token watcher: a round failed; what it serves is kept (retrying)"
    ]
