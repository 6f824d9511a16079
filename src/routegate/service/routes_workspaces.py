"""Routes for /workspaces and /decisions: HTTP in, HTTP out.

What a write does (idempotent replay, the gates, the store, metrics, the
decision log) is :mod:`.workspaces`'; every rule that admits or refuses lives
in :mod:`routegate.gate`; every status code lives in :mod:`.http_errors`.
Creates and model changes take an ``Idempotency-Key`` (see :mod:`.idempotency`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from routegate import gate

from . import http_errors, workspaces
from .auth import require_access
from .guards import guarded_route, json_body, lane
from .idempotency import KEY_PARAMETER, REPLAYED_HEADER, Answer, KeyedRequest
from .listing import CURSOR, seq_of, workspace_dict
from .schemas import (
    ChangeModel,
    CreateWorkspace,
    DecisionPage,
    RuntimeEnvOut,
    WorkspaceOut,
    WorkspacePage,
    require_json,
)
from .state import service_state

__all__ = ["CREATE_LANE", "router"]

_T = TypeVar("_T")

# Every refusal: these routes run the gates, the store and the guards.
_ERRORS = http_errors.refusals(*http_errors.STATUS)

# The guards run as the route's first step rather than as dependencies (see .guards): these are the hot routes.
router = APIRouter(route_class=guarded_route(require_access, require_json), responses=_ERRORS)

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(pattern=f"^{CURSOR.pattern}$", description="next_cursor of the previous page")]
WorkspaceFilter = Annotated[str | None, Query(max_length=36, pattern=r"^[0-9a-f-]+$")]


def _after(cursor: str | None) -> int | None:
    return None if cursor is None else seq_of(cursor)


def _answered(answer: Answer, status_code: int) -> JSONResponse:
    """An admitted write's answer, sent as the store built it: its fields are the workspace table's,
    the shape ``WorkspaceOut`` documents, so validating it again would only cost. A replay is marked."""
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=status_code, headers=headers)


_KEYED = {"parameters": [KEY_PARAMETER]}


async def _writing(request: Request, work: Callable[..., _T], *args: Any) -> _T:
    """Run a write route's work in a worker thread, as FastAPI runs a plain route, but under the
    database's write limiter: on a SQLite file, one at a time (see ``Database.write_limiter``)."""
    return await anyio.to_thread.run_sync(work, *args, limiter=service_state(request).database.write_limiter)


@router.post(
    "/workspaces",
    status_code=201,
    response_model=WorkspaceOut,
    tags=["workspaces"],
    operation_id="createWorkspace",
    openapi_extra=_KEYED,
)
async def create_workspace(body: CreateWorkspace, request: Request) -> JSONResponse:
    """Run the create gates in order (template, runtime, model, catalog), then persist.

    The service serves the path by :data:`CREATE_LANE`, outside the router; this route is
    its schema, and answers the same should a request reach the router."""
    return await _writing(request, _create, body, request)


async def _create_in_lane(request: Request) -> JSONResponse:
    body = await json_body(CreateWorkspace, request)
    return await _writing(request, _create, body, request)


CREATE_LANE = lane(require_access, require_json, endpoint=_create_in_lane)
"""POST /workspaces, as :class:`.middleware.Front` serves it: the route's checks, body and answer.
A create is what a platform sends most after its calls, and the router's request handling
cost it more than its gates."""


def _create(body: CreateWorkspace, request: Request) -> JSONResponse:
    keyed = KeyedRequest.of(request, body)
    return _answered(workspaces.create(service_state(request), request, body, keyed), 201)


@router.get("/workspaces", response_model=WorkspacePage, tags=["workspaces"], operation_id="listWorkspaces")
def list_workspaces(request: Request, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    items, next_cursor = service_state(request).store.page(limit, _after(cursor))
    return {"items": items, "next_cursor": next_cursor}


@router.get("/workspaces/{workspace_id}", response_model=WorkspaceOut, tags=["workspaces"], operation_id="getWorkspace")
def get_workspace(workspace_id: str, request: Request) -> dict[str, Any]:
    return workspace_dict(service_state(request).store.get(workspace_id))


@router.delete("/workspaces/{workspace_id}", status_code=204, tags=["workspaces"], operation_id="deleteWorkspace")
async def delete_workspace(workspace_id: str, request: Request) -> Response:
    await _writing(request, workspaces.delete, service_state(request), workspace_id)
    return Response(status_code=204)


@router.put(
    "/workspaces/{workspace_id}/model",
    response_model=WorkspaceOut,
    tags=["workspaces"],
    operation_id="changeModel",
    openapi_extra=_KEYED,
)
async def change_model(workspace_id: str, body: ChangeModel, request: Request) -> JSONResponse:
    """The model gates again (model required, allowed, provider in the catalog), for the settled runtime."""
    return await _writing(request, _change_model, workspace_id, body, request)


def _change_model(workspace_id: str, body: ChangeModel, request: Request) -> JSONResponse:
    keyed = KeyedRequest.of(request, body)
    return _answered(workspaces.change_model(service_state(request), request, workspace_id, body, keyed), 200)


@router.get(
    "/workspaces/{workspace_id}/runtime-env",
    response_model=RuntimeEnvOut,
    tags=["workspaces"],
    operation_id="getRuntimeEnv",
)
def runtime_env(workspace_id: str, request: Request) -> dict[str, Any]:
    """What the runtime needs to boot: provider, protocol, base URLs and env var NAMES (never values)."""
    service = service_state(request)
    registry = service.registry
    workspace = service.store.get(workspace_id)
    provider = None
    if workspace.provider is not None:  # catalog check again: a reload may have dropped the provider
        provider = gate.catalog_provider(registry, workspace.provider, runtime=workspace.runtime, model=workspace.model)
    return {
        "workspace_id": workspace.id,
        "runtime": workspace.runtime,
        "model": workspace.model,
        "provider": None if provider is None else provider.name,
        "protocol": None if provider is None else provider.protocol,
        "base_url": None if provider is None else provider.base_url_template,
        "base_url_anthropic": None if provider is None else provider.base_url_anthropic,
        "auth_env": [] if provider is None else list(provider.auth_env),
        "auth_token_env": None if provider is None else provider.auth_token_env,
        "billing_mode": workspace.billing_mode,
        "manifest_fingerprint": registry.fingerprint,
    }


@router.get("/decisions", response_model=DecisionPage, tags=["decisions"], operation_id="listDecisions")
def list_decisions(
    request: Request, workspace_id: WorkspaceFilter = None, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    """Every gate decision on a create or model change, with the manifest fingerprint it was made under.

    Refusals by the gates are here with what was known (runtime, model, template,
    candidates), and so are the store's (unknown parent, no free name). A 400
    INVALID_FIELDS is not: a body that failed validation has nothing trustworthy to record.
    """
    items, next_cursor = service_state(request).decisions.page(workspace_id, limit, _after(cursor))
    return {"items": items, "next_cursor": next_cursor}
