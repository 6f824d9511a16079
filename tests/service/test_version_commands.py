"""``routegate publish``, ``activate`` and ``versions`` tell the truth about the gate and the database.

Real CLI processes on SQLite and PostgreSQL: a dry run exits as the real command would;
the commands that only read (``versions`` and the dry runs) never create, migrate or
leave a file beside a database, and say how to make one instead.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from routegate.service import Settings

from .conftest import LiveServer, database_url, run_cli
from .test_versions import BUNDLED, HERMES_BYOK, NEW_MODEL, add_platform_model, create, publish, variant

K3 = variant(add_platform_model(NEW_MODEL))
HARMLESS = variant(add_platform_model(NEW_MODEL), add_platform_model("x/y"))


def read_only_invocations(manifest: Path) -> list[list[str]]:
    """Every command line that only reads the database."""
    return [["versions"], ["publish", str(manifest), "--dry-run"], ["activate", "1", "--dry-run"]]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path / "db")


@pytest.fixture
def stranding(url: str, tmp_path: Path) -> dict[str, Path]:
    """Version 2 active (version 1 plus a platform model), one workspace on that model, and
    manifest files: the bundled one (publishing it strands the workspace) and a harmless edit."""
    (tmp_path / "db").mkdir(exist_ok=True)
    server = LiveServer(Settings(database_url=url)).start()
    try:
        with server.client() as http:
            assert publish(http, K3).status_code == 201
            create(http, "on k3", {"runtime": "hermes", "model": NEW_MODEL})
            create(http, "byok", HERMES_BYOK)
    finally:
        server.stop()
    files = {"strands": tmp_path / "bundled.yaml", "harmless": tmp_path / "harmless.yaml"}
    files["strands"].write_text(BUNDLED)
    files["harmless"].write_text(HARMLESS)
    return files


def _versions(url: str) -> list[tuple[int, bool]]:
    done = run_cli("versions", "--json", "--database-url", url)
    assert done.returncode == 0, done.stderr
    return [(item["version"], item["active"]) for item in json.loads(done.stdout)["items"]]


@pytest.mark.parametrize("command", [["publish", "{strands}"], ["activate", "1"]])
def test_a_dry_run_exits_as_the_real_command_would(
    url: str, stranding: dict[str, Path], command: list[str], tmp_path: Path
) -> None:
    args = [arg.format(strands=stranding["strands"]) for arg in command] + ["--database-url", url]
    before = _versions(url)

    dry = run_cli(*args, "--dry-run")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert "would be refused by the gate; nothing was changed" in dry.stdout and "would pass" not in dry.stdout
    assert "stranded" in dry.stdout and "'on k3'" in dry.stdout and "--force" in dry.stdout
    as_json = run_cli(*args, "--dry-run", "--json")
    assert as_json.returncode == 1
    payload = json.loads(as_json.stdout)
    assert payload["dry_run"] is True and payload["impact"]["blocking"] is True
    forced = run_cli(*args, "--dry-run", "--force")
    assert forced.returncode == 0 and "would pass the gate only because of --force" in forced.stdout

    real = run_cli(*args)
    assert real.returncode == dry.returncode and "strand 1" in real.stderr
    assert _versions(url) == before  # neither the dry runs nor the refusal changed anything


def test_a_dry_run_that_passes_exits_0_like_the_publish(url: str, stranding: dict[str, Path]) -> None:
    harmless = [str(stranding["harmless"]), "--database-url", url]
    dry = run_cli("publish", *harmless, "--dry-run")
    assert dry.returncode == 0 and "would pass the gate; nothing was changed" in dry.stdout
    assert json.loads(run_cli("publish", *harmless, "--dry-run", "--json").stdout)["impact"]["blocking"] is False
    assert run_cli("publish", *harmless).returncode == dry.returncode
    assert _versions(url) == [(3, True), (2, False), (1, False)]


# Each read-only command once, each with the database named another way.
@pytest.mark.parametrize("invocation, how", [(0, "flag"), (1, "environment"), (2, "default")])
def test_a_read_only_command_on_a_missing_sqlite_file_creates_nothing(
    tmp_path: Path, how: str, invocation: int
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    manifest = tmp_path / "bundled.yaml"
    manifest.write_text(BUNDLED)
    mistyped = work / "routegate.db" if how == "default" else work / "sub dir" / "rutegate.db"
    args = read_only_invocations(manifest)[invocation]
    flags = ["--database-url", f"sqlite:///{mistyped}"] if how == "flag" else []
    env = {"ROUTEGATE_DATABASE_URL": f"sqlite:///{mistyped}"} if how == "environment" else {}
    if how != "environment":
        env["ROUTEGATE_DATABASE_URL"] = ""

    done = run_cli(*args, *flags, env=env, cwd=work)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert f"no SQLite database at {mistyped}" in done.stderr and "routegate db upgrade" in done.stderr
    assert "Traceback" not in done.stderr
    as_json = run_cli(*args, *flags, "--json", env=env, cwd=work)
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["code"] == "DATABASE_MISSING"
    assert list(work.iterdir()) == []


def _empty_database(url: str) -> None:
    """A database with nothing in it: an empty SQLite file, or PostgreSQL's fresh database as it is."""
    if url.startswith("sqlite"):
        Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(make_url(url).database or "").close()


def _tables(url: str) -> list[str]:
    if url.startswith("sqlite"):
        with sqlite3.connect(make_url(url).database or "") as connection:
            return [name for (name,) in connection.execute("SELECT name FROM sqlite_master")]
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as connection:
        rows = connection.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return [str(name) for (name,) in rows]


@pytest.mark.parametrize("invocation", range(3))
def test_a_read_only_command_never_migrates_a_database(url: str, tmp_path: Path, invocation: int) -> None:
    _empty_database(url)
    folder = tmp_path / "db"
    files = sorted(folder.iterdir()) if folder.exists() else []
    manifest = tmp_path / "bundled.yaml"
    manifest.write_text(BUNDLED)

    done = run_cli(*read_only_invocations(manifest)[invocation], "--database-url", url)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert "has no routegate tables" in done.stderr and "routegate db upgrade" in done.stderr
    assert "Traceback" not in done.stderr
    assert _tables(url) == []
    assert (sorted(folder.iterdir()) if folder.exists() else []) == files  # no *-writers file either


def test_read_only_commands_on_a_ready_sqlite_database_leave_no_file(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    url = f"sqlite:///{folder / 'routegate.db'}"
    assert run_cli("db", "upgrade", "--database-url", url).returncode == 0
    manifest = tmp_path / "bundled.yaml"
    manifest.write_text(BUNDLED)
    files = sorted(folder.iterdir())
    for args in read_only_invocations(manifest)[:2]:
        done = run_cli(*args, "--database-url", url)
        assert done.returncode == 0, done.stderr
        assert sorted(folder.iterdir()) == files, args
