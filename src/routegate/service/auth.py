"""Who may call the protected endpoints: one check, :func:`require_access`.

With ``ROUTEGATE_API_TOKEN`` set, a request needs ``Authorization: Bearer
<token>``, compared in constant time. Without a token the service only ever
listens on loopback (``routegate serve`` refuses anything else), so every
local caller is trusted.

The web console's session cookie (see :mod:`routegate.service.console.session`) is
accepted instead of the header; unsafe requests must then carry its CSRF token.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from routegate.service.console import session as console_session

from .http_errors import ServiceCode, ServiceError

__all__ = ["bearer_matches", "may_read_workspaces", "require_access"]


def bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def may_read_workspaces(request: Request) -> bool:
    """Whether a safe request would pass :func:`require_access`: an open read (the registry's) adds
    what it knows of stored workspaces only for callers who may read them."""
    token = request.app.state.routegate.settings.api_token
    return (
        token is None
        or bearer_matches(request, token)
        or console_session.valid_session(token, request.cookies.get(console_session.COOKIE_NAME))
    )


async def require_access(request: Request) -> None:
    """The check guarding /workspaces*, /decisions (as their route class's first step, see
    :mod:`.guards`) and the registry's writes (as a dependency).

    ``async`` though it never waits: FastAPI runs a plain function in a worker thread,
    a hop per request that costs more than the check."""
    token = request.app.state.routegate.settings.api_token
    if token is None or bearer_matches(request, token):
        return
    try:
        if console_session.authenticate(request, token):
            return
    except console_session.CsrfRefused as refused:
        raise ServiceError(ServiceCode.CSRF_TOKEN_INVALID, refused.message) from None
    raise ServiceError(
        ServiceCode.UNAUTHORIZED,
        "this endpoint needs 'Authorization: Bearer <token>' with the service's ROUTEGATE_API_TOKEN",
        headers={"WWW-Authenticate": "Bearer"},
    )
