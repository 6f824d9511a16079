"""Routes of the call gate: call tokens under /workspaces/{id}, and /calls/*.

Thin: the decision is the core's (:mod:`routegate.calls`), the hot path and the stores
are :class:`.call_service.CallService`'s, and statuses are :mod:`.http_errors`'. Every
route needs the service token when one is set (the gateway's included).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from routegate.calls import Scope
from routegate.decision import Code

from . import http_errors
from .auth import require_access
from .call_schemas import (
    AuthorizedOut,
    CallSummaryOut,
    IssuedTokenOut,
    ReceiptOut,
    ReceiptPage,
    TokenList,
    UsagesOut,
)
from .call_service import CallService, CallSettings, call_service
from .guards import guarded_route, json_body, lane, path_problems
from .schemas import _text, require_json
from .state import ServiceState

__all__ = ["AUTHORIZE_LANE", "REPORTS_LANE", "REPORT_LANE", "install", "router"]

_CODE = http_errors.ServiceCode
router = APIRouter(
    route_class=guarded_route(require_access, require_json),
    responses=http_errors.refusals(
        _CODE.INVALID_FIELDS,
        _CODE.UNAUTHORIZED,
        _CODE.CSRF_TOKEN_INVALID,
        _CODE.UNSUPPORTED_MEDIA_TYPE,
        _CODE.METHOD_NOT_ALLOWED,
        _CODE.DATABASE_UNAVAILABLE,
    ),
)
_STRICT = ConfigDict(extra="forbid", strict=True)
_ID = r"^[0-9a-f-]{1,36}$"
_RECEIPT = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"  # a UUIDv7, see receipts.receipt_id
_MAX_EXPIRY_S = 10 * 365 * 86400
MAX_REPORTS = 500
"""Usage reports in one POST /calls/usage: a gateway sends more as further batches."""


def _storable(value: str) -> str:
    """Any id may be asked for and is decided, but a receipt must be able to store it."""
    if re.search("[\ud800-\udfff]", value):
        raise ValueError("lone surrogates are not text; send the model id as UTF-8 text")
    return value


def _whole(value: Any) -> Any:
    """JSON has one number type: 3.0 is the integer 3 (JSON Schema says so too)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class IssueToken(BaseModel):
    model_config = _STRICT

    note: _text(200) | None = None  # type: ignore[valid-type]
    expires_in_s: int | None = Field(None, ge=1, le=_MAX_EXPIRY_S)
    scope: Literal["menu", "model"] = Field(
        "menu", description="menu: any id the runtime admits; model: only the workspace's model"
    )

    _whole_seconds = field_validator("expires_in_s", mode="before")(_whole)


class Authorize(BaseModel):
    model_config = _STRICT

    token: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$")]
    model: Annotated[str, StringConstraints(max_length=1024, pattern=r"^[^\x00]*$"), AfterValidator(_storable)]


class UsageReport(BaseModel):
    model_config = _STRICT

    prompt_tokens: int = Field(ge=0, le=2**53)
    completion_tokens: int = Field(ge=0, le=2**53)
    status: Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")]

    _whole_counts = field_validator("prompt_tokens", "completion_tokens", mode="before")(_whole)


class ReceiptUsage(UsageReport):
    """One report of a batch: the receipt it is for, and the report as POST /calls/receipts/{id}/usage takes it."""

    receipt_id: Annotated[str, StringConstraints(pattern=_RECEIPT)]


class UsageReports(BaseModel):
    model_config = _STRICT

    reports: list[ReceiptUsage] = Field(min_length=1, max_length=MAX_REPORTS)


WorkspacePath = Annotated[str, Path(pattern=_ID, description="the workspace's id")]
ReceiptId = Annotated[str, Path(pattern=_RECEIPT, description="receipt_id from POST /calls/authorize")]
Since = Annotated[datetime | None, Query(description="only receipts at or after this moment (ISO 8601)")]
WorkspaceFilter = Annotated[str | None, Query(pattern=_ID)]


