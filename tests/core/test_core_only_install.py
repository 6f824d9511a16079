"""Every command in a real core-only install: a venv holding routegate without its service extra.

The venv is built once per session from the project's own locks: the core's dependencies
are read from routegate's metadata (no extras, followed transitively through each installed
distribution's metadata) and installed from their pinned, hashed lines in requirements/test.lock;
the build backend comes from requirements/bootstrap.lock the same way. Each command the parser
knows then runs there as a process: the core's answer as usual, the service's commands exit 2
naming what to install, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import routegate
from routegate.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
BUNDLED_TEMPLATES = str(Path(routegate.__file__).parent / "data" / "templates")

# A core command's example: its arguments, the exit code and a piece of what it prints.
# A new core command needs a line here (the coverage test below says so).
CORE_EXAMPLES: dict[str, tuple[list[str], int, str]] = {
    "lint": (["--prove"], 0, "pairs proven disjoint"),
    "derive": (["codex", "gpt-5.5", "--auth-env", "OPENAI_API_KEY"], 0, "openai-api"),
    "check": (["hermes", "gpt-4o"], 1, "rejected UNREGISTERED_MODEL_FOR_RUNTIME"),
    "upstream": (["minimax:MiniMax-M2.7"], 0, "minimax / MiniMax-M2.7"),
    "models": (["hermes"], 0, "kimi-coding/kimi-k2"),
    "providers": (["codex"], 0, "openai-api"),
    "lifecycle": ([], 0, "no model is deprecated or retired"),
    "catalog": (["lifecycle", "--from", "litellm"], 2, ""),  # litellm is no core dependency: it says so
    "drift": (["--report-only", BUNDLED_TEMPLATES], 0, "hermes"),
    "gen": (["--target", "typescript"], 0, "export function check("),
    "sync-check": (["--pin", "0" * 64, "{bundled}"], 1, ""),
    "diff": (["{bundled}", "{bundled}"], 0, "ok: 0 change class(es)"),
}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


COMMANDS = _subparsers(build_parser())
SERVICE_COMMANDS = sorted(name for name, p in COMMANDS.items() if p.get_default("needs_service"))


def _placeholder_arguments(parser: argparse.ArgumentParser) -> list[str]:
    """Arguments the parser accepts, made up from its positionals: the command must refuse
    for want of the extra before it looks at them."""
    made_up = []
    for action in parser._actions:
        if action.option_strings or action.dest == "help":
            continue
        if action.choices:
            made_up.append(str(next(iter(action.choices))))
        else:
            made_up.append("1" if action.type is int else "manifest.yaml")
    return made_up


# --- the venv ---------------------------------------------------------------------------------


def _closure(roots: Iterable[str]) -> set[str]:
    """The distributions ``roots`` need, extras left out, following the installed metadata."""
    needed: set[str] = set()
    pending = [Requirement(root) for root in roots]
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in needed:
            needed.add(name)
            pending.extend(Requirement(line) for line in metadata.requires(name) or [])
    return needed


def _locked_lines(lock: Path, names: set[str]) -> str:
    """The pinned, hashed entries of ``lock`` for ``names``; every one must be there."""
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith((" ", "\t")):
            if current is not None and line.strip().startswith("--hash="):
                current.append(line)
        elif line and not line.startswith("#"):
            name = re.match(r"[A-Za-z0-9._-]+", line)
            assert name, line
            current = entries.setdefault(canonicalize_name(name.group()), [line])
        else:
            current = None
    missing = names - entries.keys()
    assert not missing, f"{lock.name} has no pinned line for {sorted(missing)}"
    return "".join(f"{line}\n" for name in sorted(names) for line in entries[name])


def _pip_into(python: Path, *args: str) -> None:
    """The test venv's pinned pip, installing into another interpreter's environment."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "--quiet", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr


def _install_locked(python: Path, lock: Path, names: set[str], folder: Path) -> None:
    requirements = folder / f"{lock.stem}-core.txt"
    requirements.write_text(_locked_lines(lock, names), encoding="utf-8")
    _pip_into(python, "install", "--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", str(requirements))


def _build_requirements() -> list[str]:
    """What building routegate editable needs: pyproject's build requirements, and what the
    backend asks for on top (PEP 660's hook, asked in a process started in the checkout)."""
    build_system = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]
    ask = (
        "import importlib, json; "
        f"print(json.dumps(importlib.import_module({build_system['build-backend']!r}).get_requires_for_build_editable()))"
    )
    done = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return [*build_system["requires"], *json.loads(done.stdout)]


@pytest.fixture(scope="session")
def core_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``routegate`` script of a fresh venv with the core and nothing of the service extra."""
    folder = tmp_path_factory.mktemp("core-only")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    _install_locked(python, REPO / "requirements" / "bootstrap.lock", _closure(_build_requirements()), folder)
    core = _closure(metadata.requires("routegate") or []) - {"routegate"}
    _install_locked(python, REPO / "requirements" / "test.lock", core, folder)
    _pip_into(python, "install", "--no-deps", "--no-build-isolation", "--editable", str(REPO))
    return venv / "bin" / "routegate"


def _run(routegate_script: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("COV_", "COVERAGE_"))}
    return subprocess.run(
        [str(routegate_script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**environment, "NO_COLOR": "1"},
        timeout=300,
    )


# --- the tests --------------------------------------------------------------------------------


def test_the_venv_really_lacks_the_service_extra(core_only: Path) -> None:
    python = core_only.with_name("python")
    for module in ("fastapi", "sqlalchemy", "uvicorn", "alembic", "psycopg"):
        done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, module


def test_every_command_is_either_a_core_example_or_a_service_command() -> None:
    unexplained = COMMANDS.keys() - CORE_EXAMPLES.keys() - set(SERVICE_COMMANDS)
    assert not unexplained, f"add an example to CORE_EXAMPLES (or needs_service=True) for {sorted(unexplained)}"
    assert {"serve", "db", "publish", "versions", "activate"} <= set(SERVICE_COMMANDS)
    assert not set(SERVICE_COMMANDS) & CORE_EXAMPLES.keys()


@pytest.mark.parametrize("command", sorted(CORE_EXAMPLES))
def test_a_core_command_answers_in_a_core_only_install(core_only: Path, tmp_path: Path, command: str) -> None:
    bundled = str(Path(routegate.__file__).parent / "data" / "providers.yaml")
    args, code, shows = CORE_EXAMPLES[command]
    done = _run(core_only, tmp_path, command, *(arg.replace("{bundled}", bundled) for arg in args))
    assert done.returncode == code, done.stderr
    assert shows in done.stdout and "Traceback" not in done.stderr
    assert "service extra" not in done.stderr


@pytest.mark.parametrize("command", SERVICE_COMMANDS)
def test_a_service_command_names_the_extra_and_exits_2(core_only: Path, tmp_path: Path, command: str) -> None:
    args = [command, *_placeholder_arguments(COMMANDS[command])]
    done = _run(core_only, tmp_path, *args)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert f"'routegate {command}' needs the service extra" in done.stderr
    assert "pip install './routegate[service]'" in done.stderr and "Traceback" not in done.stderr
    if any("--json" in action.option_strings for action in COMMANDS[command]._actions):
        as_json = _run(core_only, tmp_path, *args, "--json")
        assert as_json.returncode == 2 and "Traceback" not in as_json.stderr
        expected = {"error": "missing_extra", "extra": "service", "message": ""}
        assert json.loads(as_json.stdout) | {"message": ""} == expected
    assert list(tmp_path.iterdir()) == []  # no database, no lock file: nothing was started
