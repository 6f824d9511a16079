"""The registry's pages: create a workspace, the registry matrix, a runtime's menu, model lookup, drift.

Each is rendered from the registry the request reads once (a reload swaps it
whole); the create page's live check and create go through the JSON API.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse

from routegate.service.console.dependencies import OpenViewer, PageViewer, State
from routegate.service.console.rendering import render
from routegate.service.console.views import (
    drift_cards,
    lookup_rows,
    provider_env_json,
    provider_rows,
    runtime_view,
    template_options,
)
from routegate.service.console.workspace_pages import LISTED_WORKSPACES, reached

__all__ = ["MAX_MODEL_LENGTH", "router"]

MAX_MODEL_LENGTH = 256
"""The longest model id the API accepts; the lookup refuses longer ones the same way."""

LIFECYCLE_WINDOW_DAYS = 90
"""How far ahead the lifecycle page looks by default."""

router = APIRouter(include_in_schema=False)


@router.get("/")
def create_page(state: State, viewer: PageViewer) -> HTMLResponse:
    registry = state.registry
    templates, _ = state.scan_templates()
    default = state.settings.default_runtime
    return render(
        registry,
        "create",
        viewer,
        title="Create a workspace",
        runtimes=tuple(runtime_view(registry, rt) for rt in registry.runtimes),
        templates=template_options(registry, templates),
        selected_runtime=default if default in registry.runtimes else registry.runtimes[0],
        provider_env=provider_env_json(registry),
    )


@router.get("/ui/registry")
def registry_page(state: State, viewer: OpenViewer) -> HTMLResponse:
    registry = state.registry
    return render(
        registry,
        "registry",
        viewer,
        title="Registry",
        runtimes=registry.runtimes,
        providers=provider_rows(registry),
        schema_version=registry.schema_version,
    )


@router.get("/ui/runtimes/{runtime}")
def runtime_page(runtime: str, state: State, viewer: OpenViewer) -> HTMLResponse:
    registry = state.registry
    known = runtime in registry.runtimes
    return render(
        registry,
        "runtime",
        viewer,
        status=200 if known else 404,
        title=f"Menu of {runtime}" if known else "Unknown runtime",
        runtime=runtime_view(registry, runtime) if known else None,
        asked=runtime[:64],
        runtimes=registry.runtimes,
    )


@router.get("/ui/lookup")
def lookup_page(state: State, viewer: OpenViewer, model: Annotated[str, Query()] = "") -> HTMLResponse:
    registry = state.registry
    model = model.strip()
    too_long = len(model) > MAX_MODEL_LENGTH
    return render(
        registry,
        "lookup",
        viewer,
        status=400 if too_long else 200,
        title=f"Lookup: {model[:80]}" if model and not too_long else "Model lookup",
        model=model[:MAX_MODEL_LENGTH],
        error=f"A model id has at most {MAX_MODEL_LENGTH} characters; this one has {len(model)}." if too_long else "",
        rows=lookup_rows(registry, model) if model and not too_long else (),
        max_length=MAX_MODEL_LENGTH,
    )


@router.get("/ui/registry/lifecycle")
def lifecycle_page(
    state: State,
    viewer: OpenViewer,
    within: Annotated[int, Query(ge=0, le=3650)] = LIFECYCLE_WINDOW_DAYS,
    on: Annotated[date | None, Query()] = None,
) -> HTMLResponse:
    """What the calendar does: the stages in force on a day (today) and those the next days reach, per
    runtime, with the stored workspaces each reaches for a viewer who may read workspaces."""
    from routegate.calendar import dated_changes, stages_on
    from routegate.lifecycle import today

    registry = state.registry
    start = today() if on is None else on
    end = start + timedelta(days=within)
    read = (
        partial(state.store.dated, listed=LISTED_WORKSPACES) if viewer.signed_in or not viewer.token_required else None
    )
    return render(
        registry,
        "lifecycle",
        viewer,
        title="Model lifecycle",
        in_force=reached(read, registry, stages_on(registry, start)),
        changes=reached(read, registry, dated_changes(registry, start, end)),
        counted=read is not None,
        count_cap=state.store.COUNT_CAP,
        dated_link="/ui/workspaces?" + urlencode({"lifecycle": "dated", **({"on": start.isoformat()} if on else {})}),
        start=start,
        end=end,
        within=within,
        entries=registry.lifecycle.entries,
    )


@router.get("/ui/drift")
def drift_page(state: State, viewer: OpenViewer) -> HTMLResponse:
    registry = state.registry
    templates, problems = state.scan_templates()
    cards, summary = drift_cards(registry, templates)
    return render(
        registry,
        "drift",
        viewer,
        title="Template drift",
        cards=cards,
        summary=summary,
        problems=problems,
        templates_root=state.TEMPLATES_LABEL,
    )
