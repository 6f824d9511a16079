"""The FastAPI application: :func:`create_app` wires settings, state, errors and routes."""

from __future__ import annotations

import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp

from routegate import __version__

from . import console, http_errors, logs, metrics, routes_calls, routes_lifecycle, routes_workspaces
from .heap import settle
from .middleware import Front
from .routes_registry import router as registry_router
from .routes_versions import router as versions_router
from .settings import Settings
from .state import ServiceState

__all__ = ["MAX_BODY_BYTES", "app_from_env", "create_app"]

MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings | None = None, *, settle_heap: bool = False) -> FastAPI:
    """Build the service. Loads the manifest and migrates the database now, so a bad
    configuration fails here (InvalidManifest, SettingsError, SQLAlchemyError) and not on a request.

    ``settle_heap``: the process is the app's own (``routegate serve``), so once started it
    freezes what start-up built, and then the call tokens' first read, out of the collector's
    full passes (:mod:`.heap`). Not for an app that shares its process with others.

    ``app.state.routegate`` is the :class:`ServiceState` (see its docstring for the contract).
    """
    state = ServiceState(settings or Settings.from_sources())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.start()
        # Routes that block (reads, pages) run in anyio's threads: as many at once as the pool keeps
        # connections for them, so a burst waits its turn rather than opening a connection a request.
        anyio.to_thread.current_default_thread_limiter().total_tokens = state.settings.database_readers
        if settle_heap:
            settle(collect=True)
        calls.start(when_loaded=(lambda: settle(collect=False)) if settle_heap else None)
        yield
        calls.close()
        state.close()

    app = FastAPIOffline(  # /docs and /redoc with Swagger UI and ReDoc served from the package, not a CDN
        title="routegate",
        version=__version__,
        description="Workspace API behind the create gates: can this runtime run this model, "
        "which provider serves it, and who pays.",
        lifespan=lifespan,
    )
    app.state.routegate = state
    http_errors.install(app)
    app.include_router(routes_workspaces.router)  # first of the routers: the workspace paths are matched before others
    app.include_router(registry_router)
    app.include_router(routes_lifecycle.router)
    app.include_router(versions_router)
    metrics.install(app, state)  # GET /metrics and what feeds it
    calls = routes_calls.install(app, state)  # the call gate (issue 21): call tokens, /calls/*, app.state.calls
    app.state.front = {  # Front's options, read when the first request builds the stack
        "limit": MAX_BODY_BYTES,
        "allowed_hosts": _loopback_hosts(state.settings.host) if state.settings.api_token is None else None,
        "lanes": {
            ("POST", "/workspaces"): metrics.instrumented(app, routes_workspaces.CREATE_LANE),
            ("POST", "/calls/authorize"): metrics.instrumented(app, routes_calls.AUTHORIZE_LANE),
            ("POST", "/calls/receipts/{receipt_id}/usage"): metrics.instrumented(app, routes_calls.REPORT_LANE),
            ("POST", "/calls/usage"): metrics.instrumented(app, routes_calls.REPORTS_LANE),
        },
    }
    app.build_middleware_stack = _front_outermost(app)  # type: ignore[method-assign]
    console.install(app)  # the web console: / and /ui/*
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """The import-string factory uvicorn's workers call: settings come from ROUTEGATE_* variables.

    A worker leaves reloading to its supervisor (which publishes once for all); a SIGHUP that
    reaches a worker too, as a terminal's hangup does, only makes it look at the database now.
    """
    app = create_app(Settings.from_sources(), settle_heap=True)
    logs.leave_out_receipted_calls()
    state: ServiceState = app.state.routegate
    if threading.current_thread() is threading.main_thread():  # only there can a handler be set
        signal.signal(signal.SIGHUP, lambda *_: state.request_sync())
    return app


def _front_outermost(app: FastAPI) -> Callable[[], ASGIApp]:
    """FastAPI's stack with :class:`Front` outside it all: Host, cross-site and body checks before anything runs.

    Middleware added the usual way runs inside FastAPI's own layers (errors, telemetry, body
    size), which every request pays for, the call gate's lane on every call. Front refuses
    in the service's own shape and its lanes answer their own errors, so none is needed above it.
    """
    inner = app.build_middleware_stack
    return lambda: Front(inner(), **app.state.front)


def _loopback_hosts(host: str) -> list[str]:
    """The names a tokenless service answers to (the port is not part of the check)."""
    configured = f"[{host}]" if ":" in host else host  # Host headers bracket IPv6 addresses
    return list(dict.fromkeys(["127.0.0.1", "localhost", "[::1]", configured]))


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with its 422 validation shape replaced by the 400 INVALID_FIELDS the service sends."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                default = responses.get("422", {})
                if "HTTPValidationError" in str(default):
                    del responses["422"]
                    responses.setdefault(
                        "400",
                        {
                            "description": "invalid fields (code INVALID_FIELDS)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
                        },
                    )
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema
