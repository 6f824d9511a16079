"""The publish gate's judgement: what a candidate manifest would do to the workspaces already stored.

A manifest version becomes active only through this gate. Every stored
workspace is decided again under the candidate (its runtime, model and auth
env, through the same create gates a model change runs) and the outcome is
compared with the decision the workspace was stored with. A workspace the
candidate would refuse is *stranded*; one it would move to the platform's key
*moves billing*. Either blocks the publish unless it is forced. Nothing here
touches a database: callers hand over the workspaces and act on the verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from typing import Any

from routegate.billing import BillingMode
from routegate.codes import Code
from routegate.errors import RoutegateError
from routegate.gate import GateRefusal, admit_model_change
from routegate.lifecycle import UNDATED, today
from routegate.proof.diff import diff
from routegate.registry import Registry

__all__ = [
    "LISTED_PER_KIND",
    "RETIREMENT_WARNING_DAYS",
    "Impact",
    "ManifestWouldStrand",
    "Members",
    "StoredWorkspace",
    "UnknownManifestVersion",
    "WorkspaceChange",
    "WorkspaceGroup",
    "WorkspaceKind",
    "assess",
    "assess_groups",
    "combined",
    "manifest_diff",
]

LISTED_PER_KIND = 100
"""Workspaces named per kind of change; ``counts`` always has the full numbers."""

RETIREMENT_WARNING_DAYS = 30
"""How far ahead the gate looks for a retirement that will strand a stored workspace (a warning)."""


@dataclass(frozen=True, slots=True)
class WorkspaceKind:
    """What the gate decides a stored workspace on: its request and the decision it was stored with.
    Workspaces of one kind get one verdict, so a replay decides each kind once."""

    runtime: str
    model: str | None
    external: bool
    auth_env: frozenset[str]
    provider: str | None
    billing_mode: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredWorkspace(WorkspaceKind):
    """A stored workspace, as the gate judges it and an impact lists it."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class WorkspaceChange:
    """One workspace the candidate would treat differently. ``code`` is set when it would be refused."""

    id: str
    name: str
    runtime: str
    model: str | None
    code: str | None = None
    provider: str | None = None
    billing_mode: str | None = None
    previous_provider: str | None = None
    previous_billing_mode: str | None = None
    retires_on: str | None = None
    """For a workspace a retirement will strand: the day (``code`` is then ``MODEL_RETIRED``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "retires_on": self.retires_on,
            "id": self.id,
            "name": self.name,
            "runtime": self.runtime,
            "model": self.model,
            "code": self.code,
            "provider": self.provider,
            "billing_mode": self.billing_mode,
            "previous_provider": self.previous_provider,
            "previous_billing_mode": self.previous_billing_mode,
        }


@dataclass(frozen=True, slots=True)
class Impact:
    """The replay's verdict. The lists name at most :data:`LISTED_PER_KIND` workspaces each."""

    checked: int
    stranded: tuple[WorkspaceChange, ...]
    billing_changed: tuple[WorkspaceChange, ...]
    provider_changed: tuple[WorkspaceChange, ...]
    stranded_count: int
    billing_changed_count: int
    provider_changed_count: int
    moved_to_platform_count: int
    diff: dict[str, Any] | None = None
    retiring: tuple[WorkspaceChange, ...] = ()
    """Workspaces the candidate's dates will strand within :data:`RETIREMENT_WARNING_DAYS`: a warning,
    not a refusal (a retirement already past strands them now, in ``stranded``)."""
    retiring_count: int = 0

    @property
    def blocking(self) -> bool:
        """Whether the publish must be forced: a workspace stranded or moved to the platform's key."""
        return self.stranded_count > 0 or self.moved_to_platform_count > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "blocking": self.blocking,
            "workspaces": {
                "checked": self.checked,
                "stranded": [change.to_dict() for change in self.stranded],
                "billing_changed": [change.to_dict() for change in self.billing_changed],
                "provider_changed": [change.to_dict() for change in self.provider_changed],
                "retiring": [change.to_dict() for change in self.retiring],
                "counts": {
                    "stranded": self.stranded_count,
                    "billing_changed": self.billing_changed_count,
                    "moved_to_platform": self.moved_to_platform_count,
                    "provider_changed": self.provider_changed_count,
                    "retiring": self.retiring_count,
                },
            },
            "diff": self.diff,
        }


