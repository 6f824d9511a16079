"""The publish gate's verdict over families of candidate manifests: the bundled manifest with random
arms, menu ids and runtimes removed, judged against workspaces stored under the bundled manifest.

The verdict is checked against check() itself, a different path from the gate's: a workspace is
stranded exactly when its runtime left the candidate or check() refuses its model there (check()
alone would fail open for a runtime it does not know, which is what the gate must not do).
"""

from __future__ import annotations

import functools
import random
from dataclasses import replace
from datetime import date
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import Registry
from routegate.billing import BillingMode
from routegate.errors import InvalidManifest
from routegate.manifest import bundled_manifest_path
from routegate.publishing import LISTED_PER_KIND, StoredWorkspace, assess, combined

REFERENCE = Registry.load()
DOCUMENT = yaml.safe_load(bundled_manifest_path().read_text())
STORED = tuple(
    StoredWorkspace(
        id=f"ws-{index}",
        name=f"{runtime} {model}",
        runtime=runtime,
        model=model,
        external=False,
        auth_env=frozenset(),
        provider=None if decision.provider is None else decision.provider.name,
        billing_mode=None if decision.billing_mode is None else decision.billing_mode.value,
    )
    for index, (runtime, model) in enumerate(
        (runtime, model)
        for runtime in REFERENCE.runtimes
        for model in (*REFERENCE.menu(runtime), "openrouter/anthropic/claude-3.5-sonnet", "custom:my-model")
    )
    if (decision := REFERENCE.check(runtime, model)).allowed
)
DAY = date(2026, 12, 4)
FOREIGN = StoredWorkspace("langgraph", "anything", False, frozenset(), None, None, id="ws-foreign", name="lg")


@st.composite
def candidates(draw: st.DrawFn) -> Registry:
    """The bundled document with some runtimes, arms and menu ids dropped; only valid ones are kept."""
    doc: dict[str, Any] = yaml.safe_load(yaml.safe_dump(DOCUMENT))
    for runtime in list(doc["runtimes"]):
        if draw(st.integers(0, 9)) == 0:
            del doc["runtimes"][runtime]
            continue
        arms = doc["runtimes"][runtime]["providers"]
        kept = [arm for arm in arms if draw(st.integers(0, 5)) != 0] or arms[:1]
        for arm in kept:
            if arm.get("models"):
                arm["models"] = [m for m in arm["models"] if draw(st.integers(0, 4)) != 0] or arm["models"][:1]
        doc["runtimes"][runtime]["providers"] = kept
    try:
        return Registry.from_yaml(yaml.safe_dump(doc, sort_keys=False))
    except InvalidManifest:
        return REFERENCE


@given(candidate=candidates())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_stranded_exactly_when_the_runtime_left_or_check_refuses(candidate: Registry) -> None:
    impact = assess(candidate, (*STORED, FOREIGN))
    assert impact.checked == len(STORED) + 1
    stranded = {change.id: change.code for change in impact.stranded}
    expected = {}
    for workspace in STORED:
        assert workspace.model is not None
        if workspace.runtime not in candidate.runtimes:
            expected[workspace.id] = "RUNTIME_UNSUPPORTED"
        elif not (decision := candidate.check(workspace.runtime, workspace.model)).allowed:
            expected[workspace.id] = str(decision.code)
    assert impact.stranded_count == len(expected)
    assert len(stranded) == min(len(expected), LISTED_PER_KIND)
    assert all(expected[workspace_id] == code for workspace_id, code in stranded.items())
    # The rest: billing or provider changes are exactly the decisions that differ from the stored one.
    moved = {c.id for c in impact.billing_changed} | {c.id for c in impact.provider_changed}
    for workspace in STORED:
        if workspace.id in expected:
            continue
        assert workspace.model is not None
        decision = candidate.check(workspace.runtime, workspace.model)
        assert decision.provider is not None and decision.billing_mode is not None
        differs = (decision.provider.name, decision.billing_mode.value) != (workspace.provider, workspace.billing_mode)
        assert differs == (workspace.id in moved), workspace
    to_platform = sum(
        1 for change in impact.billing_changed if change.billing_mode == BillingMode.PLATFORM_MANAGED.value
    )
    assert impact.moved_to_platform_count == to_platform
    assert impact.blocking == (impact.stranded_count > 0 or to_platform > 0)
    assert FOREIGN.id not in stranded  # a foreign runtime routes nothing and strands nothing


def test_the_manifest_a_workspace_was_stored_under_changes_nothing() -> None:
    impact = assess(REFERENCE, STORED)
    assert (impact.checked, impact.blocking) == (len(STORED), False)
    assert impact.stranded == impact.billing_changed == impact.provider_changed == ()


def test_a_runtime_unknown_to_the_candidate_is_refused_not_decided_fail_open() -> None:
    doc: dict[str, Any] = yaml.safe_load(yaml.safe_dump(DOCUMENT))
    del doc["runtimes"]["openclaw"]
    without = Registry.from_yaml(yaml.safe_dump(doc, sort_keys=False))
    claw = next(w for w in STORED if w.runtime == "openclaw")
    impact = assess(without, [claw])
    assert [(c.id, c.code) for c in impact.stranded] == [(claw.id, "RUNTIME_UNSUPPORTED")]
    assert impact.blocking


@given(
    candidate=candidates(),
    fleet=st.lists(st.sampled_from((*STORED, FOREIGN)), max_size=3 * LISTED_PER_KIND),
    order=st.randoms(use_true_random=False),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_deciding_groups_once_gives_the_verdict_of_each_workspace_alone(
    candidate: Registry, fleet: list[StoredWorkspace], order: random.Random
) -> None:
    """The replay decides each group of alike workspaces once; its verdict must be the one of deciding
    every workspace by itself, in stored order (each alone is a group of one, folded with combined())."""
    fleet = [replace(workspace, id=f"{workspace.id}-{place}") for place, workspace in enumerate(fleet)]
    order.shuffle(fleet)  # alike workspaces scattered through the stored order
    alone = [assess(candidate, [workspace], on=DAY) for workspace in fleet]
    expected = functools.reduce(combined, alone, assess(candidate, [], on=DAY))
    assert assess(candidate, fleet, on=DAY) == expected
