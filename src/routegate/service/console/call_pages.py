"""The calls page: the receipts of decided calls, newest first, filterable, paged by cursor, with their sums.

It reads the call gate's receipts (``app.state.calls.receipts``) through the
:class:`CallReceipts` protocol, as the rest of the console reads the service's state.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Protocol, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse

from routegate.service.console.dependencies import PageViewer, State
from routegate.service.console.rendering import render

__all__ = ["PAGE_SIZE", "CallReceipts", "router"]

PAGE_SIZE = 50
_WORKSPACE = re.compile(r"[0-9a-f-]{1,36}")
_RECEIPT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_PAYER = re.compile("platform|tenant")
_YES_NO = re.compile("yes|no")
_ALLOWED = {"yes": True, "no": False}

router = APIRouter(include_in_schema=False)


class CallReceipts(Protocol):
    """What the page reads (see ``routegate.service.receipt_queries.ReceiptQueries``)."""

    def page(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        workspace_id: str | None = None,
        payer: str | None = None,
        allowed: bool | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]: ...
    def summary(self, *, workspace_id: str | None = None) -> dict[str, Any]: ...


def _receipts(request: Request) -> CallReceipts:
    return cast(CallReceipts, request.app.state.calls.receipts)


Receipts = Annotated[CallReceipts, Depends(_receipts)]


def _filters(workspace_id: str, payer: str, allowed: str, cursor: str) -> tuple[dict[str, str], list[str]]:
    """The filters that can be used, and a notice for each one dropped."""
    notices = []
    chosen = {"workspace_id": workspace_id.strip(), "payer": payer, "allowed": allowed, "cursor": cursor}
    checks = {
        "workspace_id": (_WORKSPACE, "is not a workspace id"),
        "payer": (_PAYER, "is not a payer: use platform or tenant"),
        "allowed": (_YES_NO, "is not yes or no"),
        "cursor": (_RECEIPT, "is not a page cursor; showing the newest"),
    }
    for name, (pattern, why) in checks.items():
        if chosen[name] and pattern.fullmatch(chosen[name]) is None:
            notices.append(f"{name}={chosen[name][:40]!r} {why}; it was ignored.")
            chosen[name] = ""
    return {k: v for k, v in chosen.items() if v}, notices


@router.get("/ui/calls")
def calls_page(
    state: State,
    viewer: PageViewer,
    receipts: Receipts,
    workspace_id: Annotated[str, Query()] = "",
    payer: Annotated[str, Query()] = "",
    allowed: Annotated[str, Query()] = "",
    cursor: Annotated[str, Query()] = "",
) -> HTMLResponse:
    filters, notices = _filters(workspace_id, payer, allowed, cursor)
    items, next_cursor = receipts.page(
        limit=PAGE_SIZE,
        cursor=filters.get("cursor"),
        workspace_id=filters.get("workspace_id"),
        payer=filters.get("payer"),
        allowed=_ALLOWED.get(filters.get("allowed", "")),
    )
    kept = {k: v for k, v in filters.items() if k != "cursor"}
    return render(
        state.registry,
        "calls",
        viewer,
        title="Calls",
        items=items,
        summary=receipts.summary(workspace_id=filters.get("workspace_id")),
        filters=kept,
        notices=notices,
        first_page="cursor" not in filters,
        newest_link="/ui/calls" + (f"?{urlencode(kept)}" if kept else ""),
        older_link=None if next_cursor is None else f"/ui/calls?{urlencode({**kept, 'cursor': next_cursor})}",
    )
