"""Checks a route runs on the request before FastAPI reads it, as a route class.

``APIRouter(route_class=guarded_route(require_access, require_json))`` means the
same as ``dependencies=[Depends(require_access), Depends(require_json)]`` for
checks that take only the request and return nothing, and costs a call each.
FastAPI solves every dependency again on each request (its parameters, headers,
query and cookies, its cache key), which on the create path cost more than the
create's own database work; the workspace routes are the hot ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["Check", "guarded_route"]

Check = Callable[[Request], Awaitable[None]]


def guarded_route(*checks: Check) -> type[APIRoute]:
    """A route class whose handler awaits ``checks`` in order, then runs the route as FastAPI would.

    A check refuses by raising; the refusal goes to the app's exception handlers like
    any error a route raises.
    """

    class GuardedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                for check in checks:
                    await check(request)
                return await handler(request)

            return guarded

    return GuardedRoute
