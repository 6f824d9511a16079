"""``routegate catalog lifecycle --from litellm``: catalog dates become a patch to review, with their sources."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from datetime import date, timedelta
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from routegate import Registry
from routegate.catalog import UnpatchableManifest, patch, proposals
from routegate.cli import main
from routegate.codes import Code
from routegate.lifecycle import UNDATED
from routegate.manifest import bundled_manifest_path, parse_manifest

# A few keys in the format of LiteLLM's model_prices_and_context_window_backup.json.
LITELLM_FORMAT: dict[str, Any] = {
    "sample_spec": {"litellm_provider": "one of https://docs.litellm.ai/docs/providers", "deprecation_date": "date"},
    "claude-sonnet-4-5": {"litellm_provider": "anthropic", "mode": "chat", "deprecation_date": "2026-09-29"},
    "moonshot/kimi-k2.5": {"litellm_provider": "moonshot", "mode": "chat", "deprecation_date": "2026-08-01"},
    "gpt-5.2": {"litellm_provider": "openai", "mode": "chat"},
    "MiniMax-M2": {"litellm_provider": "minimax", "deprecation_date": "soon"},
}


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "model_prices_and_context_window_backup.json"
    path.write_text(json.dumps(LITELLM_FORMAT), encoding="utf-8")
    return path


def test_menu_ids_are_matched_by_the_vendors_own_id() -> None:
    found = proposals(Registry.load(), LITELLM_FORMAT, "fixture")
    assert [(f.model, f.retires_on, f.key) for f in found] == [
        ("claude-sonnet-4-5", date(2026, 9, 29), "claude-sonnet-4-5"),
        ("anthropic:claude-sonnet-4-5", date(2026, 9, 29), "claude-sonnet-4-5"),
        ("moonshot:kimi-k2.5", date(2026, 8, 1), "moonshot/kimi-k2.5"),
        ("moonshot/kimi-k2.5", date(2026, 8, 1), "moonshot/kimi-k2.5"),
    ]


def test_the_patch_names_each_source_and_yields_a_manifest_that_loads(
    catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalog", "lifecycle", "--from", "litellm", "--file", str(catalog), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    diff = answer["patch"]
    assert diff.startswith("--- a/providers.yaml\n+++ b/providers.yaml\n")
    assert f'# {catalog}: key "claude-sonnet-4-5", deprecation_date 2026-09-29' in diff
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    patched = bundled_manifest_path().read_text(encoding="utf-8") + "\n".join(added) + "\n"
    registry = Registry(parse_manifest(patched))
    assert registry.check("hermes", "moonshot/kimi-k2.5", on=date(2026, 8, 1)).code is not None
    assert registry.check("hermes", "moonshot/kimi-k2.5", on=date(2026, 7, 31)).allowed


def test_ids_already_dated_are_not_proposed_again() -> None:
    text = bundled_manifest_path().read_text(encoding="utf-8")
    dated = text + "lifecycle:\n  - model: claude-sonnet-4-5\n    retires_on: 2026-10-01\n"
    found = proposals(Registry(parse_manifest(dated)), LITELLM_FORMAT, "fixture")
    assert "claude-sonnet-4-5" not in [f.model for f in found]
    assert "\n+  - model: " in patch(dated, "providers.yaml", found)  # appended to the existing list


def test_a_lifecycle_list_that_is_not_last_cannot_be_appended_to() -> None:
    text = "schema_version: 1\nlifecycle: []\nproviders: []\n"
    found = proposals(Registry.load(), LITELLM_FORMAT, "fixture")
    with pytest.raises(UnpatchableManifest, match="move the lifecycle list to the end"):
        patch(text, "providers.yaml", found)


def test_without_litellm_installed_the_command_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import routegate.catalog

    monkeypatch.setattr(routegate.catalog, "find_spec", lambda name: None)
    assert main(["catalog", "lifecycle", "--from", "litellm"]) == 2
    assert "litellm is not installed" in capsys.readouterr().err


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("the catalog command opened a network connection")


def test_the_installed_litellm_catalog_becomes_a_patch_that_diff_proves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if find_spec("litellm") is None:
        pytest.skip("litellm is not installed (it is an optional dependency)")
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    assert main(["catalog", "lifecycle", "--from", "litellm", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    found = answer["proposals"]
    assert found, "the pinned litellm catalog dates some ids of the bundled menus"
    assert answer["source"] == f"litellm {version('litellm')} model_prices_and_context_window_backup.json"
    for item in found:
        assert item["source"] == answer["source"]
        comment = f'# {answer["source"]}: key "{item["key"]}", deprecation_date {item["retires_on"]}'
        assert f'+  {comment}; review it, name a successor\n+  - model: "{item["model"]}"\n' in answer["patch"]

    old, new = tmp_path / "old" / "providers.yaml", tmp_path / "new" / "providers.yaml"
    for path in (old, new):
        path.parent.mkdir()
        shutil.copyfile(bundled_manifest_path(), path)
    applied = subprocess.run(
        ["patch", "-p1", "--forward", "-d", str(new.parent)], input=answer["patch"], text=True, capture_output=True
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr

    assert main(["diff", str(old), str(new), "--json"]) == 0
    proven = json.loads(capsys.readouterr().out)
    assert proven["changes"] == []  # dates change no route, only the calendar
    dated = {(c["new"]["model"], c["new"]["retires_on"]) for c in proven["lifecycle"] if c["kind"] == "retired"}
    assert dated == {(item["model"], item["retires_on"]) for item in found}
    registry = Registry.load(new)
    for item in found:
        day = date.fromisoformat(item["retires_on"])
        runtime = next(rt for rt in registry.runtimes if registry.check(rt, item["model"], on=UNDATED).allowed)
        assert registry.check(runtime, item["model"], on=day - timedelta(days=1)).allowed
        assert registry.check(runtime, item["model"], on=day).code is Code.MODEL_RETIRED
