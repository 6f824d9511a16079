"""GET /registry/lifecycle: what the calendar will do to the active manifest's decisions, and to whom.

The same list as ``routegate lifecycle --database-url`` (:mod:`routegate.calendar`): each stage a
dated entry reaches in the window, per runtime, with its successor and the stored workspaces
that run the dated ids (retirement strands them).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from routegate.calendar import dated_changes, workspaces_dated
from routegate.lifecycle import today

from .http_errors import ServiceCode, refusals
from .state import service_state
from .store import stored_workspaces

__all__ = ["router"]

router = APIRouter()

MAX_WITHIN = 3650


class LifecycleChangeOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    runtime: str
    stage: str = Field(description="deprecated or retired")
    on: str = Field(description="the UTC day the stage is reached, YYYY-MM-DD")
    model: str | None
    provider: str | None
    ids: list[str] = Field(description="the dated menu ids on the runtime")
    pattern: str | None = Field(description="for a provider entry: its pattern, whose ids are dated too")
    successor: str | None
    workspaces: list[str] = Field(description="ids of the stored workspaces that run a dated id")
    strands: bool = Field(description="a retirement that strands stored workspaces")


class LifecycleOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    fingerprint: str
    from_: str = Field(alias="from")
    to: str
    changes: list[LifecycleChangeOut]


@router.get(
    "/registry/lifecycle",
    tags=["registry"],
    operation_id="getLifecycle",
    response_model=LifecycleOut,
    response_model_by_alias=True,
    responses=refusals(ServiceCode.INVALID_FIELDS),
)
def lifecycle(
    request: Request,
    on: Annotated[date | None, Query(description="the window's first UTC day, YYYY-MM-DD (default today)")] = None,
    within: Annotated[int, Query(ge=0, le=MAX_WITHIN, description="the window's length in days")] = 30,
) -> dict[str, Any]:
    """Each id the active manifest deprecates or retires in the window, per runtime, with its
    successor and the stored workspaces it reaches."""
    service = service_state(request)
    registry = service.registry
    start = today() if on is None else on
    end = start + timedelta(days=within)
    changes = dated_changes(registry, start, end)
    if changes:
        with service.database.read() as session:
            changes = workspaces_dated(registry, changes, stored_workspaces(session))
    return {
        "fingerprint": registry.fingerprint,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "changes": [change.to_dict() for change in changes],
    }
