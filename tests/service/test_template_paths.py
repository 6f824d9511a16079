"""Template and manifest paths stay the server's own, over real HTTP on SQLite and PostgreSQL.

Template scans never leave the templates root, template names are stored
normalised (and a nested one refused), and no answer or logged decision shows a
server path, not even a refused reload's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from routegate.service import Settings

from .conftest import LiveServer
from .writes import HERMES, everything


def decisions(http: httpx.Client) -> list[dict[str, Any]]:
    return list(http.get("/decisions", params={"limit": 200}).json()["items"])


@pytest.fixture
def hostile_templates(tmp_path: Path, templates_copy: Path) -> Path:
    """The bundled templates plus every way a folder or file can lead out of the root or fail to read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = (
        "runtime: hermes\nruntime_config:\n  model: secret/outside-model\n  models:\n    - id: secret/outside-model\n"
    )
    (outside / "config.yaml").write_text(secret)
    (templates_copy / "folder-link").symlink_to(outside)  # the folder leads out
    (templates_copy / "file-link").mkdir()
    (templates_copy / "file-link" / "config.yaml").symlink_to(outside / "config.yaml")  # only the file does
    (templates_copy / "hermes-alias").symlink_to(templates_copy / "hermes")  # inside the root: fine
    (templates_copy / "broken").mkdir()
    (templates_copy / "broken" / "config.yaml").write_text("runtime: [unclosed\n")
    (templates_copy / "not-a-mapping").mkdir()
    (templates_copy / "not-a-mapping" / "config.yaml").write_text("- a list\n")
    (templates_copy / "unreadable").mkdir()
    (templates_copy / "unreadable" / "config.yaml").write_bytes(b"runtime: \xff\xfe\n")
    return templates_copy


def test_template_scans_never_leave_the_root_nor_show_server_paths(
    fresh_url: str, tmp_path: Path, hostile_templates: Path
) -> None:
    server = LiveServer(Settings(database_url=fresh_url, templates=hostile_templates)).start()
    try:
        with server.client() as http:
            before = everything(server)
            listed = http.get("/templates")
            assert listed.status_code == 200
            problems = {p["name"]: p["error"] for p in listed.json()["problems"]}
            assert set(problems) == {"folder-link", "file-link", "broken", "not-a-mapping", "unreadable"}
            for name in ("folder-link", "file-link"):
                assert problems[name] == f"template '{name}' resolves outside the templates root"
            for name in ("broken", "not-a-mapping", "unreadable"):  # the file, relative to the root
                assert problems[name].startswith(f"cannot read {name}/config.yaml: ") or problems[name].startswith(
                    f"{name}/config.yaml: "
                ), problems[name]
            shown = {t["name"] for t in listed.json()["templates"]}
            assert shown == {"claude-code", "codex", "hermes", "openclaw", "hermes-alias"}
            page = http.get("/ui/drift")
            assert page.status_code == 200
            for body in (listed.text, page.text):
                assert "secret/outside-model" not in body, "a template outside the root was read"
                assert str(tmp_path) not in body and str(hostile_templates) not in body

            # A create reads templates by the same rule, and its refusals (and their log) name no path either.
            for name, status, code in (
                ("folder-link", 400, "INVALID_TEMPLATE"),
                ("file-link", 400, "INVALID_TEMPLATE"),
                ("broken", 422, "MODEL_REQUIRED"),
                ("unreadable", 422, "MODEL_REQUIRED"),
            ):
                refused = http.post("/workspaces", json={"name": "t", "runtime": "hermes", "template": name})
                assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
                assert str(tmp_path) not in refused.text
                if code == "MODEL_REQUIRED":  # the template could not fill the model in: the message says why
                    assert f"{name}/config.yaml" in refused.json()["error"]
                else:
                    assert refused.json()["template"] == name
            log = http.get("/decisions", params={"limit": 200})
            assert str(tmp_path) not in log.text and "secret/outside-model" not in log.text
            assert everything(server) == (before[0], before[1] + 4, before[2])  # four refusals logged, nothing else
    finally:
        server.stop()


def test_a_refused_reload_names_the_manifest_file_not_its_folder(tmp_path: Path, manifest_copy: Path) -> None:
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", manifest=manifest_copy)).start()
    try:
        with server.client() as http:
            for breakage in ("not: [valid", "schema_version: 1\n", None):  # bad YAML, bad content, file gone
                if breakage is None:
                    manifest_copy.unlink()
                else:
                    manifest_copy.write_text(breakage)
                refused = http.post("/registry/reload")
                assert refused.status_code == 422 and refused.json()["code"] == "INVALID_MANIFEST"
                assert refused.json()["error"].startswith("providers.yaml: ")
                assert refused.json()["problems"]
                assert str(tmp_path) not in refused.text, refused.text
    finally:
        server.stop()


def test_template_names_are_normalised_before_they_are_stored(live: LiveServer, http: httpx.Client) -> None:
    for spelling in ("./hermes", "hermes/", "./hermes/", "hermes//", ".//hermes"):
        created = http.post("/workspaces", json={"name": "tpl", "template": spelling})
        assert created.status_code == 201, (spelling, created.text)
        assert created.json()["template"] == "hermes"
    refused = http.post("/workspaces", json={"name": "tpl", "template": "./openclaw/"})
    assert refused.status_code == 422 and refused.json()["code"] == "UNREGISTERED_MODEL_FOR_RUNTIME"
    assert {row["template"] for row in decisions(http)} == {"hermes", "openclaw"}
    with live.state.database.engine.connect() as connection:
        stored = set(connection.scalars(text("SELECT DISTINCT template FROM workspaces")))
    assert stored == {"hermes"}
    before = everything(live)
    for nested in ("hermes/extra", "a/b", "."):
        unsafe = http.post("/workspaces", json={"name": "tpl", "template": nested, **HERMES})
        assert unsafe.status_code == 400 and unsafe.json()["code"] == "INVALID_TEMPLATE", nested
    assert everything(live)[0] == before[0]
