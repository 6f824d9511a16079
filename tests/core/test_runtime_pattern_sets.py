"""A runtime's patterns build into one RE2 set, or the manifest does not load: the arm that overflows is named.

Every command that loads such a manifest (lint, check, drift, models, serve)
refuses it the same way: the problem's place, never a traceback.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from routegate import _re2

from .reference_manifest import problems_of, reference, write
from .test_cli import ROUTEGATE, run


def reference_provider(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in doc["providers"] if p["name"] == name)
    return found


@functools.cache
def widest_repetition(prefix: str) -> int:
    """The largest n for which ``prefix\\pL{n}`` still compiles alone under RE2 (found, not assumed)."""
    low, high = 1, 4096
    while low < high:
        middle = (low + high + 1) // 2
        if _re2.compile_error(f"{prefix}\\pL{{{middle}}}") is None:
            low = middle
        else:
            high = middle - 1
    return low


def oversized(prefix: str) -> str:
    """A pattern RE2 compiles alone that no runtime's RE2 set can hold."""
    pattern = f"{prefix}\\pL{{{widest_repetition(prefix)}}}"
    assert _re2.compile_error(pattern) is None
    with pytest.raises(_re2.SetBuildError):
        _re2.search_set([pattern])
    return pattern


@pytest.mark.parametrize(("runtime", "name"), [("hermes", "arcee"), ("openclaw", "custom"), ("hermes", "openrouter")])
def test_a_pattern_that_overflows_its_runtimes_set_is_a_load_problem_with_its_place(
    tmp_path: Path, runtime: str, name: str
) -> None:
    doc = reference()
    reference_provider(doc, name)["model_prefix_match"] = oversized(f"^{name}[:/]")
    arms = [arm["name"] for arm in doc["runtimes"][runtime]["providers"]]
    where = f"runtimes.{runtime}.providers[{arms.index(name)}]"
    manifest = write(tmp_path, doc)

    code, out, err = run("lint", "--json", "--manifest", str(manifest))
    assert (code, out["ok"]) == (1, False)
    assert where in {p["where"] for p in out["problems"]}
    assert "RE2 set" in next(p["message"] for p in out["problems"] if p["where"] == where)
    # Every command that loads it refuses it the same way: exit 2, the place, no traceback.
    for command in (
        ["check", "--json", runtime, "x"],
        ["drift", "--json", str(tmp_path)],
        ["models", "--json", runtime],
    ):
        code, out, err = run(*command[:1], "--manifest", str(manifest), *command[1:])
        assert code == 2, command
        assert where in {p["where"] for p in out["problems"]}
        assert "Traceback" not in err


def fits_in_a_set(pattern: str) -> bool:
    try:
        _re2.search_set([pattern])
    except _re2.SetBuildError:
        return False
    return True


def test_patterns_that_fit_alone_but_not_together_name_the_one_that_overflows(base_doc: dict[str, Any]) -> None:
    low, high = 1, widest_repetition("^beta[:/]")
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits_in_a_set(f"^beta[:/]\\pL{{{middle}}}") else (low, middle - 1)
    beta, delta = f"^beta[:/]\\pL{{{low * 2 // 3}}}", f"^shared-\\pL{{{low * 2 // 3}}}"
    assert fits_in_a_set(beta) and fits_in_a_set(delta)
    base_doc["providers"][2]["model_prefix_match"] = beta  # arm 3 of rt
    base_doc["providers"][4]["model_prefix_match"] = delta  # arm 4 of rt
    found = problems_of(base_doc)
    assert "'delta'" in found["runtimes.rt.providers[4]"]
    assert "runtimes.solo.providers[0]" not in found  # beta alone fits in solo's set


def test_serve_refuses_such_a_manifest_without_a_traceback(tmp_path: Path) -> None:
    doc = reference()
    reference_provider(doc, "arcee")["model_prefix_match"] = oversized("^arcee[:/]")
    manifest = write(tmp_path, doc)
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.run(
        [
            ROUTEGATE,
            "serve",
            "--manifest",
            str(manifest),
            "--port",
            "65000",
            "--database-url",
            f"sqlite:///{tmp_path}/x.db",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "runtimes.hermes.providers[" in proc.stderr and "Traceback" not in proc.stderr
