"""Fixtures for the CI-gate tests: the real CLI in a subprocess, crafted manifests, node and tsc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

NODE_DIR = Path(__file__).parent / "node"
RUNNER = NODE_DIR / "conformance.cjs"
# The settings of a strict web project: the generated code must compile under them too.
STRICTER = [
    "--noUncheckedIndexedAccess",
    "--exactOptionalPropertyTypes",
    "--noImplicitReturns",
    "--noUnusedLocals",
    "--noUnusedParameters",
    "--noImplicitOverride",
    "--noPropertyAccessFromIndexSignature",
    "--isolatedModules",
]


class Cli:
    """``routegate`` run as a user runs it: a separate process, exit code and output."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def __call__(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "NO_COLOR": "1"}
        return subprocess.run(
            [sys.executable, "-m", "routegate.cli", *map(str, args)],
            cwd=self.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def json(self, *args: str | Path) -> tuple[int, dict[str, Any]]:
        done = self(*args, "--json")
        return done.returncode, json.loads(done.stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[..., Path]:
    """Write a manifest document (or raw YAML text) to a file and return its path."""

    def write(doc: dict[str, Any] | str, name: str = "providers.yaml") -> Path:
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    return write


def _tool(name: str, env_var: str, fallback: Path | None) -> str:
    found = os.environ.get(env_var) or (str(fallback) if fallback and fallback.exists() else shutil.which(name))
    if found:
        return found
    message = f"{name} is not installed: run scripts/node-deps.sh (or set {env_var})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def node() -> str:
    return _tool("node", "ROUTEGATE_NODE", None)


@pytest.fixture(scope="session")
def tsc(node: str) -> str:
    return _tool("tsc", "ROUTEGATE_TSC", NODE_DIR / "node_modules" / ".bin" / "tsc")


class TypeScriptRun:
    """Compiles generated TypeScript with tsc --strict and runs cases through it under node."""

    def __init__(self, node: str, tsc: str, workdir: Path) -> None:
        self.node, self.tsc, self.workdir = node, tsc, workdir

    def compile(self, source: str, name: str) -> Path:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "routegate.ts").write_text(source, encoding="utf-8")
        done = subprocess.run(
            [
                self.tsc,
                "--strict",
                *STRICTER,
                "--noEmitOnError",
                "--target",
                "es2022",
                "--module",
                "commonjs",
                "--lib",
                "es2022",
                "--outDir",
                str(folder / "out"),
                str(folder / "routegate.ts"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"tsc rejected the generated code:\n{done.stdout}\n{done.stderr}"
        return folder / "out" / "routegate.js"

    def run(self, module: Path | None, cases: dict[str, Any]) -> dict[str, Any]:
        path = self.workdir / "cases.json"
        path.write_text(json.dumps(cases, ensure_ascii=True), encoding="utf-8")
        done = subprocess.run(
            [self.node, str(RUNNER), str(module or ""), str(path)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="session")
def typescript(node: str, tsc: str, tmp_path_factory: pytest.TempPathFactory) -> TypeScriptRun:
    return TypeScriptRun(node, tsc, tmp_path_factory.mktemp("typescript"))
