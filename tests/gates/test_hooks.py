"""The pre-commit hooks this repository offers, run as pre-commit runs them, on the documented config.

pre-commit runs ``entry`` (split like a shell would), then the hook's ``args``
from the consumer's ``.pre-commit-config.yaml``, then the staged file names
unless ``pass_filenames`` is false, and only when a staged file matches
``files``. These tests do the same with the config docs/ci-gates.md shows, in
a scratch repository laid out as that config expects.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from routegate.manifest import bundled_manifest_path
from tests.manifests import manifest_doc, provider

ROOT = Path(__file__).parents[2]
HOOKS = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
ROUTEGATE = Path(sys.executable).with_name("routegate")  # the console script a hook environment installs

TEMPLATE = """\
name: {name}
runtime: claude-code
runtime_config:
  model: "{model}"
  models:
    - id: "{model}"
      required_env: []
"""


def documented_args() -> dict[str, list[str]]:
    """Each hook's ``args`` in the .pre-commit-config.yaml example of docs/ci-gates.md."""
    text = (ROOT / "docs" / "ci-gates.md").read_text(encoding="utf-8")
    block = re.search(r"## pre-commit\n.*?```yaml\n(.*?)```", text, re.DOTALL)
    assert block, "docs/ci-gates.md has no pre-commit config example"
    (repo,) = yaml.safe_load(block.group(1))["repos"]
    return {hook["id"]: [str(arg) for arg in hook.get("args", [])] for hook in repo["hooks"]}


