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

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
    "StoredWorkspace",
    "UnknownManifestVersion",
    "WorkspaceChange",
    "assess",
    "combined",
]

LISTED_PER_KIND = 100
"""Workspaces named per kind of change; ``counts`` always has the full numbers."""

RETIREMENT_WARNING_DAYS = 30
"""How far ahead the gate looks for a retirement that will strand a stored workspace (a warning)."""


@dataclass(frozen=True, slots=True)
class StoredWorkspace:
    """What the gate needs of a stored workspace: its request and the decision it was stored with."""

    id: str
    name: str
    runtime: str
    model: str | None
    external: bool
    auth_env: frozenset[str]
    provider: str | None
    billing_mode: str | None


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


@dataclass(slots=True)
class _Tally:
    """The replay's running totals (mutable while it runs; frozen into an :class:`Impact` at the end)."""

    checked: int = 0
    stranded: list[WorkspaceChange] = field(default_factory=list)
    billing_changed: list[WorkspaceChange] = field(default_factory=list)
    provider_changed: list[WorkspaceChange] = field(default_factory=list)
    retiring: list[WorkspaceChange] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("stranded", "billing", "provider", "to", "retiring"), 0)
    )

    def add(self, kind: str, listed: list[WorkspaceChange], change: WorkspaceChange) -> None:
        self.counts[kind] += 1
        if len(listed) < LISTED_PER_KIND:
            listed.append(change)


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
    tally = _Tally()
    day = today() if on is None else on
    horizon = day + timedelta(days=RETIREMENT_WARNING_DAYS) if candidate.lifecycle else None
    for workspace in workspaces:
        tally.checked += 1
        _replay(candidate, workspace, tally, day, horizon)
    return Impact(
        checked=tally.checked,
        stranded=tuple(tally.stranded),
        billing_changed=tuple(tally.billing_changed),
        provider_changed=tuple(tally.provider_changed),
        stranded_count=tally.counts["stranded"],
        billing_changed_count=tally.counts["billing"],
        provider_changed_count=tally.counts["provider"],
        moved_to_platform_count=tally.counts["to"],
        diff=None if current is None else _manifest_diff(current, candidate),
        retiring=tuple(tally.retiring),
        retiring_count=tally.counts["retiring"],
    )


def _replay(candidate: Registry, workspace: StoredWorkspace, tally: _Tally, on: date, horizon: date | None) -> None:
    try:
        decision = admit_model_change(
            candidate,
            workspace.runtime,
            workspace.model,
            external=workspace.external,
            auth_env=workspace.auth_env,
            existing=True,
            on=on,
        )
    except GateRefusal as refusal:
        tally.add("stranded", tally.stranded, _change(workspace, code=str(refusal.code)))
        return
    if decision is None or decision.provider is None:
        return  # nothing routes now (no model, or a foreign runtime): nothing to serve or bill
    if horizon is not None:
        _warn_of_retirement(candidate, workspace, tally, horizon)
    billing = decision.billing_value
    change = _change(workspace, provider=decision.provider_name, billing_mode=billing)
    if billing != workspace.billing_mode:
        tally.add("billing", tally.billing_changed, change)
        if billing == BillingMode.PLATFORM_MANAGED:
            tally.counts["to"] += 1
    elif change.provider != workspace.provider:
        tally.add("provider", tally.provider_changed, change)


def _warn_of_retirement(candidate: Registry, workspace: StoredWorkspace, tally: _Tally, horizon: date) -> None:
    later = candidate.check(workspace.runtime, workspace.model or "", workspace.auth_env, on=horizon)
    if later.code is not Code.MODEL_RETIRED:
        return
    entry = candidate.lifecycle.governing(workspace.runtime, later.model, _served_by(candidate, workspace))
    retires_on = None if entry is None or entry.retires_on is None else entry.retires_on.isoformat()
    change = replace(_change(workspace, code=Code.MODEL_RETIRED.value), retires_on=retires_on)
    tally.add("retiring", tally.retiring, change)


def _served_by(candidate: Registry, workspace: StoredWorkspace) -> str | None:
    return candidate.check(workspace.runtime, workspace.model or "", workspace.auth_env, on=UNDATED).provider_name


def _change(
    workspace: StoredWorkspace, *, code: str | None = None, provider: str | None = None, billing_mode: str | None = None
) -> WorkspaceChange:
    return WorkspaceChange(
        id=workspace.id,
        name=workspace.name,
        runtime=workspace.runtime,
        model=workspace.model,
        code=code,
        provider=provider,
        billing_mode=billing_mode,
        previous_provider=workspace.provider,
        previous_billing_mode=workspace.billing_mode,
    )


def _manifest_diff(old: Registry, new: Registry) -> dict[str, Any]:
    """Every decision class that changes between the active manifest and the candidate, for every
    model id (not only the stored workspaces'), as ``routegate diff --json`` reports it."""
    return diff(old, new).to_dict()


def combined(first: Impact, then: Impact) -> Impact:
    """The verdict of a replay followed by a replay of the workspaces written since it (the publish
    gate's re-check): counts added, lists filled up to :data:`LISTED_PER_KIND`, ``first``'s diff.

    A workspace changed between the two is counted by both, as it was and as it is.
    """

    def listed(kind: str) -> tuple[WorkspaceChange, ...]:
        return (*getattr(first, kind), *getattr(then, kind))[:LISTED_PER_KIND]

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