class ManifestWouldStrand(RoutegateError):
    """A candidate manifest would refuse a stored workspace or move one to platform billing."""

    def __init__(self, impact: Impact, fingerprint: str) -> None:
        self.impact = impact
        self.fingerprint = fingerprint
        super().__init__(
            f"manifest {fingerprint} would strand {impact.stranded_count} stored workspace(s) and move "
            f"{impact.moved_to_platform_count} to platform billing; see 'impact', fix the manifest or force it"
        )


class UnknownManifestVersion(RoutegateError, LookupError):
    """No stored manifest version has this number."""

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(f"no manifest version {version}; GET /registry/versions lists them")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceGroup(WorkspaceKind):
    """``count`` stored workspaces of one kind: the replay decides once for all of them, so its cost
    follows the kinds of workspace a fleet has, not their number."""

    count: int


Members = Callable[[WorkspaceGroup], Sequence[tuple[int, StoredWorkspace]]]
"""A group's first :data:`LISTED_PER_KIND` workspaces in stored order, each with its place in that
order: asked only of groups the candidate treats differently, for the impact's lists."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the candidate does to every workspace of a group: a kind of change and its fields."""

    kind: str  # stranded, billing_changed, provider_changed or retiring
    code: str | None = None
    provider: str | None = None
    billing_mode: str | None = None
    retires_on: str | None = None


def assess(
    candidate: Registry,
    workspaces: Iterable[StoredWorkspace],
    *,
    current: Registry | None = None,
    on: date | None = None,
) -> Impact:
    """Decide every workspace again under ``candidate`` on the UTC date ``on`` (default today) and sort
    the differences; a workspace the candidate's dates retire within :data:`RETIREMENT_WARNING_DAYS`
    is listed in ``retiring``.

    ``current`` is the active registry, for the manifest diff once it is available.
    """
    groups: dict[WorkspaceGroup, list[tuple[int, StoredWorkspace]]] = {}
    for place, workspace in enumerate(workspaces):
        groups.setdefault(_group_of(workspace), []).append((place, workspace))
    counted = {replace(group, count=len(members)): members[:LISTED_PER_KIND] for group, members in groups.items()}
    impact = assess_groups(candidate, counted, counted.__getitem__, on=on)
    return impact if current is None else replace(impact, diff=manifest_diff(current, candidate))


def assess_groups(
    candidate: Registry,
    groups: Iterable[WorkspaceGroup],
    members: Members,
    *,
    on: date | None = None,
) -> Impact:
    """:func:`assess` for a fleet read as groups (a database's ``GROUP BY``): the same verdict, with
    ``members`` asked for the workspaces to list only of the groups that change, and no manifest diff
    (:func:`manifest_diff`, for a caller to compute after its read)."""
    day = today() if on is None else on
    horizon = day + timedelta(days=RETIREMENT_WARNING_DAYS) if candidate.lifecycle else None
    checked = moved_to_platform = 0
    counts = dict.fromkeys(_KINDS, 0)
    changed: dict[str, list[tuple[WorkspaceGroup, _Outcome]]] = {kind: [] for kind in _KINDS}
    for group in groups:
        checked += group.count
        for outcome in _outcomes(candidate, group, day, horizon):
            counts[outcome.kind] += group.count
            changed[outcome.kind].append((group, outcome))
            if outcome.kind == "billing_changed" and outcome.billing_mode == BillingMode.PLATFORM_MANAGED:
                moved_to_platform += group.count
    named = _Named(members)
    return Impact(
        checked=checked,
        stranded=named.listed(changed["stranded"]),
        billing_changed=named.listed(changed["billing_changed"]),
        provider_changed=named.listed(changed["provider_changed"]),
        stranded_count=counts["stranded"],
        billing_changed_count=counts["billing_changed"],
        provider_changed_count=counts["provider_changed"],
        moved_to_platform_count=moved_to_platform,
        diff=None,
        retiring=named.listed(changed["retiring"]),
        retiring_count=counts["retiring"],
    )


_KINDS = ("stranded", "billing_changed", "provider_changed", "retiring")


_KIND_FIELDS = tuple(field.name for field in fields(WorkspaceKind))


def _group_of(workspace: StoredWorkspace) -> WorkspaceGroup:
    return WorkspaceGroup(**{name: getattr(workspace, name) for name in _KIND_FIELDS}, count=0)


