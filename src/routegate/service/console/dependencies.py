"""What a console route is given: the service's state, typed by what the console reads, and the viewer.

The console sits below the service (the service mounts it), so it names what
it needs from ``app.state.routegate`` as a :class:`ConsoleState` protocol
rather than importing the service's class. Routes ask for :data:`State` and
:data:`PageViewer` / :data:`OpenViewer`; nothing else reads ``app.state``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, cast
from urllib.parse import quote

from fastapi import Depends, Request

from routegate.calendar import DatedRows
from routegate.registry import Registry
from routegate.service.console import session
from routegate.templates import Template

__all__ = [
    "ConsoleState",
    "LoginRequired",
    "OpenViewer",
    "PageViewer",
    "SessionViewer",
    "State",
    "Viewer",
]


class _Settings(Protocol):
    @property
    def api_token(self) -> str | None: ...
    @property
    def default_runtime(self) -> str: ...


class _TemplateProblem(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def message(self) -> str: ...


class _Listing(Protocol):
    """One page of workspaces and the cursors either side (see ``routegate.service.listing.Listing``)."""

    @property
    def items(self) -> list[dict[str, Any]]: ...
    @property
    def newer(self) -> str | None: ...
    @property
    def older(self) -> str | None: ...
    @property
    def matching(self) -> int: ...
    @property
    def capped(self) -> bool: ...


class _WorkspaceStore(Protocol):
    SEARCH_MIN: int
    COUNT_CAP: int

    def is_cursor(self, text: str) -> bool: ...
    def listing(
        self,
        *,
        limit: int,
        older_than: str | None = None,
        newer_than: str | None = None,
        name_contains: str | None = None,
        runtime: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        billing_mode: str | None = None,
        dated: DatedRows | None = None,
    ) -> _Listing: ...
    def dated(self, rows: DatedRows, *, listed: int) -> tuple[int, list[str]]: ...


class ConsoleState(Protocol):
    """The part of the service's state the console reads (see ``routegate.service.state``)."""

    TEMPLATES_LABEL: str

    @property
    def registry(self) -> Registry: ...
    @property
    def settings(self) -> _Settings: ...
    @property
    def store(self) -> _WorkspaceStore: ...
    def scan_templates(self) -> tuple[Sequence[Template], Sequence[_TemplateProblem]]: ...


def _state(request: Request) -> ConsoleState:
    return cast(ConsoleState, request.app.state.routegate)


State = Annotated[ConsoleState, Depends(_state)]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: whether a token guards the service, and the CSRF token of their session."""

    token_required: bool
    csrf: str = ""

    @property
    def signed_in(self) -> bool:
        return bool(self.csrf)


class LoginRequired(Exception):
    """A page that reads workspaces was asked for without a session; the console answers with the sign-in page."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def _session_viewer(request: Request, state: State) -> Viewer | None:
    token = state.settings.api_token
    if token is None:
        return Viewer(token_required=False)
    value = request.cookies.get(session.COOKIE_NAME)
    if value is None or not session.valid_session(token, value):
        return None
    return Viewer(token_required=True, csrf=session.csrf_token(token, value))


def _page_viewer(request: Request, state: State) -> Viewer:
    """The viewer of a page that shows or changes workspaces; raises LoginRequired without a session."""
    viewer = _session_viewer(request, state)
    if viewer is None:
        raise LoginRequired(_login_target(request))
    return viewer


def _open_viewer(request: Request, state: State) -> Viewer:
    """The viewer of a page anyone may see (registry, lookup, drift): signed in or not."""
    return _session_viewer(request, state) or Viewer(token_required=True)


PageViewer = Annotated[Viewer, Depends(_page_viewer)]
SessionViewer = Annotated[Viewer | None, Depends(_session_viewer)]
"""None without a valid session when a token guards the service: for forms that change something."""
OpenViewer = Annotated[Viewer, Depends(_open_viewer)]


def _login_target(request: Request) -> str:
    """The sign-in URL that comes back to this page afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/login?next={quote(here, safe='')}"
