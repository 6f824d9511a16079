"""The workspaces pages: the list (newest first, searchable, filterable, paged) and one workspace.

The list is rendered from the store, a page at a time by keyset: its links carry the
cursor of the row they continue from (the API's cursors), so every page costs the same
however deep it is, and the count stops at the store's cap. One workspace's page loads
it, changes its model and deletes it through the JSON API in the browser, so every
change passes the service's own gates, token and CSRF checks.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse

from routegate.billing import BillingMode
from routegate.service.console.dependencies import PageViewer, State
from routegate.service.console.rendering import render
from routegate.service.console.views import BILLING_LABELS, provider_env_json

__all__ = ["PAGE_SIZE", "WorkspaceFilters", "router"]

PAGE_SIZE = 20
_MAX_ID = 200
_LIMITS = {"q": 200, "runtime": 64, "provider": 64}
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})  # what no stored name or value holds (see service.schemas)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class WorkspaceFilters:
    """The list's filters, as query parameters, so a filtered view is a link."""

    q: str = ""
    runtime: str = ""
    provider: str = ""
    billing: str = ""

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def query(self, **extra: str | None) -> str:
        """This view's query string (filters that are set, then ``extra``), for links that keep it."""
        pairs = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}
        return urlencode({**pairs, **{k: v for k, v in extra.items() if v is not None}})


def _filters(q: str, runtime: str, provider: str, billing: str, search_min: int) -> tuple[WorkspaceFilters, list[str]]:
    """The filters asked for, with a notice for each one that cannot be used (it is dropped)."""
    notices = []
    given = {"q": q.strip(), "runtime": runtime.strip(), "provider": provider.strip()}
    for name, value in given.items():
        if len(value) > _LIMITS[name]:
            notices.append(f"The {name} filter is longer than {_LIMITS[name]} characters and was ignored.")
            given[name] = ""
        elif any(unicodedata.category(char) in _HIDDEN for char in value):
            notices.append(f"The {name} filter holds a control or format character, which no workspace has; ignored.")
            given[name] = ""
    if 0 < len(given["q"]) < search_min:
        notices.append(
            f"Name searches need at least {search_min} characters; {given['q']!r} was ignored. "
            "Type more of the name to search for it."
        )
        given["q"] = ""
    if billing and billing not in BillingMode.__members__.values():
        accepted = ", ".join(f"{mode.value} ({label})" for mode, label in BILLING_LABELS.items())
        notices.append(f"billing={billing[:40]!r} is not a billing mode and was ignored; use one of: {accepted}.")
        billing = ""
    return WorkspaceFilters(billing=billing, **given), notices


def _position(state: State, older_than: str, newer_than: str) -> tuple[str | None, str | None, list[str]]:
    """The page asked for as (older_than, newer_than); the first page, with a notice, for a cursor that is none."""
    given = {name: value for name, value in (("older_than", older_than), ("newer_than", newer_than)) if value}
    if not given:
        return None, None, []
    if len(given) > 1:
        return None, None, ["A page is older_than a row or newer_than one, not both; showing the first page."]
    ((name, cursor),) = given.items()
    if not state.store.is_cursor(cursor):
        return None, None, [f"{name}={cursor[:20]!r} is not a page cursor; showing the first page."]
    return given.get("older_than"), given.get("newer_than"), []


@router.get("/ui/workspaces")
def workspaces_page(
    state: State,
    viewer: PageViewer,
    q: Annotated[str, Query()] = "",
    runtime: Annotated[str, Query()] = "",
    provider: Annotated[str, Query()] = "",
    billing: Annotated[str, Query()] = "",
    older_than: Annotated[str, Query()] = "",
    newer_than: Annotated[str, Query()] = "",
) -> HTMLResponse:
    registry = state.registry
    filters, notices = _filters(q, runtime, provider, billing, state.store.SEARCH_MIN)
    older, newer, page_notices = _position(state, older_than, newer_than)
    listing = state.store.listing(
        limit=PAGE_SIZE,
        older_than=older,
        newer_than=newer,
        name_contains=filters.q or None,
        runtime=filters.runtime or None,
        provider=filters.provider or None,
        billing_mode=filters.billing or None,
    )
    runtimes = list(registry.known_runtimes)
    providers = list(registry.catalog)
    return render(
        registry,
        "workspaces",
        viewer,
        title="Workspaces",
        listing=listing,
        count_cap=state.store.COUNT_CAP,
        first_page=older is None and newer is None,
        filters=filters,
        notices=[*notices, *page_notices],
        # A filter value the lists no longer hold (a runtime removed by a reload) stays selectable.
        runtime_options=_with(runtimes, filters.runtime),
        provider_options=_with(providers, filters.provider),
        billing_options=[(mode.value, label) for mode, label in BILLING_LABELS.items()],
    )


def _with(options: list[str], chosen: str) -> list[str]:
    return options if not chosen or chosen in options else [*options, chosen]


@router.get("/ui/workspaces/{workspace_id}")
def workspace_page(workspace_id: str, state: State, viewer: PageViewer) -> HTMLResponse:
    """The page shell; the browser loads the workspace from the API (a missing one says so there)."""
    registry = state.registry
    known = len(workspace_id) <= _MAX_ID
    return render(
        registry,
        "workspace",
        viewer,
        status=200 if known else 404,
        title="Workspace",
        workspace_id=workspace_id if known else "",
        provider_env=provider_env_json(registry),
    )
