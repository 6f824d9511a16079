"""ASGI middleware: the Host check of a tokenless service, the refusal of cross-site
requests, a hard cap on request bodies, and Server-Timing on every response.

The cap reads the body before any route sees it, so an oversized upload is
refused with 413 whether or not it declared its length. Server-Timing reports
the time the app took and, for gated requests, the gate decision's share
(``gate``), which is how the benchmark measures it from outside.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_errors import ServiceCode, response

__all__ = ["GATE_SECONDS", "SAFE_METHODS", "BodyLimit", "CrossSiteGuard", "LoopbackHosts", "ServerTiming"]

GATE_SECONDS = "routegate_gate_seconds"  # key in scope["state"] a route sets
_HOST_ADMITTED = "routegate.host_admitted"  # scope key: Starlette's check let the request through
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class LoopbackHosts(TrustedHostMiddleware):
    """Starlette's Host check, refusing in the service's JSON error shape.

    A tokenless service trusts every caller that reaches it, so it must only be
    reached as itself: a page on attacker.example whose name was rebound to
    127.0.0.1 still sends ``Host: attacker.example`` and is refused here.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        async def admitted(scope: Scope, receive: Receive, send: Send) -> None:
            scope[_HOST_ADMITTED] = True
            await app(scope, receive, send)

        super().__init__(admitted, allowed_hosts=allowed_hosts, www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def unless_refused(message: Message) -> None:
            if scope.get(_HOST_ADMITTED):
                await send(message)

        await super().__call__(scope, receive, unless_refused)
        if scope["type"] == "http" and not scope.get(_HOST_ADMITTED):
            host = Headers(scope=scope).get("host", "")
            refusal = response(
                ServiceCode.HOST_NOT_ALLOWED,
                f"Host header {host[:100]!r} is not this service: without an API token it answers only "
                f"to {', '.join(self.allowed_hosts)} (any port); use http://127.0.0.1:<port>/, "
                "or set ROUTEGATE_API_TOKEN",
                host=host[:100],
                allowed_hosts=self.allowed_hosts,
            )
            await refusal(scope, receive, send)


def _same_origin(origin: str, host: str) -> bool:
    """Whether a browser's ``Origin`` names the host the request was sent to (default ports elided)."""
    parts = urlsplit(origin)
    default = _DEFAULT_PORTS.get(parts.scheme)
    if default is None or not parts.netloc or parts.path or parts.query:
        return False  # "null" (a sandboxed page, a file), or not an origin at all

    def authority(netloc: str) -> str:
        netloc = netloc.lower()
        return netloc.removesuffix(f":{default}")

    return authority(parts.netloc) == authority(host)


class CrossSiteGuard:
    """Refuse unsafe requests a page on another site made a browser send.

    A browser marks every request with where it came from: ``Origin`` on unsafe
    methods, ``Sec-Fetch-Site`` on all of them. A tokenless service on 127.0.0.1
    trusts its callers, so without this a page anywhere could POST to it with a
    simple ``text/plain`` request, which needs no CORS permission. Requests
    without either header (curl, programs) are not a browser's and pass.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            host = headers.get("host", "")
            why = None
            if headers.get("sec-fetch-site") == "cross-site":
                why = "the browser marked it Sec-Fetch-Site: cross-site"
            elif origin is not None and not _same_origin(origin, host):
                why = f"its Origin {origin[:100]!r} is not this service ({host[:100]!r})"
            if why is not None:
                refusal = response(
                    ServiceCode.CROSS_SITE_REQUEST,
                    f"{scope['method']} refused: {why}. Unsafe requests must come from this service's own pages "
                    "or from a program (which sends no Origin)",
                    origin=None if origin is None else origin[:100],
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _refuse_too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """413 in the problem shape, sent at once and without ``Connection: close``.

    The rest of the body is not read: uvicorn drops whatever the client still sends once the
    answer is complete, and keeps the connection. Closing it instead (or answering after
    reading everything) is what made a large upload end in a reset the client never saw
    the answer through: the client is still writing, and a close with unread data resets.
    """
    refusal = response(
        ServiceCode.BODY_TOO_LARGE,
        f"request body is over the {limit // 1024} KiB limit ({limit} bytes); send a smaller body",
        limit=limit,
    )
    await refusal(scope, receive, send)


class BodyLimit:
    """Refuse a request body over ``limit`` bytes, declared or streamed, before any route sees it."""

    def __init__(self, app: ASGIApp, limit: int = 64 * 1024) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _refuse_too_large(scope, receive, send, self.limit)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _refuse_too_large(scope, receive, send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                metrics = [f"app;dur={(time.perf_counter() - started) * 1000:.3f}"]
                gate = state.get(GATE_SECONDS)
                if gate is not None:
                    metrics.append(f"gate;dur={gate * 1000:.4f}")
                message["headers"] = [*message.get("headers", []), (b"server-timing", ", ".join(metrics).encode())]
            await send(message)

        await self.app(scope, receive, timed)