def _utc(moment: datetime | None) -> datetime | None:
    """A moment without a zone is read as UTC."""
    return None if moment is None else moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def _writing(request: Request, work: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(work, *args, limiter=request.app.state.routegate.database.write_limiter)


@router.post(
    "/workspaces/{workspace_id}/call-tokens",
    status_code=201,
    response_model=IssuedTokenOut,
    responses=http_errors.refusals(_CODE.WORKSPACE_NOT_FOUND),
    tags=["calls"],
    operation_id="issueCallToken",
)
async def issue_call_token(workspace_id: WorkspacePath, body: IssueToken, request: Request) -> JSONResponse:
    """A new call token for the workspace; the token is in this answer only (stored as a hash)."""
    issued = await _writing(
        request, call_service(request).tokens.issue, workspace_id, body.note, body.expires_in_s, Scope(body.scope)
    )
    return JSONResponse({**issued.row, "token": issued.token}, status_code=201)


@router.get(
    "/workspaces/{workspace_id}/call-tokens",
    response_model=TokenList,
    responses=http_errors.refusals(_CODE.WORKSPACE_NOT_FOUND),
    tags=["calls"],
    operation_id="listCallTokens",
)
async def list_call_tokens(workspace_id: WorkspacePath, request: Request) -> dict[str, Any]:
    """The workspace's tokens, newest first, without secrets."""
    items = await anyio.to_thread.run_sync(call_service(request).tokens.listing, workspace_id)
    return {"items": items}


@router.delete(
    "/workspaces/{workspace_id}/call-tokens/{token_id}",
    status_code=204,
    responses=http_errors.refusals(_CODE.CALL_TOKEN_NOT_FOUND),
    tags=["calls"],
    operation_id="revokeCallToken",
)
async def revoke_call_token(
    workspace_id: WorkspacePath, token_id: Annotated[str, Path(pattern=_ID)], request: Request
) -> Response:
    """Revoke a token: every instance refuses it within a second (this one at once)."""
    await _writing(request, call_service(request).tokens.revoke, workspace_id, token_id)
    return Response(status_code=204)


@router.post(
    "/calls/authorize",
    response_model=AuthorizedOut,
    responses=http_errors.refusals(_CODE.CALL_TOKEN_INVALID, Code.NO_PLATFORM_UPSTREAM),
    tags=["calls"],
    operation_id="authorizeCall",
)
async def authorize_call(body: Authorize, request: Request) -> JSONResponse:
    """The gateway asks before each call: 200 admitted (with payer and upstream), 403 refused,
    401 CALL_TOKEN_INVALID. The answer leaves once the call's receipt is committed.

    The service serves the path by :data:`AUTHORIZE_LANE`, outside the router; this route
    is its schema, and answers the same should a request reach the router."""
    status, answer = await call_service(request).authorize(body.token, body.model)
    return JSONResponse(answer, status_code=status)


async def _authorize_in_lane(request: Request) -> JSONResponse:
    body = await json_body(Authorize, request)
    status, answer = await call_service(request).authorize(body.token, body.model)
    return JSONResponse(answer, status_code=status)


AUTHORIZE_LANE = lane(require_access, require_json, endpoint=_authorize_in_lane)
"""POST /calls/authorize, as :class:`.middleware.Front` serves it: the route's checks, body and answer."""


@router.post(
    "/calls/receipts/{receipt_id}/usage",
    response_model=ReceiptOut,
    responses=http_errors.refusals(_CODE.RECEIPT_NOT_FOUND, _CODE.USAGE_ALREADY_REPORTED),
    tags=["calls"],
    operation_id="reportCallUsage",
)
async def report_usage(receipt_id: ReceiptId, body: UsageReport, request: Request) -> JSONResponse:
    """The gateway's report after the call: tokens used and how it ended (once per receipt).

    Answered as built (ReceiptOut documents it): a gateway reports every call, and validating
    the answer again would cost about as much as writing the report. The service serves the
    path by :data:`REPORT_LANE`, outside the router; this route is its schema."""
    return await _reported(request, receipt_id, body)


async def _reported(request: Request, receipt_id: str, body: UsageReport) -> JSONResponse:
    queries = call_service(request).receipts
    receipt = await _writing(
        request, queries.report_usage, receipt_id, body.prompt_tokens, body.completion_tokens, body.status
    )
    return JSONResponse(receipt)


async def _report_in_lane(request: Request) -> JSONResponse:
    """As FastAPI reads the route's parameters: a body that is no JSON is refused alone; otherwise
    every problem of the receipt id and of the body is named together, the id's first."""
    receipt_id = request.path_params["receipt_id"]
    problems = path_problems(ReceiptId, "receipt_id", receipt_id)
    try:
        body = await json_body(UsageReport, request)
    except RequestValidationError as invalid:
        if invalid.errors()[0]["type"] == "json_invalid":
            raise
        raise RequestValidationError([*problems, *invalid.errors()]) from None
    if problems:
        raise RequestValidationError(problems)
    return await _reported(request, receipt_id, body)


REPORT_LANE = lane(require_access, require_json, endpoint=_report_in_lane)
"""POST /calls/receipts/{receipt_id}/usage, as :class:`.middleware.Front` serves it: every call
a gateway forwards is reported once, so it skips the router as the authorization does."""


@router.post("/calls/usage", response_model=UsagesOut, tags=["calls"], operation_id="reportCallsUsage")
async def report_usages(body: UsageReports, request: Request) -> JSONResponse:
    """A gateway's usage reports, many calls in one request: each taken as the report of one
    receipt is, in order (its first report stands), and answered with where each went.

    One request for many spares both sides a request per call; the LiteLLM integration sends a
    tenth of a second's reports in one. The service serves the path by
    :data:`REPORTS_LANE`, outside the router; this route is its schema."""
    return await _reported_together(request, body)


async def _reported_together(request: Request, body: UsageReports) -> JSONResponse:
    reports = [(item.receipt_id, item.prompt_tokens, item.completion_tokens, item.status) for item in body.reports]
    return JSONResponse(await _writing(request, call_service(request).receipts.report_usages, reports))


async def _reports_in_lane(request: Request) -> JSONResponse:
    return await _reported_together(request, await json_body(UsageReports, request))


REPORTS_LANE = lane(require_access, require_json, endpoint=_reports_in_lane)
"""POST /calls/usage, as :class:`.middleware.Front` serves it: the route's checks, body and answer."""


@router.get(
    "/calls/receipts",
    response_model=ReceiptPage,
    responses=http_errors.refusals(_CODE.RECEIPT_NOT_FOUND),  # a cursor that names no receipt
    tags=["calls"],
    operation_id="listCallReceipts",
)
async def list_receipts(
    request: Request,
    workspace_id: WorkspaceFilter = None,
    payer: Annotated[str | None, Query(pattern="^(platform|tenant)$", description="platform or tenant")] = None,
    allowed: bool | None = None,
    since: Since = None,
    cursor: Annotated[str | None, Query(pattern=_RECEIPT, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Receipts newest first; pass next_cursor back as cursor for the next page."""
    items, next_cursor = await anyio.to_thread.run_sync(
        lambda: call_service(request).receipts.page(
            limit=limit, cursor=cursor, workspace_id=workspace_id, payer=payer, allowed=allowed, since=_utc(since)
        )
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/calls/summary", response_model=CallSummaryOut, tags=["calls"], operation_id="summarizeCalls")
async def summary(request: Request, workspace_id: WorkspaceFilter = None, since: Since = None) -> dict[str, Any]:
    """Admitted calls and reported tokens per payer and provider, and how many were refused."""
    return await anyio.to_thread.run_sync(
        lambda: call_service(request).receipts.summary(workspace_id=workspace_id, since=_utc(since))
    )


def install(app: FastAPI, state: ServiceState, settings: CallSettings | None = None) -> CallService:
    """Add the call gate to the app: ``app.state.calls``, its routes. The caller starts and closes it."""
    service = CallService(state, settings or CallSettings.from_env(), app.state.metrics.registry)
    app.state.calls = service
    app.include_router(router)
    return service
