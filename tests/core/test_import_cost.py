"""What a process loads: ``import routegate`` nothing beneath it, a cached check only what it decides with.

A one-shot command's run time is mostly its imports, so the laziness is pinned
by the modules each process ends with, never by timing: the library's
exports are read on first use, a cached manifest skips the validating schema
(pydantic, YAML), and a decision reads no pattern's syntax, builds no
suggestion index until a refusal is read, and loads the lifecycle modules only
for a manifest that dates something.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import routegate

from .reference_manifest import reference, write

LOADED = "import json, sys; print(json.dumps(sorted(sys.modules)), file=sys.stderr)"

NEVER_IN_A_CACHED_DECISION = {
    # the validating machinery: a cache hit rebuilds the manifest from authenticated data
    "pydantic",
    "yaml",
    "routegate._schema",
    "routegate._yaml",
    # the regex syntax analyser and what reads patterns with it
    "routegate._re2syntax",
    "routegate._prefixes",
    # what no undated decision uses
    "routegate.gate",
    "routegate.lifecycle",
    "routegate._lifecycle_rules",
    "routegate.proof.diff",
    "routegate.publishing",
    # standard library modules a decision has no use for: URLs are compared when a manifest is validated,
    # and its cache entry carries what that found
    "typing",
    "pathlib",
    "urllib.parse",
    "ipaddress",
}


def loaded(script: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a process running ``script`` ends with; coverage's own imports kept out of it."""
    clean = {
        k: v for k, v in (os.environ if env is None else env).items() if not k.startswith(("COV_CORE_", "COVERAGE_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", f"{script}\n{LOADED}"], capture_output=True, text=True, env=clean, timeout=60
    )
    assert done.returncode in (0, 1), done.stderr
    modules: list[str] = json.loads(done.stderr.splitlines()[-1])
    return set(modules)


def test_import_routegate_loads_none_of_its_modules() -> None:
    assert {m for m in loaded("import routegate") if m.startswith("routegate")} == {"routegate"}


def test_every_export_is_read_from_its_module_on_first_use() -> None:
    for name in routegate.__all__:
        value = getattr(routegate, name)
        assert getattr(sys.modules[routegate._HOME[name]], name) is value
    assert set(routegate._HOME) == set(routegate.__all__)
    assert set(routegate.__all__) <= set(dir(routegate))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        routegate.Nope  # noqa: B018


@pytest.fixture
def cached_env(tmp_path: Path) -> dict[str, str]:
    """A cache and key of the test's own, filled by one check of the bundled manifest and one of a dated one."""
    env = dict(os.environ, ROUTEGATE_CACHE_DIR=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    for manifest in ([], ["--manifest", str(dated_manifest(tmp_path))]):
        check = f"from routegate.cli import main; main(['check', *{manifest!r}, 'hermes', 'x'])"
        subprocess.run([sys.executable, "-c", check], capture_output=True, env=env, timeout=60, check=False)
    return env


def dated_manifest(folder: Path) -> Path:
    doc = reference()
    doc["lifecycle"] = [{"model": "moonshot/kimi-k2.6", "deprecated_on": "2020-01-01"}]
    return write(folder, doc, "dated.yaml")


@pytest.mark.parametrize(
    "model",
    [
        "moonshot/kimi-k2.6",  # on the menu
        "openrouter/anthropic/claude-4",  # routed by a pattern
        "nonesuch/model-9",  # refused, its reason and nearest menu ids read
    ],
)
def test_a_cached_check_loads_only_what_it_decides_with(cached_env: dict[str, str], model: str) -> None:
    script = f"from routegate.cli import main; main(['check', '--json', 'hermes', {model!r}])"
    found = loaded(script, cached_env)
    assert "routegate.registry" in found and not found & NEVER_IN_A_CACHED_DECISION
    assert ("routegate._suggest" in found) == (model == "nonesuch/model-9")


def test_the_lifecycle_modules_load_for_a_manifest_that_dates_something(
    cached_env: dict[str, str], tmp_path: Path
) -> None:
    dated = str(tmp_path / "dated.yaml")
    script = f"from routegate.cli import main; main(['check', '--manifest', {dated!r}, 'hermes', 'moonshot/kimi-k2.6'])"
    found = loaded(script, cached_env)
    assert {"routegate.lifecycle", "routegate._lifecycle_rules"} <= found and "pydantic" not in found


def test_the_second_search_of_a_runtime_builds_its_prefix_filter() -> None:
    """The filter is an optimisation for many searches: the first leaves the id to RE2, the second builds it."""
    script = (
        "from routegate import Registry\n"
        "registry = Registry.load(cache_size=0)\n"
        "registry.check('hermes', 'nonesuch-1')\n"
        "import sys; assert 'routegate._prefixes' not in sys.modules\n"
        "registry.check('hermes', 'nonesuch-2')\n"
        "assert 'routegate._prefixes' in sys.modules\n"
    )
    assert "routegate._re2syntax" in loaded(script)
