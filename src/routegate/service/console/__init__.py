"""The web console: operators create, find and change workspaces, look up models, browse the registry and drift.

Server-rendered Jinja2 with a little plain JavaScript; no build step and no
assets from the internet. The service calls :func:`install` on its app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from routegate.service.console import call_pages, login, pages, version_pages, workspace_pages
from routegate.service.console.dependencies import LoginRequired
from routegate.service.console.rendering import STATIC_PATH, ConsoleStatic

__all__ = ["install"]


async def _to_login(_request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    return RedirectResponse(error.target, status_code=303)


def install(app: FastAPI) -> None:
    """Serve the console on ``app``: ``/`` and ``/ui/...``, none of it in the OpenAPI schema.

    Pages read ``app.state.routegate`` on every request (see
    :class:`~routegate.service.console.dependencies.ConsoleState`), so a reloaded manifest shows at once.
    """
    for router in (pages.router, version_pages.router, workspace_pages.router, call_pages.router, login.router):
        app.include_router(router)
    app.mount(STATIC_PATH, ConsoleStatic(), name="console-static")
    app.add_exception_handler(LoginRequired, _to_login)
