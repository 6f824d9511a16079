"""The workspaces pages: the list (newest first, searchable, filterable, paged) and one workspace.

The list is rendered from the store, a page at a time by keyset: its links carry the
cursor of the row they continue from (the API's cursors), so every page costs the same
however deep it is, and the count stops at the store's cap. One workspace's page loads
it, changes its model and deletes it through the JSON API in the browser, so every
change passes the service's own gates, token and CSRF checks.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse

from routegate.billing import BillingMode
from routegate.calendar import DatedChange, DatedRows, dated_rows, stages_on
from routegate.lifecycle import today
from routegate.registry import Registry
from routegate.service.console.dependencies import PageViewer, State
from routegate.service.console.rendering import render
from routegate.service.console.views import BILLING_LABELS, provider_env_json

__all__ = ["LISTED_WORKSPACES", "PAGE_SIZE", "Reader", "WorkspaceFilters", "reached", "router", "workspaces_link"]

PAGE_SIZE = 20
_MAX_ID = 200
_LIMITS = {"q": 200, "runtime": 64, "model": 256, "provider": 64}
DATED = "dated"
"""The lifecycle filter's value: workspaces whose model is deprecated or retired (today, or ``on``)."""
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})  # what no stored name or value holds (see service.schemas)

LISTED_WORKSPACES = 100
"""How many of the workspaces a lifecycle change reaches are named (the newest); the count has them all."""

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class WorkspaceFilters:
    """The list's filters, as query parameters, so a filtered view is a link."""

    q: str = ""
    runtime: str = ""
    model: str = ""
    provider: str = ""
    billing: str = ""
    lifecycle: str = ""
    on: str = ""  # the lifecycle filter's day (blank: today)

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def query(self, **extra: str | None) -> str:
        """This view's query string (filters that are set, then ``extra``), for links that keep it."""
        pairs = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}
        return urlencode({**pairs, **{k: v for k, v in extra.items() if v is not None}})


def _filters(
    q: str, runtime: str, model: str, provider: str, billing: str, search_min: int
) -> tuple[WorkspaceFilters, list[str]]:
    """The filters asked for, with a notice for each one that cannot be used (it is dropped)."""
    notices = []
    given = {"q": q.strip(), "runtime": runtime.strip(), "model": model.strip(), "provider": provider.strip()}
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


def _dated(lifecycle: str, on: str) -> tuple[dict[str, str], list[str]]:
    """The lifecycle filter asked for, with a notice for a value it cannot use (dropped)."""
    if lifecycle not in ("", DATED):
        return {}, [f"lifecycle={lifecycle[:40]!r} is not a lifecycle filter and was ignored; use lifecycle={DATED}."]
    if not on:
        return {"lifecycle": lifecycle}, []
    if not lifecycle:
        return {}, [f"on={on[:20]!r} dates the lifecycle filter, which is not set; ignored."]
    try:
        day = date.fromisoformat(on)
    except ValueError:
        return {"lifecycle": lifecycle}, [f"on={on[:20]!r} is not a UTC date YYYY-MM-DD; showing today's models."]
    return {"lifecycle": lifecycle, "on": day.isoformat()}, []


def _reached(registry: Registry, filters: WorkspaceFilters) -> DatedRows | None:
    """The rows the lifecycle filter keeps: those whose model is deprecated or retired on its day."""
    if not filters.lifecycle:
        return None
    day = date.fromisoformat(filters.on) if filters.on else today()
    return dated_rows(registry, stages_on(registry, day))


def workspaces_link(change: DatedChange) -> str:
    """This list, filtered to the workspaces ``change`` reaches: on its runtime, running its ids, dated on its day."""
    subject = {"model": change.entry.model} if change.entry.model is not None else {"provider": change.entry.provider}
    query = {"runtime": change.runtime, **subject, "lifecycle": DATED, "on": change.on.isoformat()}
    return "/ui/workspaces?" + urlencode(query)


Reader = Callable[[DatedRows], tuple[int, list[str]]]
"""Reads the stored workspaces some rows reach: their count and the newest :data:`LISTED_WORKSPACES` ids."""


def reached(read: Reader | None, registry: Registry, changes: Iterable[DatedChange]) -> list[dict[str, Any]]:
    """Each change as the API and ``routegate lifecycle`` show it, with the stored workspaces it
    reaches, its count and the link to their list (``read`` None: the workspaces are not read)."""
    shown = []
    for change in changes:
        count, newest = (None, []) if read is None else read(dated_rows(registry, (change,)))
        answer = replace(change, workspaces=tuple(newest)).to_dict()
        answer.update(
            workspace_count=count, workspaces_link=workspaces_link(change), strands=change.strands and bool(count)
        )
        shown.append(answer)
    return shown


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
    model: Annotated[str, Query()] = "",
    provider: Annotated[str, Query()] = "",
    billing: Annotated[str, Query()] = "",
    lifecycle: Annotated[str, Query()] = "",
    on: Annotated[str, Query()] = "",
    older_than: Annotated[str, Query()] = "",
    newer_than: Annotated[str, Query()] = "",
) -> HTMLResponse:
    registry = state.registry
    filters, notices = _filters(q, runtime, model, provider, billing, state.store.SEARCH_MIN)
    dated, dated_notices = _dated(lifecycle, on)
    filters = replace(filters, **dated)
    older, newer, page_notices = _position(state, older_than, newer_than)
    listing = state.store.listing(
        limit=PAGE_SIZE,
        older_than=older,
        newer_than=newer,
        name_contains=filters.q or None,
        runtime=filters.runtime or None,
        model=filters.model or None,
        provider=filters.provider or None,
        billing_mode=filters.billing or None,
        dated=_reached(registry, filters),
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
        notices=[*notices, *dated_notices, *page_notices],
        # A filter value the lists no longer hold (a runtime removed by a reload) stays selectable.
        runtime_options=_with(runtimes, filters.runtime),
        provider_options=_with(providers, filters.provider),
        billing_options=[(mode.value, label) for mode, label in BILLING_LABELS.items()],
        dated_value=DATED,
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