def _outcomes(candidate: Registry, group: WorkspaceGroup, on: date, horizon: date | None) -> list[_Outcome]:
    """The kinds of change ``candidate`` makes to the group's workspaces (none, one, or a retirement
    warning beside a billing or provider change)."""
    try:
        decision = admit_model_change(
            candidate,
            group.runtime,
            group.model,
            external=group.external,
            auth_env=group.auth_env,
            existing=True,
            on=on,
        )
    except GateRefusal as refusal:
        return [_Outcome("stranded", code=str(refusal.code))]
    if decision is None or decision.provider is None:
        return []  # nothing routes now (no model, or a foreign runtime): nothing to serve or bill
    found: list[_Outcome] = []
    if horizon is not None:
        retiring = _retirement(candidate, group, horizon)
        if retiring is not None:
            found.append(retiring)
    billing = decision.billing_value
    if billing != group.billing_mode:
        found.append(_Outcome("billing_changed", provider=decision.provider_name, billing_mode=billing))
    elif decision.provider_name != group.provider:
        found.append(_Outcome("provider_changed", provider=decision.provider_name, billing_mode=billing))
    return found


def _retirement(candidate: Registry, group: WorkspaceGroup, horizon: date) -> _Outcome | None:
    later = candidate.check(group.runtime, group.model or "", group.auth_env, on=horizon)
    if later.code is not Code.MODEL_RETIRED:
        return None
    served_by = candidate.check(group.runtime, group.model or "", group.auth_env, on=UNDATED).provider_name
    entry = candidate.lifecycle.governing(group.runtime, later.model, served_by)
    retires_on = None if entry is None or entry.retires_on is None else entry.retires_on.isoformat()
    return _Outcome("retiring", code=Code.MODEL_RETIRED.value, retires_on=retires_on)


class _Named:
    """The workspaces an impact lists: each changed group's first ones, merged in stored order. A
    group's members are asked for once, whatever number of kinds it is listed under."""

    def __init__(self, members: Members) -> None:
        self._members = members
        self._asked: dict[WorkspaceGroup, Sequence[tuple[int, StoredWorkspace]]] = {}

    def listed(self, changed: list[tuple[WorkspaceGroup, _Outcome]]) -> tuple[WorkspaceChange, ...]:
        found: list[tuple[int, WorkspaceChange]] = []
        for group, outcome in changed:
            if group not in self._asked:
                self._asked[group] = self._members(group)
            found.extend((place, _change(workspace, outcome)) for place, workspace in self._asked[group])
        found.sort(key=lambda placed: placed[0])
        return tuple(change for _, change in found[:LISTED_PER_KIND])


def _change(workspace: StoredWorkspace, outcome: _Outcome) -> WorkspaceChange:
    return WorkspaceChange(
        id=workspace.id,
        name=workspace.name,
        runtime=workspace.runtime,
        model=workspace.model,
        code=outcome.code,
        provider=outcome.provider,
        billing_mode=outcome.billing_mode,
        previous_provider=workspace.provider,
        previous_billing_mode=workspace.billing_mode,
        retires_on=outcome.retires_on,
    )


def manifest_diff(old: Registry, new: Registry) -> dict[str, Any]:
    """Every decision class that changes between the active manifest and the candidate, for every
    model id (not only the stored workspaces'), as ``routegate diff --json`` reports it."""
    return diff(old, new).to_dict()


def combined(first: Impact, then: Impact) -> Impact:
    """The verdict of a replay followed by a replay of the workspaces written since it (the publish
    gate's re-check): counts added, lists filled up to :data:`LISTED_PER_KIND`, ``first``'s diff.

    A workspace changed between the two is counted by both, as it was and as it is, and listed
    once, as it is.
    """

    def listed(kind: str) -> tuple[WorkspaceChange, ...]:
        now = getattr(then, kind)
        again = {change.id for change in now}
        return (*(change for change in getattr(first, kind) if change.id not in again), *now)[:LISTED_PER_KIND]

    return Impact(
        checked=first.checked + then.checked,
        stranded=listed("stranded"),
        billing_changed=listed("billing_changed"),
        provider_changed=listed("provider_changed"),
        stranded_count=first.stranded_count + then.stranded_count,
        billing_changed_count=first.billing_changed_count + then.billing_changed_count,
        provider_changed_count=first.provider_changed_count + then.provider_changed_count,
        moved_to_platform_count=first.moved_to_platform_count + then.moved_to_platform_count,
        diff=first.diff,
        retiring=listed("retiring"),
        retiring_count=first.retiring_count + then.retiring_count,
    )
