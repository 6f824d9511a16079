"""The calendar's lists: the stages in force on a day, and the stored rows some stages reach.

:class:`DatedRows` says which rows the service's indexed queries keep, by the columns a row
stores; for any row and any day it must keep exactly those whose (runtime, model, provider)
the lifecycle's own rule dates at a stage other than active.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from routegate import Registry
from routegate.calendar import DatedRows, dated_changes, dated_rows, stages_on
from routegate.lifecycle import UNDATED, Stage
from routegate.manifest import bundled_manifest_path
from tests.manifests import CLAUDE_CODE_DATES
from tests.manifests import DATES as LIFECYCLE_DATES

DATES = (
    LIFECYCLE_DATES
    + CLAUDE_CODE_DATES
    + """\
  - provider: kimi-coding
    deprecated_on: 2026-07-15
"""
)
REGISTRY = Registry.from_yaml(bundled_manifest_path().read_text(encoding="utf-8") + DATES)
BOUNDARIES = sorted(
    {day + timedelta(days=shift) for e in REGISTRY.lifecycle.entries for day in e.dates() for shift in (-1, 0, 1)}
)
MENU_IDS = sorted({model for runtime in REGISTRY.runtimes for model in REGISTRY.menu(runtime)})


def reaches(rows: DatedRows, runtime: str, model: str | None, provider: str | None) -> bool:
    """What DatedRows says it keeps, read as its docstring says."""
    if model is not None and (runtime, model) in rows.models:
        return True
    if model is None or provider is None:
        return False
    return (runtime, provider) in rows.providers and (runtime, model) not in rows.exempt


@given(
    runtime=st.sampled_from([*REGISTRY.runtimes, "langgraph"]),
    model=st.one_of(st.none(), st.sampled_from(MENU_IDS), st.text(max_size=12)),
    provider=st.one_of(st.none(), st.sampled_from(list(REGISTRY.catalog))),
    day=st.one_of(st.sampled_from(BOUNDARIES), st.dates(date(2025, 1, 1), date(2028, 1, 1))),
)
def test_the_rows_in_force_are_those_the_lifecycle_dates(
    runtime: str, model: str | None, provider: str | None, day: date
) -> None:
    entry = None if model is None else REGISTRY.lifecycle.governing(runtime, model, provider)
    dated = entry is not None and entry.stage(day) is not Stage.ACTIVE and runtime in REGISTRY.runtimes
    assert reaches(dated_rows(REGISTRY, stages_on(REGISTRY, day)), runtime, model, provider) is dated


@given(day=st.one_of(st.sampled_from(BOUNDARIES), st.dates(date(2025, 1, 1), date(2028, 1, 1))))
def test_the_state_on_a_day_is_the_latest_stage_each_entry_reached(day: date) -> None:
    in_force = stages_on(REGISTRY, day)
    assert all(change.on <= day and change.entry.stage(day) is change.stage for change in in_force)
    reached = {(c.entry, c.runtime) for c in dated_changes(REGISTRY, UNDATED, day)}
    assert {(c.entry, c.runtime) for c in in_force} == reached
    assert len(in_force) == len(reached)  # one row per entry and runtime


def test_a_provider_entry_on_every_runtime_is_listed_per_runtime() -> None:
    deprecated = [c for c in stages_on(REGISTRY, date(2026, 7, 15)) if c.entry.provider == "kimi-coding"]
    assert [c.runtime for c in deprecated] == sorted(c.runtime for c in deprecated)
    assert {c.runtime for c in deprecated} == {
        runtime
        for runtime in REGISTRY.runtimes
        if any(a.provider.name == "kimi-coding" for a in REGISTRY.arms(runtime))
    }
