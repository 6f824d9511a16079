"""``routegate diff`` as a process: exit codes, the JSON contract, standard input, markdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from routegate import Budget
from routegate.manifest import bundled_manifest_path

from .conftest import Cli
from .test_prove import names_an_exceeded_budget

REFERENCE = bundled_manifest_path()
TEXT = REFERENCE.read_text(encoding="utf-8")
CHANGE_KEYS = {"runtime", "kind", "witness", "ids", "by_pattern", "old", "new"}
OUTCOME_KEYS = {"allowed", "provider", "billing_mode"}


def add_to_hermes_menu(text: str, model: str) -> str:
    """``model`` appended to hermes' platform arm (after its last id)."""
    head, hermes = text.split("\n  hermes:\n", 1)
    hermes = hermes.replace(
        "          - moonshot/kimi-k2.5\n", f"          - moonshot/kimi-k2.5\n          - {model}\n", 1
    )
    return f"{head}\n  hermes:\n{hermes}"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def with_stdin(cwd: Path, stdin: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "routegate.cli", "diff", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def platform_id_added(tmp_path: Path) -> Path:
    """hermes' platform arm lists gpt-4o: a platform-billed id that was refused."""
    edited = add_to_hermes_menu(TEXT, "gpt-4o")
    assert edited != TEXT
    return write(tmp_path, "new.yaml", edited)


def test_no_change_exits_0_with_the_json_contract(cli: Cli, tmp_path: Path) -> None:
    commented = write(tmp_path, "commented.yaml", "# only a comment\n" + TEXT)
    code, report = cli.json("diff", REFERENCE, commented)
    assert code == 0
    assert set(report) == {
        "old_fingerprint",
        "new_fingerprint",
        "proven",
        "unproven",
        "runtimes",
        "providers",
        "changes",
        "templates",
        "lifecycle",
    }
    assert report["proven"] is True and report["unproven"] == [] and report["changes"] == []
    assert report["lifecycle"] == []
    assert report["runtimes"] == {"added": [], "removed": []}
    assert report["providers"] == {"added": [], "removed": [], "changed": []}
    assert report["old_fingerprint"] == report["new_fingerprint"]


def test_a_platform_billed_id_added_exits_1_as_to_platform(cli: Cli, platform_id_added: Path) -> None:
    code, report = cli.json("diff", REFERENCE, platform_id_added)
    assert code == 1
    (change,) = report["changes"]
    assert set(change) == CHANGE_KEYS and set(change["old"]) == set(change["new"]) == OUTCOME_KEYS
    assert change == {
        "runtime": "hermes",
        "kind": "to_platform",
        "witness": "gpt-4o",
        "ids": ["gpt-4o"],
        "by_pattern": False,
        "old": {"allowed": False, "provider": None, "billing_mode": None},
        "new": {"allowed": True, "provider": "platform", "billing_mode": "platform_managed"},
    }
    # Not a kind to fail on: exit 0, same answer.
    assert cli.json("diff", REFERENCE, platform_id_added, "--fail-on", "lost")[0] == 0
    assert cli.json("diff", REFERENCE, platform_id_added, "--fail-on", "")[0] == 0
    # The reverse edit moves billing off the platform: reported, and fails only when asked.
    code, report = cli.json("diff", platform_id_added, REFERENCE)
    assert code == 1 and [c["kind"] for c in report["changes"]] == ["lost"]
    assert cli.json("diff", platform_id_added, REFERENCE, "--fail-on", "to_platform")[0] == 0


def test_old_from_standard_input_as_in_ci(tmp_path: Path, platform_id_added: Path) -> None:
    done = with_stdin(tmp_path, TEXT, "-", platform_id_added, "--json")
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["changes"][0]["kind"] == "to_platform"
    done = with_stdin(tmp_path, TEXT, REFERENCE, "-")
    assert done.returncode == 0 and "0 change class(es), proven over every id" in done.stdout


def test_text_reads_like_a_review_risky_kinds_first(cli: Cli, tmp_path: Path) -> None:
    edited = add_to_hermes_menu(TEXT.replace('"^openrouter[:/]"', '"^openrouter[:/-]"'), "gpt-4o")
    done = cli("diff", REFERENCE, write(tmp_path, "new.yaml", edited))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    hermes = lines.index("runtime hermes")
    assert lines[hermes + 1].split()[0] == "to_platform" and "'gpt-4o'" in lines[hermes + 1]
    assert lines[hermes + 2].split()[0] == "gained" and "'openrouter-'" in lines[hermes + 2]
    assert "providers ~ openrouter: model_prefix_match" in done.stdout
    assert lines[-1].startswith("failed: 3 change class(es)")


def test_markdown_is_a_table_for_a_pull_request(cli: Cli, platform_id_added: Path) -> None:
    done = cli("diff", REFERENCE, platform_id_added, "--format", "markdown")
    assert done.returncode == 1
    rows = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert rows[0] == "| runtime | kind | witness | before | after | menu ids |"
    assert rows[2] == "| hermes | **to_platform** | ` gpt-4o ` | refused | platform (platform_managed) | ` gpt-4o ` |"


def test_templates_whose_offered_models_change_are_listed(cli: Cli, tmp_path: Path) -> None:
    narrowed = write(tmp_path, "new.yaml", TEXT.replace('"^openrouter[:/]"', '"^openrouter/"'))
    templates = REFERENCE.parent / "templates"
    code, report = cli.json("diff", REFERENCE, narrowed, "--templates", templates)
    assert code == 1
    assert report["templates"] and {t["template"] for t in report["templates"]} == {"openclaw"}
    assert all(t["id"].startswith("openrouter:") and t["kind"] == "lost" for t in report["templates"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-", "-"], "standard input"),
        (["{ref}", "{ref}", "--fail-on", "to_platform,sideways"], "--fail-on"),
        (["{ref}", "{ref}", "--max-states", "0"], "states"),
        (["{ref}", "{ref}", "--time-budget", "-1"], "seconds"),
        (["{ref}", "missing.yaml"], "missing.yaml"),
        (["{ref}", "{ref}", "--templates", "nowhere"], "nowhere"),
    ],
)
def test_usage_errors_exit_2(cli: Cli, args: list[str], expected: str) -> None:
    done = cli("diff", *(a.format(ref=REFERENCE) for a in args))
    assert done.returncode == 2 and expected in done.stderr, done.stderr


def test_an_invalid_manifest_exits_2_listing_its_problems(cli: Cli, tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.yaml", TEXT.replace('"^openrouter[:/]"', '"^openrouter("'))
    code, report = cli.json("diff", REFERENCE, broken)
    assert code == 2 and report["error"] == "invalid_manifest"
    problems: list[dict[str, Any]] = report["problems"]
    assert any("model_prefix_match" in p["where"] for p in problems)


def test_unproven_is_reported_and_fails_only_under_strict(cli: Cli, tmp_path: Path) -> None:
    beyond = write(tmp_path, "new.yaml", TEXT.replace('"^openrouter[:/]"', '"^openrouter\\\\b"'))
    code, report = cli.json("diff", REFERENCE, beyond, "--fail-on", "")
    assert code == 0 and report["proven"] is False
    assert {u["runtime"] for u in report["unproven"]} == {"hermes", "openclaw"}
    assert cli.json("diff", REFERENCE, beyond, "--fail-on", "", "--strict")[0] == 1


def test_an_exploding_pattern_meets_the_budget_not_a_hang(cli: Cli, tmp_path: Path) -> None:
    explosive = write(tmp_path, "new.yaml", TEXT.replace('"^openrouter[:/]"', '"^openrouter[:/](a|b)*a(a|b){14}"'))
    code, report = cli.json("diff", REFERENCE, explosive, "--max-states", "3000", "--fail-on", "")
    assert code == 0 and report["proven"] is False and report["unproven"]
    budget = Budget(3000, Budget().seconds)  # whichever limit the machine's load makes run out first
    assert all(names_an_exceeded_budget(u["reason"], budget) for u in report["unproven"]), report["unproven"]
