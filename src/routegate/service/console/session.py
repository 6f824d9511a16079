"""The console's session cookie and CSRF token, derived from the API token.

The console asks a person for the service's API token once and keeps an
HMAC-signed session in an HttpOnly, SameSite=Strict cookie. Nothing is stored
server-side: every worker (and every machine sharing the database) can verify
a session with the token alone, and changing the token ends every session.

Unsafe requests authenticated by the cookie must also carry the CSRF token in
the ``X-CSRF-Token`` header. That token is an HMAC of the session value, so a
page only learns it when the server renders it into a signed-in page, and
another site can neither read nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "COOKIE_NAME",
    "CSRF_HEADER",
    "SESSION_SECONDS",
    "CsrfRefused",
    "authenticate",
    "clear_cookie",
    "constant_time_equal",
    "csrf_token",
    "issue",
    "set_cookie",
    "valid_session",
]

COOKIE_NAME = "routegate_console"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_COOKIE = 256  # a session is ~80 characters; anything longer is not ours


class CsrfRefused(Exception):
    """A valid console session made an unsafe request without its CSRF token."""

    code = "CSRF_TOKEN_INVALID"
    message = (
        f"this request came with the console's session cookie but without a valid {CSRF_HEADER} header; "
        "reload the console page, or authenticate with 'Authorization: Bearer <token>' instead"
    )


def _sign(token: str, purpose: str, value: str) -> str:
    message = f"routegate-console|{purpose}|{value}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def constant_time_equal(expected: str, offered: str) -> bool:
    """Compare a secret (the API token, a CSRF token) without leaking how much of it matched."""
    return hmac.compare_digest(expected.encode(), offered.encode())


def issue(token: str, *, now: float | None = None) -> str:
    """A fresh session value: issue time, a random nonce, and their signature."""
    issued = int(time.time() if now is None else now)
    payload = f"{issued}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_sign(token, 'session', payload)}"


def valid_session(token: str, value: str | None, *, now: float | None = None) -> bool:
    """Whether ``value`` is a session this token signed, no older than SESSION_SECONDS."""
    if not value or len(value) > _MAX_COOKIE or value.count(".") != 2:
        return False
    payload, _, signature = value.rpartition(".")
    if not hmac.compare_digest(signature.encode(), _sign(token, "session", payload).encode()):
        return False
    issued = payload.partition(".")[0]
    if not issued.isdigit():
        return False
    age = (time.time() if now is None else now) - int(issued)
    return 0 <= age <= SESSION_SECONDS


def csrf_token(token: str, session_value: str) -> str:
    """The CSRF token bound to one session."""
    return _sign(token, "csrf", session_value)


def authenticate(request: Request, token: str) -> bool:
    """True when the request carries a valid console session, with its CSRF token if unsafe.

    Raises :class:`CsrfRefused` when the session is valid but an unsafe
    request lacks the matching ``X-CSRF-Token`` header.
    """
    value = request.cookies.get(COOKIE_NAME)
    if not valid_session(token, value):
        return False
    assert value is not None
    unsafe = request.method not in _SAFE_METHODS
    if unsafe and not constant_time_equal(csrf_token(token, value), request.headers.get(CSRF_HEADER, "")):
        raise CsrfRefused()
    return True


def set_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
