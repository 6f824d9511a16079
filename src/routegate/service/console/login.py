"""Signing in and out of the console: the API token asked for once, kept as a signed session cookie.

See :mod:`routegate.service.console.session` for the cookie and its CSRF token.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from routegate.service.console import session
from routegate.service.console.dependencies import ConsoleState, State, Viewer
from routegate.service.console.rendering import render

__all__ = ["router"]

_MAX_FORM = 4096

router = APIRouter(include_in_schema=False)


class _FormTooLarge(Exception):
    pass


def _safe_next(value: str | None) -> str:
    """Only same-site console paths: never another origin (``//host``) or an absolute URL."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or len(value) > 1024:
        return "/"
    return value


async def _read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form, first value per key; raises _FormTooLarge past the size limit."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            raise _FormTooLarge()
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
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


def _login_form(state: ConsoleState, target: str, error: str = "", status: int = 200) -> HTMLResponse:
    return render(
        state.registry,
        "login",
        Viewer(token_required=False),
        status=status,
        title="Sign in",
        next=target,
        error=error,
        session_hours=session.SESSION_SECONDS // 3600,
    )


@router.get("/ui/login")
def login_page(state: State, next_path: Annotated[str, Query(alias="next")] = "/") -> Response:
    if state.settings.api_token is None:
        return RedirectResponse(_safe_next(next_path), status_code=303)
    return _login_form(state, _safe_next(next_path))


@router.post("/ui/login")
async def login(request: Request, state: State) -> Response:
    token = state.settings.api_token
    try:
        form = await _read_form(request)
    except _FormTooLarge:
        return _login_form(state, "/", f"The sign-in form was over {_MAX_FORM} bytes and was refused.", 413)
    target = _safe_next(form.get("next"))
    if token is None:
        return RedirectResponse(target, status_code=303)
    if not _same_origin(request):
        return _login_form(state, target, "This sign-in came from another site and was refused.", 403)
    offered = form.get("token", "")
    if not offered or not session.constant_time_equal(token, offered):
        return _login_form(state, target, "That token is not the service's API token. Check it and try again.", 401)
    response = RedirectResponse(target, status_code=303)
    session.set_cookie(response, request, session.issue(token))
    return response


@router.post("/ui/logout")
async def logout(request: Request, state: State) -> Response:
    token = state.settings.api_token
    try:
        form = await _read_form(request)
    except _FormTooLarge:
        form = {}
    value = request.cookies.get(session.COOKIE_NAME, "")
    expected = session.csrf_token(token, value) if token is not None and session.valid_session(token, value) else ""
    if expected and not session.constant_time_equal(expected, form.get("csrf_token", "")):
        return Response(
            "Sign-out refused: the form's CSRF token is missing or wrong. Reload the page.",
            status_code=403,
            media_type="text/plain",
        )
    response = RedirectResponse("/ui/login" if token is not None else "/", status_code=303)
    session.clear_cookie(response, request)
    return response
