"""The one place that turns refusals and failures into HTTP: status + ``{error, code, ...context}``.

Routes raise :class:`gate.GateRefusal` (the core's gates) or
:class:`ServiceError` (everything the service itself refuses); each code's
status is a field of its row in the table of codes (:mod:`routegate.codes`
and :class:`ServiceCode`), gathered in :data:`STATUS`.
"""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.routing import Match

from routegate.codes import Code, RefusalCode, Row
from routegate.errors import InvalidManifest
from routegate.gate import GateRefusal
from routegate.publishing import ManifestWouldStrand, UnknownManifestVersion

__all__ = [
    "EVERY_ROUTE",
    "STATUS",
    "ErrorOut",
    "ServiceCode",
    "ServiceError",
    "error_body",
    "install",
    "refusals",
    "response",
]

log = logging.getLogger("routegate.service")


class ServiceCode(RefusalCode):
    """Codes of what the service refuses beyond the create gates: rows of the same table as
    :class:`~routegate.codes.Code`, kept here because only the service gives them."""

    INVALID_FIELDS = Row("INVALID_FIELDS", 400, "request fields are missing or invalid; `fields` names each one")
    HOST_NOT_ALLOWED = Row("HOST_NOT_ALLOWED", 400, "a service without an API token answers only loopback `Host` names")
    UNAUTHORIZED = Row(
        "UNAUTHORIZED", 401, "the endpoint needs `Authorization: Bearer <token>` (or the console's session)"
    )
    CSRF_TOKEN_INVALID = Row(
        "CSRF_TOKEN_INVALID", 403, "an unsafe request made with the console's session cookie lacks its CSRF token"
    )
    CROSS_SITE_REQUEST = Row(
        "CROSS_SITE_REQUEST", 403, "an unsafe request came from another site (its `Origin` or `Sec-Fetch-Site`)"
    )
    NOT_FOUND = Row("NOT_FOUND", 404, "no such path")
    WORKSPACE_NOT_FOUND = Row("WORKSPACE_NOT_FOUND", 404, "no workspace has this id")
    UNKNOWN_RUNTIME = Row("UNKNOWN_RUNTIME", 404, "the registry has no runtime of this name")
    VERSION_NOT_FOUND = Row("VERSION_NOT_FOUND", 404, "no stored manifest version has this number")
    METHOD_NOT_ALLOWED = Row(
        "METHOD_NOT_ALLOWED", 405, "the path does not take this method; `Allow` lists those it takes"
    )
    NAME_CONFLICT = Row(
        "NAME_CONFLICT", 409, "no free name is left under this parent (or concurrent creates took them)"
    )
    WORKSPACE_HAS_CHILDREN = Row("WORKSPACE_HAS_CHILDREN", 409, "a workspace with child workspaces cannot be deleted")
    MANIFEST_WOULD_STRAND = Row(
        "MANIFEST_WOULD_STRAND",
        409,
        "the manifest would refuse a stored workspace or move one to platform billing; `impact` lists them",
    )
    BODY_TOO_LARGE = Row("BODY_TOO_LARGE", 413, "the request body is over 64 KiB")
    UNSUPPORTED_MEDIA_TYPE = Row(
        "UNSUPPORTED_MEDIA_TYPE", 415, "a JSON endpoint was sent a body that is not `application/json`"
    )
    PARENT_NOT_FOUND = Row("PARENT_NOT_FOUND", 422, "the parent workspace does not exist")
    IDEMPOTENCY_KEY_REUSED = Row(
        "IDEMPOTENCY_KEY_REUSED", 422, "the `Idempotency-Key` was already used for another request within 24 hours"
    )
    INVALID_MANIFEST = Row("INVALID_MANIFEST", 422, "the manifest breaks a load rule; `problems` lists every one")
    INTERNAL = Row("INTERNAL", 500, "a failure of the service's own; it is logged")
    DATABASE_UNAVAILABLE = Row(
        "DATABASE_UNAVAILABLE", 503, "the database cannot be reached; nothing was changed, retry (`Retry-After`)"
    )
    # The call gate's (routes_calls).
    CALL_TOKEN_INVALID = Row(
        "CALL_TOKEN_INVALID", 401, "the call token is unknown, revoked or expired (one code for all three)"
    )
    CALL_TOKEN_NOT_FOUND = Row("CALL_TOKEN_NOT_FOUND", 404, "the workspace has no call token with this id")
    RECEIPT_NOT_FOUND = Row("RECEIPT_NOT_FOUND", 404, "no call receipt has this id")
    USAGE_ALREADY_REPORTED = Row(
        "USAGE_ALREADY_REPORTED", 409, "the receipt's usage was already reported; a receipt takes it once"
    )


STATUS: dict[str, int] = {code: code.row.status for codes in (Code, ServiceCode) for code in codes}
"""Every code's HTTP status, read off the table of codes: the create gates', then the service's."""


class ErrorOut(BaseModel):
    """Every refusal's body: what was wrong and what to do (``error``), its ``code``, and context."""

    model_config = ConfigDict(extra="allow")

    error: str
    code: str


