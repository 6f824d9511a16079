"""What the calendar does to a registry's decisions: the lifecycle stages in a window, or in force on a day.

``routegate lifecycle``, ``GET /registry/lifecycle`` and the console read the same
lists: for every runtime a dated entry holds on, the ids it dates there, the
stage they reach, the day and the successor; and :class:`DatedRows`, which
stored workspaces run them, as columns an index answers. Retirement strands
those workspaces; deprecation leaves them working and refuses new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from routegate.lifecycle import UNDATED, LifecycleEntry, Stage
from routegate.registry import Registry

__all__ = [
    "DatedChange",
    "DatedRows",
    "dated_changes",
    "dated_rows",
    "runtimes_dated",
    "stages_on",
]


@dataclass(frozen=True, slots=True)
class DatedChange:
    """On ``on``, the ids ``entry`` dates on ``runtime`` reach ``stage``."""

    runtime: str
    stage: Stage
    on: date
    entry: LifecycleEntry
    ids: tuple[str, ...]
    """The dated menu ids (for a provider entry: those it lists on the runtime)."""
    pattern: str | None = None
    """For a provider entry: the pattern whose ids off the menu are dated too."""
    workspaces: tuple[str, ...] = ()
    """The ids of the stored workspaces running a dated id on the runtime."""

    @property
    def strands(self) -> bool:
        """Retirement strands the workspaces; deprecation keeps them working."""
        return self.stage is Stage.RETIRED

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "stage": self.stage.value,
            "on": self.on.isoformat(),
            "model": self.entry.model,
            "provider": self.entry.provider,
            "ids": list(self.ids),
            "pattern": self.pattern,
            "successor": self.entry.successor,
            "workspaces": list(self.workspaces),
            "strands": self.strands and bool(self.workspaces),
        }


@dataclass(frozen=True, slots=True)
class DatedRows:
    """The stored workspaces some dated changes reach, by the columns a row keeps (for an indexed query).

    A row is reached when its (runtime, model) is in ``models`` (an entry naming the model dates
    it), or it has a model, its (runtime, provider) is in ``providers`` and its (runtime, model) is not
    in ``exempt`` (an id with an entry of its own is governed by that entry, not its provider's; a
    workspace with no model runs none, so no date reaches it). The sets are
    small: they come from the manifest, never from the stored rows.
    """

    models: frozenset[tuple[str, str]] = frozenset()
    providers: frozenset[tuple[str, str]] = frozenset()
    exempt: frozenset[tuple[str, str]] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.models or self.providers)


def dated_rows(registry: Registry, changes: Iterable[DatedChange]) -> DatedRows:
    """The stored rows ``changes`` reach: those each change's entry governs on its runtime."""
    models: set[tuple[str, str]] = set()
    providers: set[tuple[str, str]] = set()
    for change in changes:
        if change.entry.model is not None:
            models.add((change.runtime, change.entry.model))
        elif change.entry.provider is not None:
            providers.add((change.runtime, change.entry.provider))
    runtimes = {runtime for runtime, _ in providers}
    exempt = {
        (runtime, entry.model)
        for entry in registry.lifecycle.entries
        if entry.model is not None
        for runtime in runtimes
        if entry.covers(runtime)
    }
    return DatedRows(frozenset(models), frozenset(providers), frozenset(exempt))


def dated_changes(registry: Registry, start: date, end: date) -> tuple[DatedChange, ...]:
    """Every stage an entry reaches on a day from ``start`` to ``end`` (both included), by day then runtime."""
    found = [
        DatedChange(runtime, stage, day, entry, ids, pattern)
        for entry in registry.lifecycle.entries
        for stage, day in _stages(entry)
        if start <= day <= end
        for runtime, ids, pattern in _dated_on(registry, entry)
    ]
    return tuple(sorted(found, key=lambda change: (change.on, change.runtime, change.stage != Stage.RETIRED)))


def stages_on(registry: Registry, day: date) -> tuple[DatedChange, ...]:
    """The stage each entry is in on ``day``, per runtime, where it is not active: the latest change up to it."""
    latest = {(change.entry, change.runtime): change for change in dated_changes(registry, UNDATED, day)}
    return tuple(sorted(latest.values(), key=lambda change: (change.on, change.runtime)))


def runtimes_dated(registry: Registry, entry: LifecycleEntry) -> tuple[str, ...]:
    """The runtimes on which ``entry`` dates something, in the registry's order."""
    return tuple(runtime for runtime, _, _ in _dated_on(registry, entry))


def _stages(entry: LifecycleEntry) -> Iterator[tuple[Stage, date]]:
    if entry.deprecated_on is not None and entry.deprecated_on != entry.retires_on:
        yield Stage.DEPRECATED, entry.deprecated_on
    if entry.retires_on is not None:
        yield Stage.RETIRED, entry.retires_on


def _dated_on(registry: Registry, entry: LifecycleEntry) -> Iterator[tuple[str, tuple[str, ...], str | None]]:
    """Each runtime the entry dates something on, with the ids it dates there (and a provider's pattern)."""
    for runtime in registry.runtimes:
        if not entry.covers(runtime):
            continue
        if entry.model is not None:
            decision = registry.check(runtime, entry.model, on=UNDATED)
            if decision.allowed and registry.lifecycle.governing(runtime, entry.model, decision.provider_name) is entry:
                yield runtime, (entry.model,), None
            continue
        arms = [arm for arm in registry.arms(runtime) if arm.provider.name == entry.provider]
        if not arms:
            continue
        ids = tuple(
            model for model in arms[0].models if registry.lifecycle.governing(runtime, model, entry.provider) is entry
        )
        yield runtime, ids, arms[0].provider.model_prefix_match
