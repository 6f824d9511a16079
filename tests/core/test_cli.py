"""The CLI as a user runs it: a real process, exit codes and JSON."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from routegate.cli import build_parser
from routegate.templates import bundled_templates_path

from .crafted import BASE

ROUTEGATE = shutil.which("routegate", path=os.path.dirname(sys.executable)) or "routegate"


def run(*args: str, cache_dir: Path | None = None) -> tuple[int, Any, str]:
    env = dict(os.environ, NO_COLOR="1")
    if cache_dir is not None:
        env["ROUTEGATE_CACHE_DIR"] = str(cache_dir)
    proc = subprocess.run([ROUTEGATE, *args], capture_output=True, text=True, env=env, timeout=60)
    try:
        payload = json.loads(proc.stdout)
    except ValueError:
        payload = proc.stdout
    return proc.returncode, payload, proc.stderr


def test_check_allowed(tmp_path) -> None:
    code, out, _ = run("check", "--json", "claude-code", "GLM-4.6", cache_dir=tmp_path)
    assert code == 0
    assert out == {
        "runtime": "claude-code",
        "model": "GLM-4.6",
        "allowed": True,
        "path": "route",
        "code": None,
        "reason": out["reason"],
        "provider": "zai",
        "billing_mode": "byok",
        "required_env": ["GLM_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY"],
        "candidates": ["zai"],
        "suggestions": [],
    }


def test_check_rejected_exits_1() -> None:
    code, out, _ = run("check", "--json", "hermes", "gpt-4o")
    assert code == 1
    assert (out["allowed"], out["path"], out["code"]) == (False, None, "UNREGISTERED_MODEL_FOR_RUNTIME")
    assert out["suggestions"]


def test_check_text_output() -> None:
    code, out, _ = run("check", "hermes", "openrouter/anthropic/claude-3.5-sonnet")
    assert code == 0 and "allowed" in out and "openrouter" in out and "byok" in out


def test_derive_json_and_auth_env() -> None:
    code, out, _ = run("derive", "--json", "codex", "gpt-5.5", "--auth-env", "OPENAI_API_KEY")
    assert code == 0
    assert out == {
        "runtime": "codex",
        "model": "gpt-5.5",
        "provider": "openai-api",
        "billing_mode": "byok",
        "step": "exact_auth_env",
    }


@pytest.mark.parametrize(
    ("runtime", "model", "error"),
    [
        ("nope", "x", "RUNTIME_UNSUPPORTED"),
        ("hermes", " ", "MODEL_REQUIRED"),
        ("hermes", "gpt-4o", "UNREGISTERED_MODEL_FOR_RUNTIME"),
    ],
)
def test_derive_failures(runtime, model, error) -> None:
    code, out, _ = run("derive", "--json", runtime, model)
    assert code == 1
    assert out["error"] == error and out["message"] and out["candidates"] == []


def test_derive_ambiguous_names_candidates(tmp_path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(BASE))
    code, out, _ = run("derive", "--json", "--manifest", str(manifest), "rt", "shared-x")
    assert code == 1
    assert (out["error"], out["candidates"]) == ("AMBIGUOUS_MODEL_FOR_RUNTIME", ["delta", "epsilon"])


def test_upstream() -> None:
    code, out, _ = run("upstream", "--json", "moonshot/kimi-k2.6")
    assert code == 0
    assert out == {
        "vendor": "moonshot",
        "model": "kimi-k2.6",
        "provider": "moonshot",
        "base_url": "https://api.moonshot.ai/v1",
    }
    code, out, _ = run("upstream", "--json", "groq:llama")
    assert code == 1 and out["error"] == "not_namespaced"


def test_models_and_providers() -> None:
    code, out, _ = run("models", "--json", "hermes")
    assert code == 0
    assert out["menu"][1] == {"id": "moonshot/kimi-k2.6", "provider": "platform", "billing_mode": "platform_managed"}
    code, out, _ = run("providers", "--json", "openclaw")
    assert code == 0
    assert [(p["name"], p["routing_only"], p["platform_keyed"]) for p in out["providers"]] == [
        ("kimi-coding", False, False),
        ("platform", False, True),
        ("openrouter", True, False),
        ("custom", True, False),
    ]
    code, out, _ = run("models", "--json", "langgraph")
    assert code == 1 and out["error"] == "RUNTIME_UNSUPPORTED"


def test_lint_ok_and_problems(tmp_path) -> None:
    code, out, _ = run("lint", "--json")
    assert (code, out["ok"], out["problems"]) == (0, True, [])
    bad = dict(BASE, schema_version=9)
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(yaml.safe_dump(bad))
    code, out, _ = run("lint", "--json", "--manifest", str(manifest))
    assert code == 1 and out["ok"] is False
    assert {"where": "schema_version", "message": "must be 1, got 9"} in out["problems"]


def test_invalid_manifest_for_a_decision_is_exit_2(tmp_path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text("schema_version: 1\n")
    code, out, _ = run("check", "--json", "--manifest", str(manifest), "hermes", "x")
    assert code == 2 and out["error"] == "invalid_manifest" and out["problems"]


def test_unreadable_manifest_is_exit_2(tmp_path) -> None:
    code, _, err = run("check", "--manifest", str(tmp_path / "missing.yaml"), "hermes", "x")
    assert code == 2 and "cannot read" in err


def test_usage_error_is_exit_2() -> None:
    code, _, err = run("check", "hermes")
    assert code == 2 and "usage" in err


def test_drift_over_the_bundled_examples() -> None:
    code, out, _ = run("drift", "--json", str(bundled_templates_path()))
    assert code == 1  # residual drift is a CI failure...
    table = {t["runtime"]: (t["offered"], t["routable"], len(t["residual"])) for t in out["templates"]}
    assert table == {"claude-code": (27, 27, 0), "hermes": (37, 25, 12), "codex": (9, 8, 1), "openclaw": (13, 6, 7)}
    openclaw = next(t for t in out["templates"] if t["runtime"] == "openclaw")
    assert (openclaw["default_model"], openclaw["default_routable"]) == ("minimax:MiniMax-M2.7", False)
    assert len(out["manifest_fingerprint"]) == 16
    code, _, _ = run("drift", "--json", "--report-only", str(bundled_templates_path()))
    assert code == 0  # ...unless only a report is asked for


def test_drift_clean_template_exits_0() -> None:
    code, out, _ = run("drift", "--json", str(bundled_templates_path() / "claude-code" / "config.yaml"))
    assert code == 0 and out["templates"][0]["residual"] == []


def test_drift_unreadable_path_is_exit_2(tmp_path) -> None:
    code, out, _ = run("drift", "--json", str(tmp_path / "nothing"))
    assert code == 2 and out["error"] == "unreadable_template"


def test_lint_of_an_unreadable_manifest_is_exit_2(tmp_path) -> None:
    code, out, _ = run("lint", "--json", "--manifest", str(tmp_path / "missing.yaml"))
    assert code == 2 and out["error"] == "invalid_manifest"


def test_drift_over_a_folder_without_templates_is_exit_2(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    code, out, _ = run("drift", "--json", str(tmp_path / "empty"))
    assert code == 2 and "holds no template" in out["message"]


def test_drift_with_a_misspelt_runtime_fails(tmp_path) -> None:
    config = tmp_path / "typo" / "config.yaml"
    config.parent.mkdir()
    config.write_text("runtime: hermse\nruntime_config:\n  models:\n    - id: platform/anything\n")
    code, out, _ = run("drift", "--json", str(config))
    assert code == 1
    assert out["templates"][0]["residual"][0]["code"] == "RUNTIME_UNSUPPORTED"


def test_a_reader_that_leaves_early_never_sees_a_pass(tmp_path) -> None:
    # Enough templates that the JSON overflows the pipe before the reader closes it.
    source = (bundled_templates_path() / "hermes" / "config.yaml").read_text()
    for number in range(120):
        (tmp_path / f"t{number}").mkdir()
        (tmp_path / f"t{number}" / "config.yaml").write_text(source)
    proc = subprocess.Popen([ROUTEGATE, "drift", "--json", "--report-only", str(tmp_path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.read(100)
    proc.stdout.close()
    assert proc.wait(timeout=60) == 1


def _commands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def test_manifest_and_json_are_offered_only_where_they_do_something() -> None:
    commands = _commands()
    reads_a_manifest = {
        "lint",
        "derive",
        "check",
        "upstream",
        "models",
        "providers",
        "lifecycle",
        "catalog",
        "drift",
        "gen",
        "serve",
    }
    assert {name for name, parser in commands.items() if "--manifest" in _options(parser)} == reads_a_manifest
    assert {name for name, parser in commands.items() if "--json" not in _options(parser)} == {"serve", "db"}


def test_every_positional_argument_and_gen_target_say_what_they_take() -> None:
    for name, parser in _commands().items():
        for action in parser._actions:
            if not action.option_strings:
                assert action.help, f"{name}: {action.dest} has no help"
    target = next(a for a in _commands()["gen"]._actions if "--target" in a.option_strings)
    assert target.help


@pytest.mark.parametrize("command", ["lint", "diff"])
def test_the_prover_budget_flags_state_their_defaults(command: str) -> None:
    from routegate.proof._budget import DEFAULT_BUDGET

    helps = {a.option_strings[0]: a.help or "" for a in _commands()[command]._actions if a.option_strings}
    assert f"default: {DEFAULT_BUDGET.states:,}" in helps["--max-states"]
    assert f"default: {DEFAULT_BUDGET.seconds:g}" in helps["--time-budget"]


@pytest.mark.parametrize("command", [("derive", "nope", "x"), ("models", "nope"), ("providers", "nope")])
def test_an_unknown_runtime_has_one_spelling_in_text_and_json(command: tuple[str, ...]) -> None:
    code, text, _ = run(*command)
    assert code == 1 and text.startswith("RUNTIME_UNSUPPORTED: ")
    code, out, _ = run(*command, "--json")
    assert code == 1 and out["error"] == "RUNTIME_UNSUPPORTED"


def test_a_command_loads_only_its_own_family() -> None:
    """Like a lazy command group: ``check`` registers and imports the decision commands, not the gates or the fleet."""
    script = (
        "import sys; from routegate.cli import main; main(['check', 'hermes', 'moonshot/kimi-k2.6']); "
        "print(sorted(m for m in sys.modules if m.startswith('routegate.cli')), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == str(["routegate.cli", "routegate.cli._common", "routegate.cli.decisions"])
