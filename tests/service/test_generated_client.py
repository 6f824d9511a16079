"""A client generated from the served /openapi.json by openapi-python-client works against a real
``routegate serve``: every answer it gets is one the document declared, parsed into its model.

The client is built with ``raise_on_unexpected_status=True``, so an undeclared status (a dry-run
publish answering 200 where only 201 was declared) fails the test as it fails a user's program.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from routegate.lifecycle import today

from .conftest import free_port
from .test_cli import serving
from .test_versions import BUNDLED, HERMES_BYOK, NEW_MODEL, add_platform_model, variant

PACKAGE = "routegate_client"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("served")
    port = free_port()
    with serving("--port", str(port), "--database-url", f"sqlite:///{folder / 'routegate.db'}", cwd=folder, port=port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def generated(served: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """openapi-python-client run as a process on the served document; its package, imported."""
    folder = tmp_path_factory.mktemp("client")
    spec = folder / "openapi.json"
    spec.write_text(json.dumps(httpx.get(f"{served}/openapi.json", timeout=30).json()))
    tools = str(Path(sys.executable).parent)  # the generator, and the ruff it formats with
    run = subprocess.run(
        [
            f"{tools}/openapi-python-client",
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr  # nothing of the API was skipped
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_generated_client_drives_the_api(served: str, generated: ModuleType) -> None:
    models = _module("models")
    create = _module("api.workspaces.create_workspace")
    listing = _module("api.workspaces.list_workspaces")
    change = _module("api.workspaces.change_model")
    publish = _module("api.registry.publish_version")
    activate = _module("api.registry.activate_version")
    versions = _module("api.registry.list_versions")
    client = generated.Client(base_url=served, raise_on_unexpected_status=True, timeout=httpx.Timeout(60))

    # create, and the same create replayed by its Idempotency-Key
    key = uuid.uuid4().hex
    body = models.CreateWorkspace(name="generated", runtime=HERMES_BYOK["runtime"], model=HERMES_BYOK["model"])
    created = create.sync_detailed(client=client, body=body, idempotency_key=key)
    assert created.status_code == 201 and isinstance(created.parsed, models.WorkspaceOut)
    replayed = create.sync_detailed(client=client, body=body, idempotency_key=key)
    assert replayed.status_code == 201 and replayed.headers["idempotent-replayed"] == "true"
    assert replayed.parsed.id == created.parsed.id

    # list, and a model change
    page = listing.sync(client=client, limit=200)
    assert isinstance(page, models.WorkspacePage) and created.parsed.id in {w.id for w in page.items}
    changed = change.sync(created.parsed.id, client=client, body=models.ChangeModel(model="kimi-coding/kimi-k2"))
    assert isinstance(changed, models.WorkspaceOut) and changed.model == "kimi-coding/kimi-k2"

    # a refusal by the gates, parsed as the error model with its code
    refused = create.sync_detailed(
        client=client, body=models.CreateWorkspace(name="refused", runtime="hermes", model="no/such-model")
    )
    assert refused.status_code == 422 and isinstance(refused.parsed, models.ErrorOut)
    assert refused.parsed.code == "UNREGISTERED_MODEL_FOR_RUNTIME" and refused.parsed.error

    # a dry-run publish (200), the publish (201), the same bytes again (200), and a rollback
    manifest = variant(add_platform_model(NEW_MODEL))
    dry = publish.sync_detailed(client=client, body=models.PublishManifest(manifest=manifest, dry_run=True))
    assert dry.status_code == 200 and isinstance(dry.parsed, models.PublishOut)
    assert dry.parsed.dry_run and not dry.parsed.impact.blocking
    published = publish.sync_detailed(client=client, body=models.PublishManifest(manifest=manifest, note="client"))
    assert published.status_code == 201 and published.parsed.changed and published.parsed.version == 2
    again = publish.sync_detailed(client=client, body=models.PublishManifest(manifest=manifest))
    assert again.status_code == 200 and not again.parsed.changed
    rolled_back = activate.sync_detailed(1, client=client)
    assert rolled_back.status_code == 200 and isinstance(rolled_back.parsed, models.PublishOut)
    assert rolled_back.parsed.version == 1
    history = versions.sync(client=client)
    assert isinstance(history, models.VersionPage)
    assert [(v.version, v.active) for v in history.items] == [(2, False), (1, True)]
    in_flight = _module("api.registry.get_publish_progress").sync(client=client)
    assert isinstance(in_flight, models.ProgressOut) and in_flight.items == []  # every publish above has ended

    # the bundled manifest is version 1's: publishing it changes nothing
    same = publish.sync_detailed(client=client, body=models.PublishManifest(manifest=BUNDLED))
    assert same.status_code == 200 and same.parsed.version == 1


def test_the_publish_gates_retirement_warning_and_the_lifecycle_are_typed(served: str, generated: ModuleType) -> None:
    models = _module("models")
    create = _module("api.workspaces.create_workspace")
    publish = _module("api.registry.publish_version")
    lifecycle = _module("api.registry.get_lifecycle")
    client = generated.Client(base_url=served, raise_on_unexpected_status=True, timeout=httpx.Timeout(60))
    body = models.CreateWorkspace(name="retiring soon", runtime=HERMES_BYOK["runtime"], model=HERMES_BYOK["model"])
    kept = create.sync(client=client, body=body)
    soon = (today() + timedelta(days=10)).isoformat()
    dated = f"{BUNDLED}\nlifecycle:\n  - model: {HERMES_BYOK['model']}\n    retires_on: {soon}\n"

    dry = publish.sync_detailed(client=client, body=models.PublishManifest(manifest=dated, dry_run=True))
    assert dry.status_code == 200 and not dry.parsed.impact.blocking  # a warning, not a refusal
    warned = dry.parsed.impact.workspaces
    assert warned.counts.retiring >= 1
    retiring = {change.id: change for change in warned.retiring}
    assert isinstance(retiring[kept.id], models.WorkspaceChangeOut)
    assert (retiring[kept.id].retires_on, retiring[kept.id].code) == (soon, "MODEL_RETIRED")

    window = lifecycle.sync(client=client, within=30)
    assert isinstance(window, models.LifecycleOut) and window.changes == []  # the dry run published nothing
    in_force = lifecycle.sync(client=client, on=date(2026, 1, 1))
    assert isinstance(in_force, models.LifecycleOut) and in_force.on == "2026-01-01"


def test_every_operation_is_generated_under_its_short_name(generated: ModuleType) -> None:
    expected = {
        "workspaces": {
            "create_workspace",
            "list_workspaces",
            "get_workspace",
            "delete_workspace",
            "change_model",
            "get_runtime_env",
        },
        "decisions": {"list_decisions"},
        "health": {"get_health"},
        "registry": {
            "get_registry",
            "get_runtime",
            "check_model",
            "reload_manifest",
            "list_templates",
            "list_versions",
            "publish_version",
            "activate_version",
            "get_publish_progress",
            "get_lifecycle",
        },
        "calls": {
            "issue_call_token",
            "list_call_tokens",
            "revoke_call_token",
            "authorize_call",
            "report_call_usage",
            "report_calls_usage",
            "list_call_receipts",
            "summarize_calls",
        },
    }
    assert generated.__file__ is not None
    root = Path(generated.__file__).parent / "api"
    found = {tag.name: {p.stem for p in tag.glob("*.py")} - {"__init__"} for tag in root.iterdir() if tag.is_dir()}
    assert found == expected
    model_names = {p.stem for p in (root.parent / "models").glob("*.py")}
    assert all(len(name) <= 30 for name in model_names), sorted(model_names, key=len)[-3:]
