"""Routes for /workspaces and /decisions: validate, ask the core's gates, persist.

Every rule that admits or refuses lives in :mod:`routegate.gate`; every
status code lives in :mod:`.errors`. A refusal is logged in the decision
table before it is raised, so "why was this refused" has an answer later.
Creates and model changes take an ``Idempotency-Key`` (see :mod:`.idempotency`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from routegate import gate

from . import http_errors, metrics
from .auth import require_access
from .db import Action
from .guards import guarded_route
from .idempotency import KEY_PARAMETER, REPLAYED_HEADER, Answer, KeyedRequest
from .middleware import GATE_SECONDS
from .schemas import (
    ChangeModel,
    CreateWorkspace,
    DecisionPage,
    RuntimeEnvOut,
    WorkspaceOut,
    WorkspacePage,
    require_json,
)
from .state import Served, ServiceState
from .store import CURSOR, DecisionOutdated, Refusal, seq_of, workspace_dict

__all__ = ["router"]

_T = TypeVar("_T")

# Every refusal: these routes run the gates, the store and the guards.
_ERRORS = http_errors.refusals(*http_errors.STATUS)

# The guards run as the route's first step rather than as dependencies (see .guards): these are the hot routes.
router = APIRouter(route_class=guarded_route(require_access, require_json), responses=_ERRORS)

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(pattern=f"^{CURSOR.pattern}$", description="next_cursor of the previous page")]
WorkspaceFilter = Annotated[str | None, Query(max_length=36, pattern=r"^[0-9a-f-]+$")]


def _state(request: Request) -> ServiceState:
    return request.app.state.routegate  # type: ignore[no-any-return]


def _after(cursor: str | None) -> int | None:
    return None if cursor is None else seq_of(cursor)


def _answered(answer: Answer, status_code: int) -> JSONResponse:
    """An admitted write's answer, sent as the store built it: its fields are the workspace table's,
    the shape ``WorkspaceOut`` documents, so validating it again would only cost. A replay is marked."""
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=status_code, headers=headers)


def _stripped(value: str | None) -> str | None:
    """What the gates make of an optional text field: surrounding spaces dropped, blank as none."""
    return (value or "").strip() or None


@contextmanager
def _gated(request: Request, served: Served, refused: Callable[[gate.GateRefusal], Refusal]) -> Iterator[None]:
    """Time the gates for Server-Timing; log a refusal (``refused`` says what was known) and re-raise it."""
    started = time.perf_counter()
    try:
        yield
    except gate.GateRefusal as refusal:
        setattr(request.state, GATE_SECONDS, time.perf_counter() - started)
        record = refused(refusal)
        _state(request).store.record_refusal(record, served.registry.fingerprint, served.version)
        metrics.record_decision(request, record.runtime, refusal.code)
        raise
    setattr(request.state, GATE_SECONDS, time.perf_counter() - started)


_KEYED = {"parameters": [KEY_PARAMETER]}


async def _writing(request: Request, work: Callable[..., _T], *args: Any) -> _T:
    """Run a write route's work in a worker thread, as FastAPI runs a plain route, but under the
    database's write limiter: on a SQLite file, one at a time (see ``Database.write_limiter``)."""
    return await anyio.to_thread.run_sync(work, *args, limiter=_state(request).database.write_limiter)


@router.post(
    "/workspaces",
    status_code=201,
    response_model=WorkspaceOut,
    tags=["workspaces"],
    operation_id="createWorkspace",
    openapi_extra=_KEYED,
)
async def create_workspace(body: CreateWorkspace, request: Request) -> JSONResponse:
    """Run the create gates in order (template, runtime, model, catalog), then persist."""
    return await _writing(request, _create, body, request)


def _create(body: CreateWorkspace, request: Request) -> JSONResponse:
    service = _state(request)
    keyed = KeyedRequest.of(request, body)
    replayed = service.store.replay(keyed)
    if replayed is not None:
        return _answered(replayed, 201)
    served = service.served  # one manifest version for the whole decision
    while True:
        admission = _admit_create(body, request, served)
        try:
            created = service.store.create(
                name=body.name,
                parent_id=body.parent_id,
                role=body.role,
                url=body.url,
                external=body.external,
                auth_env=body.auth_env,
                admission=admission,
                fingerprint=served.registry.fingerprint,
                keyed=keyed,
                manifest_version=served.version,
            )
        except DecisionOutdated:
            served = service.sync()  # a publish switched versions meanwhile: decide again under the active one
            continue
        return _answered(created, 201)


