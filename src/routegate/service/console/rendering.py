"""Turning a page template into a response: one Jinja environment, the nav, asset URLs, security headers.

Assets are served by :class:`ConsoleStatic` (Starlette's ``StaticFiles`` over
the package's ``static`` folder); their URLs carry a hash of the content, so
browsers may cache them for good and still see a new release at once.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from routegate.publishing import RETIREMENT_WARNING_DAYS
from routegate.registry import Registry
from routegate.service.console.dependencies import Viewer
from routegate.service.console.views import BILLING_LABELS

__all__ = ["NAV", "STATIC_PATH", "ConsoleStatic", "render"]

STATIC_PATH = "/ui/static"

NAV = (
    ("/", "Create", "create"),
    ("/ui/workspaces", "Workspaces", "workspaces"),
    ("/ui/calls", "Calls", "calls"),
    ("/ui/lookup", "Model lookup", "lookup"),
    ("/ui/registry", "Registry", "registry"),
    ("/ui/drift", "Drift", "drift"),
    ("/docs", "API docs", "docs"),
)
"""(href, label, page key): the console's navigation, in order."""

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class ConsoleStatic(StaticFiles):
    """The console's CSS, JavaScript and icon from the package; every URL is versioned, so cache them for good."""

    def __init__(self) -> None:
        super().__init__(packages=[("routegate.service.console", "static")])

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@cache
def _asset_version(name: str) -> str:
    body = resources.files("routegate.service.console").joinpath("static", name).read_bytes()
    return hashlib.sha256(body).hexdigest()[:12]


def _static_url(name: str) -> str:
    return f"{STATIC_PATH}/{name}?v={_asset_version(name)}"


_ENV = Environment(
    loader=PackageLoader("routegate.service.console", "templates"),
    autoescape=select_autoescape(("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.globals["static"] = _static_url
_ENV.globals["nav"] = NAV
_ENV.globals["billing_labels"] = {mode.value: label for mode, label in BILLING_LABELS.items()}
_ENV.globals["retirement_warning_days"] = RETIREMENT_WARNING_DAYS


def render(registry: Registry, page: str, viewer: Viewer, *, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/{page}.html`` with what every page shows (nav, fingerprint, session)."""
    html = _ENV.get_template(f"{page}.html").render(
        page=page,
        fingerprint=registry.fingerprint,
        csrf=viewer.csrf,
        signed_in=viewer.signed_in,
        login_url="/ui/login" if viewer.token_required else "",
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)
