"""The console's pages: server-rendered views of the registry, plus a little plain JavaScript.

Pages that only show the registry (create, registry, drift) are rendered from
the core objects on ``app.state.routegate``; the workspace pages load their
rows from the JSON API in the browser, so the console never reaches around the
service's own rules. When the service has an API token, the create and
workspace pages ask for it once (see :mod:`routegate.console.session`).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Query, Request
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from routegate.billing import billing_mode_for
from routegate.console import session
from routegate.console.versions import versions_pages
from routegate.drift import TemplateDrift, drift
from routegate.manifest import Arm, Provider
from routegate.registry import Registry

__all__ = ["console_router"]

STATIC_PREFIX = "/ui/static/"
PAGE_SIZE = 20
_MAX_FORM = 4096
_MAX_CURSOR = 512
_MAX_ID = 200

_NAV = (
    ("/", "Create", "create"),
    ("/ui/workspaces", "Workspaces", "workspaces"),
    ("/ui/registry", "Registry", "registry"),
    ("/ui/drift", "Drift", "drift"),
)

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class _Viewer:
    """Who is looking: whether a token guards the service, and the CSRF token of their session."""

    token_required: bool
    csrf: str = ""

    @property
    def signed_in(self) -> bool:
        return bool(self.csrf)


@dataclass(frozen=True, slots=True)
class _ArmView:
    provider: Provider
    models: tuple[str, ...]

    @property
    def billing(self) -> str:
        return billing_mode_for(self.provider.name).value


@dataclass(frozen=True, slots=True)
class _RuntimeView:
    name: str
    menu_arms: tuple[_ArmView, ...]
    routing_arms: tuple[_ArmView, ...]


@dataclass(frozen=True, slots=True)
class _TemplateOption:
    name: str
    runtime: str | None
    default_model: str | None
    runtime_known: bool


@dataclass(frozen=True, slots=True)
class _Cell:
    runtime: str
    kind: str  # "menu", "routing" or "none"
    count: int = 0


@dataclass(frozen=True, slots=True)
class _ProviderRow:
    provider: Provider
    cells: tuple[_Cell, ...]


class _Static:
    """The console's CSS, JavaScript and icon, read once; URLs carry a content hash for caching."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for entry in resources.files("routegate.console").joinpath("static").iterdir():
            if entry.is_file():
                body = entry.read_bytes()
                media = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
                if media.startswith("text/") or media in ("application/javascript", "image/svg+xml"):
                    media += "; charset=utf-8"
                self.files[entry.name] = (body, media, hashlib.sha256(body).hexdigest()[:12])

    def url(self, name: str) -> str:
        return f"{STATIC_PREFIX}{name}?v={self.files[name][2]}"


def _state(request: Request) -> Any:
    return request.app.state.routegate


def _api_token(request: Request) -> str | None:
    return _state(request).settings.api_token or None


def _viewer(request: Request) -> _Viewer | None:
    """The viewer of a page that needs the workspace API; None when they must sign in first."""
    token = _api_token(request)
    if token is None:
        return _Viewer(token_required=False)
    value = request.cookies.get(session.COOKIE_NAME)
    if not session.valid_session(token, value):
        return None
    assert value is not None
    return _Viewer(token_required=True, csrf=session.csrf_token(token, value))


