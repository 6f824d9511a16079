"""``routegate lifecycle --database-url``: the stored workspaces each dated change reaches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from routegate.cli import main
from routegate.manifest import bundled_manifest_path
from routegate.service.db import Database, Workspace
from tests.manifests import DATES, NEW, OLD

from .conftest import database_url


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "db"
    folder.mkdir()
    yield from database_url(request.param, folder)


def store(url: str, *rows: tuple[str, str, str]) -> None:
    database = Database(url)
    try:
        database.upgrade()
        with database.write() as session:
            for name, runtime, model in rows:
                session.add(
                    Workspace(
                        id=name,
                        name=name,
                        runtime=runtime,
                        model=model,
                        provider="platform",
                        billing_mode="platform_managed",
                        manifest_fingerprint="0" * 16,
                    )
                )
    finally:
        database.dispose()


def test_retirement_strands_the_workspaces_that_run_it(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "providers.yaml"
    manifest.write_text(bundled_manifest_path().read_text(encoding="utf-8") + DATES, encoding="utf-8")
    store(url, ("on-old", "hermes", OLD), ("on-new", "hermes", NEW), ("elsewhere", "claude-code", OLD))
    argv = ["lifecycle", "--manifest", str(manifest), "--database-url", url, "--json", "--on", "2026-05-20"]
    assert main([*argv, "--within", "60"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert [(c["stage"], c["workspaces"], c["strands"]) for c in answer["changes"]] == [
        ("deprecated", ["on-old"], False),
        ("retired", ["on-old"], True),
    ]
    assert answer["strands"] is True
    assert main([*argv, "--within", "20"]) == 0  # only the deprecation: the workspace keeps working


def test_the_service_lists_what_the_calendar_will_do(url: str, tmp_path: Path) -> None:
    from routegate.service import Settings

    from .conftest import LiveServer

    manifest = tmp_path / "providers.yaml"
    manifest.write_text(bundled_manifest_path().read_text(encoding="utf-8") + DATES, encoding="utf-8")
    live = LiveServer(Settings(database_url=url, manifest=manifest)).start()
    try:
        with live.client() as http:
            created = http.post("/workspaces", json={"name": "kept", "runtime": "hermes", "model": NEW})
            assert created.status_code == 201, created.text
            answer = http.get("/registry/lifecycle", params={"on": "2026-05-20", "within": 60}).json()
            assert (answer["from"], answer["to"]) == ("2026-05-20", "2026-07-19")
            assert [(c["stage"], c["on"], c["ids"], c["successor"]) for c in answer["changes"]] == [
                ("deprecated", "2026-06-01", [OLD], NEW),
                ("retired", "2026-07-01", [OLD], NEW),
            ]
            assert http.get("/registry/lifecycle", params={"on": "2026-07-02", "within": 30}).json()["changes"] == []
            in_force = http.get("/registry/lifecycle", params={"on": "2026-07-02"}).json()
            assert (in_force["on"], in_force["from"], in_force["to"]) == ("2026-07-02", None, None)
            assert [(c["stage"], c["on"], c["workspace_count"]) for c in in_force["changes"]] == [
                ("retired", "2026-07-01", 0)
            ]
            page = http.get("/ui/registry/lifecycle", params={"on": "2026-05-20", "within": 60}).text
            assert page.count('data-stage="') == 2 and f"<code>{NEW}</code>" in page
            refused = http.get("/registry/lifecycle", params={"on": "someday"})
            assert (refused.status_code, refused.json()["code"]) == (400, "INVALID_FIELDS")
    finally:
        live.stop()