# What any route may answer: a tokenless service's Host check, the body cap, a failure of ours.
EVERY_ROUTE = (ServiceCode.HOST_NOT_ALLOWED, ServiceCode.BODY_TOO_LARGE, ServiceCode.INTERNAL)


def refusals(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route that refuses with ``codes`` (and :data:`EVERY_ROUTE`'s):
    each status with the :class:`ErrorOut` body, described by the codes it carries."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys([*codes, *EVERY_ROUTE]):
        by_status.setdefault(STATUS[code], []).append(str(code))
    return {status: {"model": ErrorOut, "description": ", ".join(names)} for status, names in sorted(by_status.items())}


class ServiceError(Exception):
    """A refusal by the service (not by a create gate), with JSON-able context."""

    def __init__(
        self, code: ServiceCode, message: str, *, headers: dict[str, str] | None = None, **context: Any
    ) -> None:
        self.code = code
        self.message = message
        self.headers = headers
        self.context = context
        super().__init__(f"{code.value}: {message}")


def error_body(code: str, message: str, **context: Any) -> dict[str, Any]:
    return {"error": message, "code": str(code), **context}


def response(code: str, message: str, headers: dict[str, str] | None = None, **context: Any) -> JSONResponse:
    """The error response for ``code``; also for middleware, which answers before any handler runs."""
    return JSONResponse(error_body(code, message, **context), status_code=STATUS[code], headers=headers)


async def _gate_refusal(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, GateRefusal)
    return response(error.code, error.message, **error.context)


async def _service_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    return response(error.code, error.message, error.headers, **error.context)


async def _invalid_fields(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        message = str(item.get("msg", "invalid"))
        if item.get("type") == "json_invalid":  # loc is ("body", character position)
            field = "body"
            message = f"not valid JSON (at character {location[-1]}): {item.get('ctx', {}).get('error', message)}"
        else:
            # ("body", "auth_env", 0) -> "auth_env.0"; a body that is not a JSON object -> "body"
            field = ".".join(location[1:]) if len(location) > 1 else (location[0] if location else "body")
        problems.append({"field": field, "message": message})
    fields = list(dict.fromkeys(p["field"] for p in problems))
    hint = " (send a JSON object with Content-Type: application/json)" if "body" in fields else ""
    return response(
        ServiceCode.INVALID_FIELDS,
        f"invalid request fields: {', '.join(fields)}{hint}; see 'problems' for what each needs",
        fields=fields,
        problems=problems,
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path: Starlette's own 405 names only the first route's."""
    routes = request.app.router.routes

    def served(method: str) -> bool:
        probe = {**request.scope, "method": method}
        return any(route.matches(probe)[0] is Match.FULL for route in routes)

    return [method for method in _METHODS if served(method)]


async def _http_exception(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        allowed = _allowed_methods(request)
        return response(
            ServiceCode.METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed on this path; it allows {', '.join(allowed)}",
            {"Allow": ", ".join(allowed)},
            allowed=allowed,
        )
    if error.status_code == 400:  # FastAPI could not read the body at all (e.g. not UTF-8)
        detail = f"{error.detail}: send a UTF-8 JSON object"
        return response(
            ServiceCode.INVALID_FIELDS, detail, fields=["body"], problems=[{"field": "body", "message": detail}]
        )
    if error.status_code == 404:
        return response(ServiceCode.NOT_FOUND, "no such path; see /docs for the API")
    # Any other framework refusal keeps its status, in the same shape.
    return JSONResponse(error_body(f"HTTP_{error.status_code}", str(error.detail)), error.status_code, error.headers)


async def _invalid_manifest(_request: Request, error: Exception) -> JSONResponse:
    """The manifest's problems, its file named without the server's folders (they are not the client's)."""
    assert isinstance(error, InvalidManifest)
    shown = PurePath(error.source).name or "manifest"

    def masked(text: str) -> str:
        return text.replace(error.source, shown)

    return response(
        ServiceCode.INVALID_MANIFEST,
        f"{shown}: the manifest is invalid; the registry in use is unchanged",
        problems=[{"where": masked(p.where), "message": masked(p.message)} for p in error.problems],
    )


async def _manifest_would_strand(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ManifestWouldStrand)
    return response(
        ServiceCode.MANIFEST_WOULD_STRAND,
        f"{error}; nothing was changed",
        fingerprint=error.fingerprint,
        impact=error.impact.to_dict(),
    )


async def _unknown_version(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UnknownManifestVersion)
    return response(ServiceCode.VERSION_NOT_FOUND, str(error), version=error.version)


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", str(error).splitlines()[0])
    return response(
        ServiceCode.DATABASE_UNAVAILABLE,
        "the database is unavailable; nothing was changed, retry shortly",
        {"Retry-After": "1"},
    )


async def _internal(_request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=error)
    return response(ServiceCode.INTERNAL, "internal error; it has been logged")


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(GateRefusal, _gate_refusal)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _invalid_fields)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(InvalidManifest, _invalid_manifest)
    app.add_exception_handler(ManifestWouldStrand, _manifest_would_strand)
    app.add_exception_handler(UnknownManifestVersion, _unknown_version)
    for database_error in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(database_error, _database_unavailable)
    app.add_exception_handler(Exception, _internal)
