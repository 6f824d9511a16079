"""An unknown runtime is refused naming the nearest known ones; only the foreign runtimes fail open."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routegate import Code, DecisionPath, Registry, UnknownRuntime
from routegate.decision import FOREIGN_RUNTIMES

from .test_cli import run


def _one_edit_away(name: str) -> list[str]:
    """Typos of ``name``: one letter replaced, dropped, doubled, or two swapped."""
    typos = set()
    for i in range(len(name)):
        typos.add(name[:i] + name[i + 1 :])
        typos.add(name[:i] + name[i] + name[i:])
        typos.add(name[:i] + ("x" if name[i] != "x" else "y") + name[i + 1 :])
        if i + 1 < len(name):
            typos.add(name[:i] + name[i + 1] + name[i] + name[i + 2 :])
    return sorted(typos - {name})


REFERENCE_REGISTRY = Registry.load()
TYPOS = [(runtime, typo) for runtime in REFERENCE_REGISTRY.runtimes for typo in _one_edit_away(runtime)]


@pytest.mark.parametrize(("runtime", "typo"), TYPOS)
def test_check_refuses_a_misspelt_runtime_naming_the_one_meant(runtime: str, typo: str) -> None:
    decision = REFERENCE_REGISTRY.check(typo, "gpt-4o")
    assert (decision.allowed, decision.path, decision.code) == (False, None, Code.RUNTIME_UNSUPPORTED)
    assert runtime in decision.suggestions and runtime in decision.reason
    with pytest.raises(UnknownRuntime) as caught:
        REFERENCE_REGISTRY.derive(typo, "gpt-4o")
    assert runtime in caught.value.nearest


@given(runtime=st.text(max_size=30), model=st.text(max_size=30))
@settings(max_examples=300)
def test_only_registry_and_foreign_runtimes_are_ever_admitted(runtime: str, model: str) -> None:
    decision = REFERENCE_REGISTRY.check(runtime, model)
    known = runtime in REFERENCE_REGISTRY.runtimes or runtime in FOREIGN_RUNTIMES
    assert (decision.code is Code.RUNTIME_UNSUPPORTED) == (not known)
    if not known:
        assert decision.suggestions and set(decision.suggestions) <= {*REFERENCE_REGISTRY.runtimes, *FOREIGN_RUNTIMES}


@pytest.mark.parametrize("command", ["check", "derive"])
def test_cli_refuses_a_misspelt_runtime_with_the_nearest_names(command: str) -> None:
    code, out, err = run(command, "--json", "hermis", "gpt-4o")
    assert code == 1 and "Traceback" not in err
    if command == "check":
        assert (out["code"], out["suggestions"][0]) == ("RUNTIME_UNSUPPORTED", "hermes")
    else:
        assert (out["error"], out["nearest_runtimes"][0]) == ("RUNTIME_UNSUPPORTED", "hermes")
    assert "hermes" in out.get("reason", out.get("message"))


def test_cli_fails_open_for_foreign_runtimes_only() -> None:
    for foreign in FOREIGN_RUNTIMES:
        code, out, _ = run("check", "--json", foreign, "anything/at-all")
        assert (code, out["path"]) == (0, "fail_open")
    code, out, _ = run("check", "--json", "--foreign-runtime", "crewai", "crewai", "anything")
    assert (code, out["path"]) == (0, "fail_open")
    # Naming the foreign runtimes replaces the default list.
    code, out, _ = run("check", "--json", "--foreign-runtime", "crewai", "langgraph", "anything")
    assert (code, out["code"]) == (1, "RUNTIME_UNSUPPORTED")


def test_the_decision_for_a_misspelt_runtime_comes_before_the_empty_model_row() -> None:
    assert REFERENCE_REGISTRY.check("hermis", "  ").code is Code.RUNTIME_UNSUPPORTED
    assert REFERENCE_REGISTRY.check("langgraph", "  ").path is DecisionPath.EMPTY