def _open_viewer(request: Request) -> _Viewer:
    """The viewer of a page anyone may see (registry, drift): signed in or not."""
    return _viewer(request) or _Viewer(token_required=True)


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: str | None) -> str:
    """Only same-site console paths: never another origin (``//host``) or an absolute URL."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or len(value) > 1024:
        return "/"
    return value


def _runtime_views(registry: Registry) -> tuple[_RuntimeView, ...]:
    views = []
    for name in registry.runtimes:
        arms: tuple[Arm, ...] = registry.arms(name)
        views.append(
            _RuntimeView(
                name,
                tuple(_ArmView(a.provider, a.models) for a in arms if not a.routing_only),
                tuple(_ArmView(a.provider, a.models) for a in arms if a.routing_only),
            )
        )
    return tuple(views)


def _provider_rows(registry: Registry) -> tuple[_ProviderRow, ...]:
    arms_by_runtime = {rt: {arm.provider.name: arm for arm in registry.arms(rt)} for rt in registry.runtimes}
    rows = []
    for provider in registry.catalog.values():
        cells = []
        for rt in registry.runtimes:
            arm = arms_by_runtime[rt].get(provider.name)
            if arm is None:
                cells.append(_Cell(rt, "none"))
            elif arm.routing_only:
                cells.append(_Cell(rt, "routing"))
            else:
                cells.append(_Cell(rt, "menu", len(arm.models)))
        rows.append(_ProviderRow(provider, tuple(cells)))
    return tuple(rows)


def console_router() -> APIRouter:
    """The console's routes: ``/`` (create) and ``/ui/...``. Not part of the OpenAPI schema.

    Reads ``app.state.routegate`` (``registry``, ``scan_templates()``, ``settings.api_token``)
    on every request, so a reloaded manifest shows at once.
    """
    router = APIRouter(include_in_schema=False)
    static = _Static()
    env = Environment(
        loader=PackageLoader("routegate.console", "templates"),
        autoescape=select_autoescape(("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static.url

    def render(registry: Registry, name: str, viewer: _Viewer, status: int = 200, **context: Any) -> HTMLResponse:
        page = env.get_template(f"{name}.html").render(
            nav=_NAV,
            fingerprint=registry.fingerprint,
            csrf=viewer.csrf,
            signed_in=viewer.signed_in,
            login_url="/ui/login" if viewer.token_required else "",
            **context,
        )
        return HTMLResponse(page, status_code=status, headers=_SECURITY_HEADERS)

    router.include_router(versions_pages(render, _viewer, _open_viewer))

    @router.get("/")
    def create_page(request: Request) -> Response:
        viewer = _viewer(request)
        if viewer is None:
            return _login_redirect(request)
        registry: Registry = _state(request).registry
        templates, _ = _state(request).scan_templates()
        runtimes = _runtime_views(registry)
        options = [
            _TemplateOption(t.name, t.runtime, t.default_model, t.runtime in registry.runtimes) for t in templates
        ]
        default = _state(request).settings.default_runtime
        selected = default if default in registry.runtimes else registry.runtimes[0]
        return render(
            registry,
            "create",
            viewer,
            page="create",
            title="Create a workspace",
            runtimes=runtimes,
            templates=options,
            selected_runtime=selected,
        )

    @router.get("/ui/workspaces")
    def workspaces_page(request: Request, cursor: str = "", page: str = "1") -> Response:
        viewer = _viewer(request)
        if viewer is None:
            return _login_redirect(request)
        cursor = cursor if len(cursor) <= _MAX_CURSOR else ""
        # The page number is only a label; a hand-edited one must not break the page.
        page_number = max(1, min(int(page), 1_000_000)) if cursor and page.isdigit() and len(page) < 8 else 1
        return render(
            _state(request).registry,
            "workspaces",
            viewer,
            page="workspaces",
            title="Workspaces",
            cursor=cursor,
            page_number=page_number,
            limit=PAGE_SIZE,
        )

    @router.get("/ui/workspaces/{workspace_id}")
    def workspace_page(request: Request, workspace_id: str) -> Response:
        viewer = _viewer(request)
        if viewer is None:
            return _login_redirect(request)
        known = len(workspace_id) <= _MAX_ID
        return render(
            _state(request).registry,
            "workspace",
            viewer,
            status=200 if known else 404,
            page="workspace",
            title="Workspace",
            workspace_id=workspace_id if known else "",
        )

    @router.get("/ui/registry")
    def registry_page(request: Request) -> Response:
        registry: Registry = _state(request).registry
        return render(
            registry,
            "registry",
            _open_viewer(request),
            page="registry",
            title="Registry",
            runtimes=registry.runtimes,
            providers=_provider_rows(registry),
            schema_version=registry.schema_version,
        )

    @router.get("/ui/drift")
    def drift_page(request: Request) -> Response:
        service = _state(request)
        registry: Registry = service.registry
        templates, problems = service.scan_templates()
        drifts: list[TemplateDrift] = [drift(registry, t) for t in templates]
        return render(
            registry,
            "drift",
            _open_viewer(request),
            page="drift",
            title="Template drift",
            drifts=drifts,
            problems=problems,
            templates_root=service.TEMPLATES_LABEL,
        )

    @router.get("/ui/login")
    def login_page(request: Request, next_path: Annotated[str, Query(alias="next")] = "/") -> Response:
        if _api_token(request) is None:
            return RedirectResponse(_safe_next(next_path), status_code=303)
        return _login_form(request, _safe_next(next_path))

    @router.post("/ui/login")
    async def login(request: Request) -> Response:
        token = _api_token(request)
        form = await _read_form(request)
        target = _safe_next(form.get("next"))
        if token is None:
            return RedirectResponse(target, status_code=303)
        if not _same_origin(request):
            return _login_form(request, target, "This sign-in came from another site and was refused.", 403)
        if form is _TOO_LARGE:
            return _login_form(request, target, f"The sign-in form was over {_MAX_FORM} bytes and was refused.", 413)
        offered = form.get("token", "")
        if not offered or not session.constant_time_equal(token, offered):
            return _login_form(
                request, target, "That token is not the service's API token. Check it and try again.", 401
            )
        response = RedirectResponse(target, status_code=303)
        session.set_cookie(response, request, session.issue(token))
        return response

    @router.post("/ui/logout")
    async def logout(request: Request) -> Response:
        token = _api_token(request)
        form = await _read_form(request)
        value = request.cookies.get(session.COOKIE_NAME, "")
        signed_in = token is not None and session.valid_session(token, value)
        expected = session.csrf_token(token, value) if token is not None and signed_in else ""
        if expected and not session.constant_time_equal(expected, form.get("csrf_token", "")):
            return Response(
                "Sign-out refused: the form's CSRF token is missing or wrong. Reload the page.",
                status_code=403,
                media_type="text/plain",
            )
        response = RedirectResponse("/ui/login" if token is not None else "/", status_code=303)
        session.clear_cookie(response, request)
        return response

    @router.get(STATIC_PREFIX + "{name}")
    def static_file(name: str) -> Response:
        found = static.files.get(name)
        if found is None:
            return Response(f"no console asset named {name!r}", status_code=404, media_type="text/plain")
        body, media, _ = found
        return Response(
            body,
            media_type=media,
            headers={"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"},
        )

    def _login_form(request: Request, target: str, error: str = "", status: int = 200) -> HTMLResponse:
        return render(
            _state(request).registry,
            "login",
            _Viewer(token_required=False),
            status=status,
            page="login",
            title="Sign in",
            next=target,
            error=error,
            session_hours=session.SESSION_SECONDS // 3600,
        )

    return router


_TOO_LARGE: dict[str, str] = {}


async def _read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form, first value per key; ``_TOO_LARGE`` (empty) past the size limit."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            return _TOO_LARGE
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in fields.items()}


def _same_origin(request: Request) -> bool:
    """A browser's Origin header, when sent, must name this host."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host