class Consumer:
    """A repository using the hooks: a vendored manifest, templates and a generated artifact."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / "registry" / "providers.yaml"
        self.manifest.parent.mkdir(parents=True)
        shutil.copyfile(bundled_manifest_path(), self.manifest)
        self.pin = hashlib.sha256(self.manifest.read_bytes()).hexdigest()
        self.template("kimi", "moonshot/kimi-k2.6")
        artifact = root / "web" / "src" / "registry.ts"
        artifact.parent.mkdir(parents=True)
        assert (
            self.routegate("gen", "--target", "typescript", "--manifest", self.manifest, "-o", artifact).returncode == 0
        )

    def template(self, name: str, model: str) -> Path:
        config = self.root / "templates" / name / "config.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(TEMPLATE.format(name=name, model=model), encoding="utf-8")
        return config

    def routegate(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return self.run([str(ROUTEGATE), *map(str, args)])

    def run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "NO_COLOR": "1"}
        return subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=120)

    def hook(self, hook_id: str, args: list[str], staged: list[str]) -> subprocess.CompletedProcess[str] | None:
        """What pre-commit does: nothing unless a staged file matches ``files``; else entry + args (+ names)."""
        hook = HOOKS[hook_id]
        matching = [name for name in staged if re.search(hook["files"], name)]
        if not matching:
            return None
        program, *entry = shlex.split(hook["entry"])
        assert program == "routegate" and hook["language"] == "python"
        filenames = matching if hook.get("pass_filenames", True) else []
        return self.run([str(ROUTEGATE), *entry, *args, *filenames])

    def documented(self, hook_id: str, staged: list[str]) -> subprocess.CompletedProcess[str] | None:
        args = [arg.replace("<sha256 of the canonical file>", self.pin) for arg in documented_args()[hook_id]]
        return self.hook(hook_id, args, staged)


@pytest.fixture
def consumer(tmp_path: Path) -> Consumer:
    assert ROUTEGATE.exists(), f"{ROUTEGATE} is missing: install routegate into this environment (pip install -e .)"
    return Consumer(tmp_path / "consumer")


def test_every_hook_is_documented_and_passes_on_a_healthy_repository(consumer: Consumer) -> None:
    assert (
        set(documented_args())
        == set(HOOKS)
        == {
            "routegate-lint-prove",
            "routegate-drift",
            "routegate-gen-check",
            "routegate-sync-check",
        }
    )
    for hook_id in HOOKS:
        done = consumer.documented(hook_id, ["registry/providers.yaml"])
        assert done is not None and done.returncode == 0, (hook_id, done and done.stdout, done and done.stderr)


def _overlap(c: Consumer) -> None:
    doc = manifest_doc(
        [provider("alpha", "^gpt-"), provider("beta", "(?i)^GPT-4O")], {"rt": [{"name": "alpha"}, {"name": "beta"}]}
    )
    c.manifest.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _drifting_template(c: Consumer) -> None:
    c.template("stale", "no-such-vendor/model-x")


def _data_change(c: Consumer) -> None:
    doc = yaml.safe_load(c.manifest.read_text(encoding="utf-8"))
    doc["runtimes"]["hermes"]["providers"][0]["models"].append("kimi-coding/kimi-k3")
    c.manifest.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _edited_copy(c: Consumer) -> None:
    c.manifest.write_text(c.manifest.read_text(encoding="utf-8") + "# a local note\n", encoding="utf-8")


@pytest.mark.parametrize(
    "hook_id, break_it, staged, says",
    [
        ("routegate-lint-prove", _overlap, "registry/providers.yaml", "alpha and beta both match"),
        ("routegate-drift", _drifting_template, "templates/stale/config.yaml", "no-such-vendor/model-x"),
        ("routegate-gen-check", _data_change, "registry/providers.yaml", "stale: web/src/registry.ts"),
        ("routegate-sync-check", _edited_copy, "registry/providers.yaml", "out of sync: registry/providers.yaml"),
    ],
)
def test_each_hook_fails_the_commit_when_its_gate_finds_a_problem(
    consumer: Consumer, hook_id: str, break_it: Callable[[Consumer], None], staged: str, says: str
) -> None:
    break_it(consumer)
    done = consumer.documented(hook_id, [staged])
    assert done is not None, f"{hook_id} would not even run when {staged} is staged"
    assert done.returncode == 1, (hook_id, done.stdout, done.stderr)
    assert says in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--target", "typescript", "--manifest", "registry/providers.yaml"], id="no artifact"),
        pytest.param(
            ["--target", "typescript", "--manifest", "registry/providers.yaml", "--check", "web/src/registry.ts"],
            id="artifact last, after --check",
        ),
        pytest.param(["-o", "web/src/registry.ts", "--target", "typescript"], id="-o instead"),
        pytest.param(["web/src/registry.ts", "--target", "typescript", "-o", "elsewhere.ts"], id="-o as well"),
    ],
)
def test_a_misconfigured_gen_check_hook_fails_instead_of_passing_silently(consumer: Consumer, args: list[str]) -> None:
    _data_change(consumer)  # the artifact is stale: a hook that passes now has checked nothing
    before = (consumer.root / "web" / "src" / "registry.ts").read_bytes()
    done = consumer.hook("routegate-gen-check", args, ["registry/providers.yaml"])
    assert done is not None and done.returncode == 2, (done and done.stdout, done and done.stderr)
    assert "export const" not in done.stdout and "usage:" in done.stderr
    assert (consumer.root / "web" / "src" / "registry.ts").read_bytes() == before
    assert not (consumer.root / "elsewhere.ts").exists()


def test_hooks_do_not_run_for_unrelated_commits(consumer: Consumer) -> None:
    for hook_id in HOOKS:
        assert consumer.documented(hook_id, ["README.md", "src/app.css"]) is None, hook_id


def test_the_hook_environment_gets_routegate_from_this_package() -> None:
    # language: python installs this repository; `routegate` must be its console script.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"]["routegate"] == "routegate.cli:main"


@pytest.mark.parametrize(
    "target, artifact",
    [
        ("typescript", "web/src/registry.ts"),
        ("python", "clients/registry_data.py"),
        ("go", "gen/registry/registry.go"),
        ("jsonschema", "registry/providers.schema.json"),
    ],
)
def test_gen_check_runs_when_an_artifact_of_any_target_is_staged(
    consumer: Consumer, target: str, artifact: str
) -> None:
    path = consumer.root / artifact
    path.parent.mkdir(parents=True, exist_ok=True)
    assert consumer.routegate("gen", "--target", target, "--manifest", consumer.manifest, "-o", path).returncode == 0
    args = [artifact, "--target", target, "--manifest", "registry/providers.yaml"]
    fresh = consumer.hook("routegate-gen-check", args, [artifact])
    assert fresh is not None, f"staging {artifact} does not run the hook"
    assert fresh.returncode == 0, (fresh.stdout, fresh.stderr)
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    stale = consumer.hook("routegate-gen-check", args, [artifact])
    assert stale is not None and stale.returncode == 1 and f"stale: {artifact}" in stale.stdout