def _admit_create(body: CreateWorkspace, request: Request, served: Served) -> gate.Admission:
    """The create gates under ``served``; a refusal is logged and raised."""
    service = _state(request)
    settings = service.settings
    filled: list[str | None] = []  # the default model the named template offered, once read

    def template_lookup(name: str) -> tuple[str | None, str | None]:
        runtime, model = service.template_defaults(name)
        filled.append(model)
        return runtime, model

    def refused(refusal: gate.GateRefusal) -> Refusal:
        # A template fills in only a missing model, so the body's model wins over the template's.
        model = _stripped(body.model) or (_stripped(filled[0]) if filled else None)
        return Refusal.of(Action.CREATE, refusal, runtime=_stripped(body.runtime), model=model, template=body.template)

    with _gated(request, served, refused):
        admission = gate.admit_create(
            served.registry,
            body.gate_request(),
            template_lookup=template_lookup,
            default_runtime=settings.default_runtime,
            foreign_runtimes=settings.foreign_runtimes,
        )
    metrics.record_decision(request, admission.runtime, metrics.ADMITTED)
    return admission


@router.get("/workspaces", response_model=WorkspacePage, tags=["workspaces"], operation_id="listWorkspaces")
def list_workspaces(request: Request, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    items, next_cursor = _state(request).store.page(limit, _after(cursor))
    return {"items": items, "next_cursor": next_cursor}


@router.get("/workspaces/{workspace_id}", response_model=WorkspaceOut, tags=["workspaces"], operation_id="getWorkspace")
def get_workspace(workspace_id: str, request: Request) -> dict[str, Any]:
    return workspace_dict(_state(request).store.get(workspace_id))


@router.delete("/workspaces/{workspace_id}", status_code=204, tags=["workspaces"], operation_id="deleteWorkspace")
async def delete_workspace(workspace_id: str, request: Request) -> Response:
    await _writing(request, _state(request).store.delete, workspace_id)
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
    service = _state(request)
    keyed = KeyedRequest.of(request, body)
    replayed = service.store.replay(keyed)
    if replayed is not None:
        return _answered(replayed, 200)
    served = service.served
    workspace = service.store.get(workspace_id)
    auth_env = body.auth_env if body.auth_env is not None else workspace.auth_env

    def refused(refusal: gate.GateRefusal) -> Refusal:
        return Refusal.of(
            Action.MODEL_CHANGE,
            refusal,
            runtime=workspace.runtime,
            model=_stripped(body.model),
            template=workspace.template,
            workspace_id=workspace.id,
        )

    while True:
        with _gated(request, served, refused):
            decision = gate.admit_model_change(
                served.registry,
                workspace.runtime,
                body.model,
                external=workspace.external,
                auth_env=frozenset(auth_env),
                foreign_runtimes=service.settings.foreign_runtimes,
            )
        metrics.record_decision(request, workspace.runtime, metrics.ADMITTED)
        try:
            changed = service.store.change_model(
                workspace.id,
                model=None if decision is None else decision.model,
                auth_env=auth_env,
                decision=decision,
                fingerprint=served.registry.fingerprint,
                keyed=keyed,
                manifest_version=served.version,
            )
        except DecisionOutdated:
            served = service.sync()  # a publish switched versions meanwhile: decide again under the active one
            continue
        return _answered(changed, 200)


@router.get(
    "/workspaces/{workspace_id}/runtime-env",
    response_model=RuntimeEnvOut,
    tags=["workspaces"],
    operation_id="getRuntimeEnv",
)
def runtime_env(workspace_id: str, request: Request) -> dict[str, Any]:
    """What the runtime needs to boot: provider, protocol, base URLs and env var NAMES (never values)."""
    service = _state(request)
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
    items, next_cursor = _state(request).store.decisions(workspace_id, limit, _after(cursor))
    return {"items": items, "next_cursor": next_cursor}
