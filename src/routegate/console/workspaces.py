"""The workspaces pages: the list (newest first, searchable, filterable, paged) and one workspace.

The list is rendered from the store; one workspace's page loads it, changes
its model and deletes it through the JSON API in the browser, so every change
passes the service's own gates, token and CSRF checks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse

from routegate.billing import BillingMode
from routegate.console.dependencies import PageViewer, State
from routegate.console.rendering import render
from routegate.console.views import BILLING_LABELS, provider_env_json

__all__ = ["PAGE_SIZE", "WorkspaceFilters", "router"]

PAGE_SIZE = 20
_MAX_PAGE = 1_000_000
_MAX_ID = 200
_LIMITS = {"q": 200, "runtime": 64, "provider": 64}

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

    def query(self, **extra: str | int) -> str:
        """This view's query string (filters that are set, then ``extra``), for links that keep it."""
        pairs = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}
        return urlencode({**pairs, **{k: v for k, v in extra.items() if v}})


def _filters(q: str, runtime: str, provider: str, billing: str) -> tuple[WorkspaceFilters, list[str]]:
    """The filters asked for, with a notice for each one that cannot be used (it is dropped)."""
    notices = []
    given = {"q": q.strip(), "runtime": runtime.strip(), "provider": provider.strip()}
    for name, value in given.items():
        if len(value) > _LIMITS[name]:
            notices.append(f"The {name} filter is longer than {_LIMITS[name]} characters and was ignored.")
            given[name] = ""
    if billing and billing not in BillingMode.__members__.values():
        accepted = ", ".join(f"{mode.value} ({label})" for mode, label in BILLING_LABELS.items())
        notices.append(f"billing={billing[:40]!r} is not a billing mode and was ignored; use one of: {accepted}.")
        billing = ""
    return WorkspaceFilters(billing=billing, **given), notices


def _page_number(page: str) -> tuple[int, list[str]]:
    if not page:
        return 1, []
    if page.isdigit() and len(page) <= 7 and 1 <= int(page) <= _MAX_PAGE:
        return int(page), []
    return 1, [f"page={page[:20]!r} is not a page number; showing the first page."]


@router.get("/ui/workspaces")
def workspaces_page(
    state: State,
    viewer: PageViewer,
    q: Annotated[str, Query()] = "",
    runtime: Annotated[str, Query()] = "",
    provider: Annotated[str, Query()] = "",
    billing: Annotated[str, Query()] = "",
    page: Annotated[str, Query()] = "",
) -> HTMLResponse:
    registry = state.registry
    filters, notices = _filters(q, runtime, provider, billing)
    number, page_notices = _page_number(page)
    items, total = state.store.listing(
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
        name_contains=filters.q or None,
        runtime=filters.runtime or None,
        provider=filters.provider or None,
        billing_mode=filters.billing or None,
    )
    pages = max(1, -(-total // PAGE_SIZE))
    runtimes = list(dict.fromkeys((*registry.runtimes, *state.settings.foreign_runtimes)))
    providers = list(registry.catalog)
    return render(
        registry,
        "workspaces",
        viewer,
        title="Workspaces",
        items=items,
        total=total,
        filters=filters,
        notices=[*notices, *page_notices],
        page_number=number,
        pages=pages,
        first_shown=(number - 1) * PAGE_SIZE + 1,
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
