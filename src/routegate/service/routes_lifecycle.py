"""GET /registry/lifecycle: what the calendar does to the active manifest's decisions, and to whom.

The same lists as ``routegate lifecycle`` (:mod:`routegate.calendar`): ``within`` days from
today (or from ``on``) give each stage a dated entry reaches in the window; ``on`` alone gives
the stages in force on that day. Each is per runtime, with its successor and, for a caller who
may read workspaces, how many stored workspaces run the dated ids (retirement strands them),
the newest of them, and the console's list of them all. The workspaces are read from the
lifecycle indexes, a few (runtime, model) and (runtime, provider) pairs, never the whole table.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from routegate.calendar import dated_changes, stages_on
from routegate.lifecycle import today

from .auth import may_read_workspaces
from .console.workspace_pages import LISTED_WORKSPACES, reached
from .http_errors import ServiceCode, refusals
from .listing import COUNT_CAP
from .state import service_state

__all__ = ["router"]

router = APIRouter()

MAX_WITHIN = 3650
DEFAULT_WITHIN = 30


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
    workspaces: list[str] = Field(
        description=f"ids of the newest {LISTED_WORKSPACES} stored workspaces that run a dated id "
        "(empty for a caller who may not read workspaces)"
    )
    workspace_count: int | None = Field(
        description=f"how many stored workspaces run a dated id, counted up to {COUNT_CAP + 1} "
        f"(more than {COUNT_CAP} past it); null for a caller who may not read workspaces"
    )
    workspaces_link: str = Field(description="the console's list of those workspaces")
    strands: bool = Field(description="a retirement that strands stored workspaces")


class LifecycleOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    fingerprint: str
    on: str | None = Field(description="with 'on' alone: the day whose stages in force are listed")
    from_: str | None = Field(alias="from", description="with 'within': the window's first day")
    to: str | None = Field(description="with 'within': the window's last day (included)")
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
    on: Annotated[
        date | None,
        Query(description="alone: list the stages in force on this UTC day; with 'within': the window's first day"),
    ] = None,
    within: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_WITHIN,
            description=f"list what is reached in the days after today or 'on' ({DEFAULT_WITHIN} "
            "when neither is given)",
        ),
    ] = None,
) -> dict[str, Any]:
    """Each id the active manifest deprecates or retires in the window (or has deprecated or retired
    on ``on``), per runtime, with its successor and the stored workspaces it reaches."""
    service = service_state(request)
    registry = service.registry
    state_only = on is not None and within is None
    start = today() if on is None else on
    end = start + timedelta(days=DEFAULT_WITHIN if within is None else within)
    changes = stages_on(registry, start) if state_only else dated_changes(registry, start, end)
    read = partial(service.store.dated, listed=LISTED_WORKSPACES) if may_read_workspaces(request) else None
    return {
        "fingerprint": registry.fingerprint,
        "on": start.isoformat() if state_only else None,
        "from": None if state_only else start.isoformat(),
        "to": None if state_only else end.isoformat(),
        "changes": reached(read, registry, changes),
    }
