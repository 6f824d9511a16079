"""``routegate serve`` and ``routegate db upgrade`` as a user runs them: real processes, real signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .conftest import PATIENCE_S, REPO, free_port, run_cli, skip_or_fail

HERMES_OK = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}


@contextmanager
def serving(
    *args: str, cwd: Path, port: int, env: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> Iterator[subprocess.Popen[str]]:
    """``routegate serve ARGS`` until it answers /healthz on http://HOST:PORT; SIGINT when done."""
    log = (cwd / "serve.log").open("w")
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_") or k == "ROUTEGATE_TEST_POSTGRES_URL"
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "routegate.cli", "serve", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            assert process.poll() is None, (cwd / "serve.log").read_text()
            try:
                if httpx.get(f"http://{host}:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_serve_with_no_arguments_is_the_readme_command(tmp_path: Path) -> None:
    if not _port_free(8080):
        skip_or_fail("port 8080 is in use here; `routegate serve` with no arguments needs it")
    with serving(cwd=tmp_path, port=8080), httpx.Client(base_url="http://127.0.0.1:8080", timeout=10) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        assert "hermes" in http.get("/registry").json()["runtimes"]
        assert {t["name"] for t in http.get("/templates").json()["templates"]} >= {"hermes", "codex"}
        assert http.post("/workspaces", json={"name": "first", **HERMES_OK}).status_code == 201
    with sqlite3.connect(tmp_path / "routegate.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT name FROM workspaces").fetchall() == [("first",)]


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROUTEGATE_API_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "routegate.cli", "serve", "--host", "0.0.0.0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "ROUTEGATE_API_TOKEN" in done.stderr and "0.0.0.0" in done.stderr
    assert not (tmp_path / "routegate.db").exists()


def test_serve_refuses_an_invalid_manifest_or_database_url(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nproviders: []\n")
    done = run_cli("serve", "--manifest", str(bad), cwd=tmp_path)
    assert done.returncode == 2 and "manifest is invalid" in done.stderr
    done = run_cli("serve", "--database-url", "mysql://x/y", cwd=tmp_path)
    assert done.returncode == 2 and "unsupported database" in done.stderr


def test_env_configures_serve_and_sighup_reloads(tmp_path: Path, manifest_copy: Path) -> None:
    from .test_lifecycle import _with_extra_hermes_model

    port = free_port()
    db = tmp_path / "env.db"
    env = {"ROUTEGATE_DATABASE_URL": f"sqlite:///{db}", "ROUTEGATE_MANIFEST": str(manifest_copy)}
    with (
        serving("--port", str(port), cwd=tmp_path, port=port, env=env) as process,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
    ):
        before = http.get("/registry").json()["fingerprint"]
        manifest_copy.write_text(_with_extra_hermes_model(manifest_copy.read_text(), "moonshot/kimi-k3-preview"))
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + PATIENCE_S
        while (after := http.get("/registry").json()["fingerprint"]) == before:
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.05)
        manifest_copy.write_text("schema_version: 1\n")
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert process.poll() is None
        assert http.get("/registry").json()["fingerprint"] == after
    assert "reload refused" in (tmp_path / "serve.log").read_text()
    assert db.exists()


def _worker_pids(log: Path) -> list[str]:
    return re.findall(r"Started server process \[(\d+)\]", log.read_text())


def _every_worker_serves(port: int, fingerprint: str) -> None:
    """Fresh connections (spread over the workers) until 20 answers in a row serve ``fingerprint``."""
    deadline = time.monotonic() + PATIENCE_S
    in_a_row = 0
    while in_a_row < 20:
        assert time.monotonic() < deadline, f"the workers did not all converge on {fingerprint}"
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"Connection": "close"}, timeout=10).json()
        in_a_row = in_a_row + 1 if health["manifest_fingerprint"] == fingerprint else 0


def test_several_workers_share_one_database_and_reload_together(tmp_path: Path, manifest_copy: Path) -> None:
    from .test_lifecycle import _with_extra_hermes_model

    port = free_port()
    log = tmp_path / "serve.log"
    database = f"sqlite:///{tmp_path / 'w.db'}"
    args = ["--port", str(port), "--workers", "2", "--database-url", database, "--manifest", str(manifest_copy)]
    with (
        serving(*args, cwd=tmp_path, port=port) as supervisor,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
    ):
        deadline = time.monotonic() + PATIENCE_S
        while len(started := _worker_pids(log)) < 2:
            assert time.monotonic() < deadline, f"two workers did not start:\n{log.read_text()}"
            time.sleep(0.1)
        once = {"Connection": "close"}  # a new connection each time, so both workers take creates
        names = [
            http.post("/workspaces", json={"name": "w", **HERMES_OK}, headers=once).json()["name"] for _ in range(6)
        ]
        before = http.get("/registry").json()["fingerprint"]

        manifest_copy.write_text(_with_extra_hermes_model(manifest_copy.read_text(), "moonshot/kimi-k3-preview"))
        reloaded = http.post("/registry/reload").json()
        assert reloaded["changed"] and reloaded["fingerprint"] != before
        _every_worker_serves(port, reloaded["fingerprint"])

        # SIGHUP to the supervisor publishes the file once; the workers follow the database.
        manifest_copy.write_text(_with_extra_hermes_model(manifest_copy.read_text(), "moonshot/kimi-k4-preview"))
        supervisor.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + PATIENCE_S
        while (versions := http.get("/registry/versions").json()["items"])[0]["version"] != reloaded["version"] + 1:
            assert time.monotonic() < deadline, f"SIGHUP published nothing:\n{log.read_text()}"
            time.sleep(0.05)
        _every_worker_serves(port, versions[0]["fingerprint"])
        assert [v["version"] for v in versions] == [3, 2, 1]
        assert sorted(_worker_pids(log)) == sorted(started), "a worker was restarted"
    assert names == ["w"] + [f"w ({n})" for n in range(2, 7)]
    assert "Started parent process" in log.read_text()


