"""What a publish, activation or reload answers: the version it left active and the publish gate's impact;
and how far the ones in flight are.

Declared so a generated client has a typed class for each part; the bodies are built by
:meth:`routegate.publishing.Impact.to_dict`, and a test checks every real answer against these.
Extra fields the report grows are passed on.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from routegate.publishing import LISTED_PER_KIND, RETIREMENT_WARNING_DAYS

__all__ = ["ImpactOut", "ProgressOut", "PublishOut", "ReplayOut", "WorkspaceChangeOut"]

_OPEN = ConfigDict(extra="allow")


class WorkspaceChangeOut(BaseModel):
    """One stored workspace the candidate manifest would treat differently."""

    model_config = _OPEN

    id: str
    name: str
    runtime: str
    model: str | None
    code: str | None = Field(description="the refusal code when it would be refused (MODEL_RETIRED when retiring)")
    provider: str | None
    billing_mode: str | None
    previous_provider: str | None
    previous_billing_mode: str | None
    retires_on: str | None = Field(
        description="in 'retiring': the UTC day, YYYY-MM-DD, the candidate's dates retire its model; else null"
    )


class ImpactCountsOut(BaseModel):
    model_config = _OPEN

    stranded: int
    billing_changed: int
    moved_to_platform: int
    provider_changed: int
    retiring: int = Field(description=f"workspaces a retirement strands within {RETIREMENT_WARNING_DAYS} days")


class ImpactWorkspacesOut(BaseModel):
    model_config = _OPEN

    checked: int
    stranded: list[WorkspaceChangeOut]
    billing_changed: list[WorkspaceChangeOut]
    provider_changed: list[WorkspaceChangeOut]
    retiring: list[WorkspaceChangeOut] = Field(
        description=f"a warning, not a refusal: workspaces the candidate's dates retire within "
        f"{RETIREMENT_WARNING_DAYS} days (at most {LISTED_PER_KIND}; a retirement already past is in 'stranded')"
    )
    counts: ImpactCountsOut


class ImpactOut(BaseModel):
    model_config = _OPEN

    blocking: bool
    workspaces: ImpactWorkspacesOut
    diff: dict[str, Any] | None = Field(description="the manifest diff, as ``routegate diff --json`` reports it")


class PublishOut(BaseModel):
    """What a publish, activation or reload did, or for a dry run would do."""

    model_config = _OPEN

    version: int | None = Field(description="the version now active; null for a dry run of a new manifest")
    fingerprint: str
    active: bool
    changed: bool
    dry_run: bool
    previous_version: int | None
    previous_fingerprint: str | None
    impact: ImpactOut | None


class ReplayOut(BaseModel):
    """A publish, activation or reload this instance is replaying the stored workspaces for."""

    model_config = _OPEN

    kind: Literal["publish", "activate", "reload"]
    dry_run: bool
    version: int | None = Field(description="the version an activation makes active; null for a publish or reload")
    started_at: str = Field(description="when it began, UTC (ISO 8601)")
    replayed: int = Field(description="stored workspaces decided again so far (reported about every 1%)")
    total: int | None = Field(
        description="stored workspaces when the replay began; null until counted. A publish that finds the "
        "active version changed meanwhile starts again, from 0"
    )


class ProgressOut(BaseModel):
    """What this instance (this process) is replaying now, oldest first; empty when nothing."""

    items: list[ReplayOut]
