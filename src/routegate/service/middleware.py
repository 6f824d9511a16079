"""The service's one ASGI middleware, :class:`Front`: the Host check of a tokenless service,
the refusal of cross-site requests, a hard cap on request bodies, Server-Timing on every
response, and the lanes that skip the router.

One layer instead of one per concern: each layer of a pure-ASGI stack costs a call on
the way in and another for every message on the way out, and on the call gate's hot
path those calls cost more than the decision. The checks run in order, each refusing in
the service's JSON error shape before anything else runs: Host, then cross-site, then
the body cap, which reads the body before any route sees it, so an oversized upload is
refused with 413 whether or not it declared its length. Server-Timing reports the time
the app took and, for gated requests, the gate decision's share (``gate``), which is
how the benchmarks measure it from outside.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette._utils import parse_host_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_errors import ServiceCode, response

__all__ = ["GATE_SECONDS", "SAFE_METHODS", "Front"]

GATE_SECONDS = "routegate_gate_seconds"  # key in scope["state"] a route sets
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_LOOKED_AT = frozenset({b"host", b"origin", b"sec-fetch-site"})


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


def _cross_site(method: str, headers: Mapping[bytes, bytes]) -> tuple[str, str | None] | None:
    """Why an unsafe request is a page on another site's (and its Origin), or None.

    A browser marks every request with where it came from: ``Origin`` on unsafe methods,
    ``Sec-Fetch-Site`` on all of them. A tokenless service on 127.0.0.1 trusts its callers,
    so without this a page anywhere could POST to it with a simple ``text/plain`` request,
    which needs no CORS permission. Requests without either header (curl, programs) are
    not a browser's and pass.
    """
    if method in SAFE_METHODS:
        return None
    raw_origin = headers.get(b"origin")
    origin = None if raw_origin is None else raw_origin.decode("latin-1")
    host = headers.get(b"host", b"").decode("latin-1")
    if headers.get(b"sec-fetch-site") == b"cross-site":
        return "the browser marked it Sec-Fetch-Site: cross-site", origin
    if origin is not None and not _same_origin(origin, host):
        return f"its Origin {origin[:100]!r} is not this service ({host[:100]!r})", origin
    return None


class Front:
    """Checks every request before the app runs, and sends some straight to their lane.

    ``allowed_hosts``: the Host names a tokenless service answers to (None: any). Such a
    service trusts every caller that reaches it, so it must only be reached as itself: a
    page on attacker.example whose name was rebound to 127.0.0.1 still sends
    ``Host: attacker.example`` and is refused here. ``lanes`` maps (method, path) to an
    ASGI app that serves that request instead of the router, after the same checks. A
    path may name a segment, ``/calls/receipts/{receipt_id}/usage``: the lane reads it
    from the request's ``path_params``, as a route does.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        allowed_hosts: Sequence[str] | None = None,
        lanes: Mapping[tuple[str, str], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.allowed_hosts = None if allowed_hosts is None else [host.lower() for host in allowed_hosts]
        self.lanes = {key: lane for key, lane in (lanes or {}).items() if "{" not in key[1]}
        self.named = [(method, _segments(path), lane) for (method, path), lane in (lanes or {}).items() if "{" in path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _first_of_each(scope["headers"])
        if self.allowed_hosts is not None and not self._host_allowed(headers.get(b"host")):
            if scope["type"] == "http":
                await self._refuse_host(headers, scope, receive, send)
            return  # a WebSocket from another Host is closed unanswered
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cross_site = _cross_site(scope["method"], headers)
        if cross_site is not None:
            why, origin = cross_site
            refusal = response(
                ServiceCode.CROSS_SITE_REQUEST,
                f"{scope['method']} refused: {why}. Unsafe requests must come from this service's own pages "
                "or from a program (which sends no Origin)",
                origin=None if origin is None else origin[:100],
            )
            await refusal(scope, receive, send)
            return
        await self._timed(scope, receive, send)

    def _host_allowed(self, host: bytes | None) -> bool:
        parsed = parse_host_header(None if host is None else host.decode("latin-1"))
        return parsed is not None and self.allowed_hosts is not None and parsed.host.lower() in self.allowed_hosts

    async def _refuse_host(self, headers: Mapping[bytes, bytes], scope: Scope, receive: Receive, send: Send) -> None:
        host = headers.get(b"host", b"").decode("latin-1")
        allowed = self.allowed_hosts or []
        refusal = response(
            ServiceCode.HOST_NOT_ALLOWED,
            f"Host header {host[:100]!r} is not this service: without an API token it answers only "
            f"to {', '.join(allowed)} (any port); use http://127.0.0.1:<port>/, "
            "or set ROUTEGATE_API_TOKEN",
            host=host[:100],
            allowed_hosts=allowed,
        )
        await refusal(scope, receive, send)

    async def _body(self, receive: Receive) -> bytes | None:
        """The whole body, or as much as shows it is over the limit; None if the client left."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.limit or not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _refuse_too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """413 in the problem shape, sent at once and without ``Connection: close``.

        The rest of the body is not read: uvicorn drops whatever the client still sends once the
        answer is complete, and keeps the connection. Closing it instead (or answering after
        reading everything) is what made a large upload end in a reset the client never saw
        the answer through: the client is still writing, and a close with unread data resets.
        """
        refusal = response(
            ServiceCode.BODY_TOO_LARGE,
            f"request body is over the {self.limit // 1024} KiB limit ({self.limit} bytes); send a smaller body",
            limit=self.limit,
        )
        await refusal(scope, receive, send)

    async def _timed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The body cap, then the lane or the app, with Server-Timing added to the response's headers."""
        state: dict[str, Any] = scope.setdefault("state", {})
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                timing = f"app;dur={(time.perf_counter() - started) * 1000:.3f}"
                gate = state.get(GATE_SECONDS)
                if gate is not None:
                    timing += f", gate;dur={gate * 1000:.4f}"
                message["headers"] = [*message.get("headers", []), (b"server-timing", timing.encode())]
            await send(message)

        if any(
            key == b"content-length" and value.isdigit() and int(value) > self.limit for key, value in scope["headers"]
        ):
            await self._refuse_too_large(scope, receive, timed)
            return
        body = await self._body(receive)
        if body is None:
            return  # the client left
        if len(body) > self.limit:
            await self._refuse_too_large(scope, receive, timed)
            return
        lane = self.lanes.get((scope["method"], scope["path"])) or self._named_lane(scope)
        await (self.app if lane is None else lane)(scope, _replay(body, receive), timed)

    def _named_lane(self, scope: Scope) -> ASGIApp | None:
        """The lane whose path names segments, if one matches; they go to ``path_params``."""
        for method, pattern, lane in self.named:
            found = pattern.fullmatch(scope["path"]) if method == scope["method"] else None
            if found is not None:
                scope["path_params"] = found.groupdict()
                return lane
        return None


def _segments(path: str) -> re.Pattern[str]:
    """``/a/{name}/b`` as a pattern whose group ``name`` is one whole path segment."""
    parts = re.split(r"\{(\w+)\}", path)  # literal, name, literal, ...: the names at odd places
    pattern = "".join(f"(?P<{part}>[^/]+)" if place % 2 else re.escape(part) for place, part in enumerate(parts))
    return re.compile(pattern)


def _first_of_each(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The headers the checks read, each its first value (as Starlette's ``Headers.get``)."""
    found: dict[bytes, bytes] = {}
    for key, value in headers:
        if key in _LOOKED_AT and key not in found:
            found[key] = value
    return found


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body read already, then whatever the client sends next (a disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