def test_db_upgrade(tmp_path: Path) -> None:
    target = tmp_path / "fresh.db"
    done = run_cli("db", "upgrade", "--database-url", f"sqlite:///{target}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(target) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"workspaces", "decisions", "alembic_version"} <= tables
    assert run_cli("db", "upgrade", "--database-url", f"sqlite:///{target}", cwd=tmp_path).returncode == 0
    bad = run_cli("db", "upgrade", "--database-url", "nonsense", cwd=tmp_path)
    assert bad.returncode == 2 and "database URL" in bad.stderr


def test_activating_a_version_that_is_not_there_points_at_the_versions_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert run_cli("db", "upgrade", "--database-url", url, cwd=tmp_path).returncode == 0
    done = run_cli("activate", "99", "--database-url", url, cwd=tmp_path)
    assert done.returncode == 2 and "no manifest version 99; 'routegate versions' lists them" in done.stderr
    assert "GET /" not in done.stderr and "Traceback" not in done.stderr


# --- the newcomer's path: addresses, make run, --help, the README ---------------------------------------------


def test_serve_on_ipv6_loopback_spelt_either_way(tmp_path: Path) -> None:
    for spelling in ("::1", "[::1]"):
        port = free_port()
        database = f"sqlite:///{tmp_path / f'v6-{port}.db'}"
        args = ["--host", spelling, "--port", str(port), "--database-url", database]
        with (
            serving(*args, cwd=tmp_path, port=port, host="[::1]") as process,
            httpx.Client(base_url=f"http://[::1]:{port}", timeout=10) as http,  # sends Host: [::1]:port
        ):
            own = {"Origin": f"http://[::1]:{port}"}
            assert http.post("/workspaces", json={"name": "v6", **HERMES_OK}, headers=own).status_code == 201
            rebound = http.get("/workspaces", headers={"Host": "attacker.example"})
            assert rebound.status_code == 400 and rebound.json()["code"] == "HOST_NOT_ALLOWED"
        assert process.returncode == 0, (spelling, (tmp_path / "serve.log").read_text())
        assert f"routegate on http://[::1]:{port}" in (tmp_path / "serve.log").read_text()


def test_serve_help_names_every_environment_variable() -> None:
    from routegate.service import settings

    read = {value for name, value in vars(settings).items() if name.startswith("ENV_")}
    done = run_cli("serve", "--help")
    assert done.returncode == 0
    assert read and all(variable in done.stdout for variable in read), sorted(read - set(done.stdout.split()))


def test_make_run_takes_port_and_host_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ROUTEGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'make.db'}", "HOST": "not-loopback"}
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(REPO), "run", f"PORT={port}", "HOST=127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C signals one
    )
    try:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "make run did not come up"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # routegate exits 0; make, which got the same Ctrl-C, then ends by that signal as shells expect,
    # without an error line of its own ("make: *** [run] Interrupt" or "Error 130").
    assert process.returncode in (0, -signal.SIGINT), output
    assert "make: ***" not in output and "Traceback" not in output, output
    assert "Application shutdown complete" in output
    assert (tmp_path / "make.db").exists()  # the environment still configures what make run does not set


def _readme_block(command: str) -> str:
    """The output the README shows under ``$ command`` in a console block."""
    readme = (REPO / "README.md").read_text()
    start = readme.index(f"$ {command}\n") + len(command) + 3
    return readme[start : readme.index("```", start)]


def test_readme_drift_output_is_what_drift_prints() -> None:
    command = "routegate drift src/routegate/data/templates --report-only"
    done = run_cli(*command.split()[1:], cwd=REPO)
    assert done.returncode == 0
    assert _readme_block(command) == done.stdout


def test_readme_shows_every_create_field_and_the_spec() -> None:
    from routegate.service.schemas import CreateWorkspace

    readme = (REPO / "README.md").read_text()
    for field in CreateWorkspace.model_fields:
        assert f"| `{field}` |" in readme, field
    assert "[docs/routing.md](docs/routing.md)" in readme
