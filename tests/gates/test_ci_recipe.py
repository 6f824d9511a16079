"""The CI recipe of docs/ci-gates.md, run as written, in a repository laid out as it expects.

Steps 1 to 4 run through bash exactly as the document prints them. Step 5 needs a
remote and a pull request, so only its ``routegate diff`` command runs, with the
target branch's manifest on standard input as ``git show`` would give it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from routegate.gen import TARGETS
from routegate.manifest import bundled_manifest_path
from routegate.registry import Registry
from routegate.templates import bundled_templates_path

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def recipe() -> str:
    text = (ROOT / "docs" / "ci-gates.md").read_text(encoding="utf-8")
    block = re.search(r"## CI recipe\n.*?```sh\n(.*?)```", text, re.DOTALL)
    assert block, "docs/ci-gates.md has no CI recipe"
    return block.group(1)


def gate_steps() -> str:
    """Steps 1 to 4: everything from the first numbered comment up to step 5."""
    script = recipe()
    start, end = script.index("# 1."), script.index("# 5.")
    return script[start:end]


def diff_command() -> list[str]:
    """Step 5's ``routegate diff`` command: what the pipe feeds, up to the redirection."""
    found = re.search(r"\|\s*(routegate diff .*?)\s*>", recipe())
    assert found, "step 5 of the CI recipe has no `... | routegate diff ... > FILE`"
    return shlex.split(found.group(1))


class Repository:
    """A consumer: the vendored manifest, templates, the canonical copy and every artifact step 3 checks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / "registry" / "providers.yaml"
        self.manifest.parent.mkdir(parents=True)
        shutil.copyfile(bundled_manifest_path(), self.manifest)
        (root / "canonical").mkdir()
        shutil.copyfile(bundled_manifest_path(), root / "canonical" / "providers.yaml")
        shutil.copytree(bundled_templates_path() / "claude-code", root / "templates" / "claude-code")
        self.env = {
            **os.environ,
            "NO_COLOR": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "CANONICAL_MANIFEST_SHA256": hashlib.sha256(self.manifest.read_bytes()).hexdigest(),
        }
        self.artifacts: list[Path] = []
        for line in gate_steps().splitlines():
            if line.startswith("routegate gen "):
                args = shlex.split(line)
                artifact = root / args[args.index("--check") + 1]
                artifact.parent.mkdir(parents=True, exist_ok=True)
                args[args.index("--check")] = "-o"
                assert self.run(args).returncode == 0, line
                self.artifacts.append(artifact)

    def run(self, args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            cwd=self.root,
            env=self.env,
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def gates(self) -> subprocess.CompletedProcess[str]:
        return self.run(["bash", "-euo", "pipefail", "-c", gate_steps()])


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    assert (BIN / "routegate").exists(), "install routegate into this environment (pip install -e .)"
    return Repository(tmp_path / "consumer")


def test_the_recipe_checks_an_artifact_of_every_target(repository: Repository) -> None:
    targets = {shlex.split(line)[3] for line in gate_steps().splitlines() if line.startswith("routegate gen ")}
    assert targets == set(TARGETS)
    assert all(artifact.is_file() for artifact in repository.artifacts)


def test_every_gate_of_the_recipe_passes_on_a_healthy_repository(repository: Repository) -> None:
    done = repository.gates()
    assert done.returncode == 0, done.stdout + done.stderr


def _stale_go_artifact(repo: Repository) -> None:
    go = next(path for path in repo.artifacts if path.suffix == ".go")
    go.write_text(go.read_text(encoding="utf-8") + "// edited by hand\n", encoding="utf-8")


def _drifting_template(repo: Repository) -> None:
    config = repo.root / "templates" / "claude-code" / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8") + '    - id: "no-such-vendor/model-x"\n', encoding="utf-8")


def _edited_vendored_copy(repo: Repository) -> None:
    repo.manifest.write_text(repo.manifest.read_text(encoding="utf-8") + "# a local note\n", encoding="utf-8")


@pytest.mark.parametrize(
    "break_it, says",
    [
        pytest.param(_stale_go_artifact, "stale", id="stale go artifact"),
        pytest.param(_drifting_template, "no-such-vendor/model-x", id="drifting template"),
        pytest.param(_edited_vendored_copy, "out of sync", id="edited vendored copy"),
    ],
)
def test_the_recipe_fails_the_build_when_a_gate_finds_a_problem(
    repository: Repository, break_it: Callable[[Repository], None], says: str
) -> None:
    break_it(repository)
    done = repository.gates()
    assert done.returncode == 1, done.stdout + done.stderr
    assert says in done.stdout + done.stderr


def strand_a_menu_id(manifest: Path, runtime: str) -> str:
    """Drop from ``runtime``'s menu the first id no pattern routes once it is gone; return it."""
    original = manifest.read_text(encoding="utf-8")
    for arm_index, arm in enumerate(yaml.safe_load(original)["runtimes"][runtime]["providers"]):
        for model in arm.get("models", []):
            document = yaml.safe_load(original)
            document["runtimes"][runtime]["providers"][arm_index]["models"].remove(model)
            manifest.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
            if not Registry.load(manifest).check(runtime, model).allowed:
                return model
    raise AssertionError(f"every menu id of {runtime} is also routed by a pattern")


def test_step_5_passes_an_edit_that_changes_no_decision(repository: Repository) -> None:
    before = repository.manifest.read_bytes()
    repository.manifest.write_text(repository.manifest.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    done = repository.run(diff_command(), stdin=before)
    assert done.returncode == 0, done.stdout + done.stderr


def test_step_5_fails_an_edit_that_strands_a_model_and_prints_the_table(repository: Repository) -> None:
    before = repository.manifest.read_bytes()
    lost = strand_a_menu_id(repository.manifest, "claude-code")
    done = repository.run(diff_command(), stdin=before)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "|" in done.stdout and "lost" in done.stdout and lost in done.stdout
