"""Checks a route runs on the request before FastAPI reads it, as a route class; and lanes,
the routes that skip FastAPI altogether.

``APIRouter(route_class=guarded_route(require_access, require_json))`` means the
same as ``dependencies=[Depends(require_access), Depends(require_json)]`` for
checks that take only the request and return nothing, and costs a call each.
FastAPI solves every dependency again on each request (its parameters, headers,
query and cookies, its cache key), which on the create path cost more than the
create's own database work; the workspace routes are the hot ones.

A :func:`lane` goes further, for the requests sent most: the two a gateway sends for
every call (``POST /calls/authorize`` before it and the usage report after it), and
``POST /workspaces``. :class:`.middleware.Front` hands each the request without the router, FastAPI's
request handling or its middleware, and its errors are answered by the app's own
exception handlers, so its refusals are the same.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Check", "guarded_route", "json_body", "lane", "path_problems"]

Model = TypeVar("Model", bound=BaseModel)

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


def lane(*checks: Check, endpoint: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """An ASGI app that awaits ``checks``, then ``endpoint``, outside the router.

    An error with a handler of its own (a refusal, invalid fields, the database away) is
    answered by that handler, as the router's routes are; any other by the app's handler
    of last resort, which logs it and answers 500. A lane runs outside FastAPI's stack,
    so nothing above it would.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            for check in checks:
                await check(request)
            response = await endpoint(request)
        except Exception as error:
            response = await _handler(request, error)(request, error)
        await response(scope, receive, send)

    return app


def _handler(request: Request, error: Exception) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The app's handler for ``error``: its nearest class's, else the one for any Exception."""
    handlers = request.app.exception_handlers
    for kind in type(error).__mro__:
        if kind in handlers:
            return handlers[kind]  # type: ignore[no-any-return]
    raise error  # no handler of last resort: the server's own 500


async def json_body(model: type[Model], request: Request) -> Model:
    """The request's JSON body as ``model``, refused as FastAPI refuses a body parameter's:
    RequestValidationError with each problem under ``body``, HTTPException 400 for bytes
    that are not text. For a lane, whose checks have made sure the body is JSON."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        problem = {"type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**problem, "ctx": {"error": error.msg}}]) from None
    except ValueError:  # not UTF-8 (nor UTF-16 or -32)
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from None
    try:
        return model.model_validate(value, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as invalid:
        problems = invalid.errors(include_url=False)
        raise RequestValidationError([{**item, "loc": ("body", *item["loc"])} for item in problems]) from None


def path_problems(annotation: Any, name: str, value: str) -> list[dict[str, Any]]:
    """What FastAPI would say of path parameter ``name`` declared as ``annotation`` (its
    ``Path(...)`` constraints), each problem under ``("path", name)``; none when it is valid."""
    try:
        _adapter(annotation).validate_python(value)
    except ValidationError as invalid:
        return [{**item, "loc": ("path", name, *item["loc"])} for item in invalid.errors(include_url=False)]
    return []


@cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)
