"""Whatever lint accepts loads, and check decides any model id on it without raising.

A property over random mutations of the bundled manifest (patterns, arms and
menus), loaded through ``parse_manifest``, which is what ``lint`` runs.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import InvalidManifest, Registry
from routegate.manifest import parse_manifest

from .reference_manifest import REFERENCE_DOC, reference

PROVIDER_NAMES = [p["name"] for p in REFERENCE_DOC["providers"]]
FRAGMENTS = st.sampled_from(
    ["^", "$", "a", "gpt-", "[:/]", "(?i)", "claude", ".*", "\\d+", "[a-z]", "(a|b)", "x?", "\\pL", "[^/]"]
)
PATTERNS = st.one_of(
    st.lists(FRAGMENTS, min_size=1, max_size=6).map("".join),
    st.builds(lambda prefix, n: f"^{prefix}[:/]\\pL{{{n}}}", st.sampled_from(PROVIDER_NAMES), st.integers(1, 600)),
    st.builds(lambda n: f"^arcee[:/](a|b)*a(a|b){{{n}}}", st.integers(0, 20)),
)
MODEL_IDS = st.one_of(
    st.text(max_size=30),
    st.builds(lambda name, rest: f"{name}/{rest}", st.sampled_from(PROVIDER_NAMES), st.text(max_size=10)),
)


@st.composite
def mutated_reference(draw: st.DrawFn) -> dict[str, Any]:
    doc = reference()
    for _ in range(draw(st.integers(0, 4))):
        entry = doc["providers"][draw(st.integers(0, len(doc["providers"]) - 1))]
        entry["model_prefix_match"] = draw(PATTERNS)
    runtimes = list(doc["runtimes"].values())
    for _ in range(draw(st.integers(0, 4))):
        arms = runtimes[draw(st.integers(0, len(runtimes) - 1))]["providers"]
        action = draw(st.sampled_from(["add", "drop", "menu", "routing-only"]))
        if action == "add":
            arms.append({"name": draw(st.sampled_from(PROVIDER_NAMES))})
        elif action == "drop" and len(arms) > 1:
            arms.pop(draw(st.integers(0, len(arms) - 1)))
        elif action == "menu":
            arms[draw(st.integers(0, len(arms) - 1))]["models"] = draw(st.lists(MODEL_IDS, min_size=1, max_size=3))
        elif action == "routing-only":
            arms[draw(st.integers(0, len(arms) - 1))].pop("models", None)
    return doc


@given(doc=mutated_reference(), runtime=st.sampled_from(list(REFERENCE_DOC["runtimes"])), model=MODEL_IDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_manifest_lint_accepts_loads_and_decides(doc: dict[str, Any], runtime: str, model: str) -> None:
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        manifest = parse_manifest(text)  # exactly what lint runs
    except InvalidManifest as error:
        assert error.problems and all(p.where and p.message for p in error.problems)
        return
    registry = Registry(manifest)
    decision = registry.check(runtime, model)
    assert decision.allowed == (decision.code is None)
    if decision.billing_mode == "platform_managed":
        assert decision.model in registry.menu(runtime)
