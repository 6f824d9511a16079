"""The pre-commit hooks this repository offers run real routegate commands."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path
from typing import Any

import yaml

from routegate.manifest import bundled_manifest_path
from routegate.templates import bundled_templates_path

HOOKS = Path(__file__).parents[2] / ".pre-commit-hooks.yaml"


def test_each_hook_runs_its_gate(cli: Any, tmp_path: Path) -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load(HOOKS.read_text())}
    assert set(hooks) == {"routegate-lint-prove", "routegate-drift", "routegate-gen-check", "routegate-sync-check"}
    manifest = bundled_manifest_path()
    artifact = tmp_path / "registry.ts"
    assert cli("gen", "--target", "typescript", "-o", artifact).returncode == 0
    sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
    args = {
        "routegate-lint-prove": ["--manifest", manifest],
        "routegate-drift": ["--manifest", manifest, "--report-only", bundled_templates_path()],
        "routegate-gen-check": ["--target", "typescript", "--manifest", manifest, "--check", artifact],
        "routegate-sync-check": [manifest, "--pin", sha],
    }
    for hook_id, hook in hooks.items():
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        program, *command = shlex.split(hook["entry"])
        assert program == "routegate"
        done = cli(*command, *args[hook_id])
        assert done.returncode == 0, (hook_id, done.stdout, done.stderr)
