"""``routegate lifecycle``: what the calendar does to the manifest's decisions.

``--within DAYS`` (default 30): each id that deprecates or retires in the window from
today, or from ``--on``. ``--on DATE`` alone: the state on that day, every id deprecated or
retired as of it. Both per runtime, with the successor; with ``--database-url``, the stored
workspaces that run each id (retirement strands them).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from ._common import Exit, Output, Subparsers, add_command, calendar_day, registry_from, require_service_extra

if TYPE_CHECKING:
    from routegate.calendar import DatedChange
    from routegate.registry import Registry

__all__ = ["register"]

DEFAULT_WITHIN = 30


def cmd_lifecycle(args: argparse.Namespace, out: Output) -> int:
    """Exit 1 when a listed retirement strands a stored workspace, else 0."""
    from routegate.calendar import dated_changes, stages_on
    from routegate.lifecycle import today

    registry = registry_from(args)
    state_only = args.on is not None and args.within is None
    start = args.on or today()
    end = start + timedelta(days=DEFAULT_WITHIN if args.within is None else args.within)
    changes = stages_on(registry, start) if state_only else dated_changes(registry, start, end)
    if args.database_url is None:
        shown = [change.to_dict() for change in changes]
    else:
        shown = _with_workspaces(registry, changes, args.database_url)
    stranding = any(change["strands"] for change in shown)
    if out.as_json:
        span = {"on": start.isoformat()} if state_only else {"from": start.isoformat(), "to": end.isoformat()}
        out.json({**span, "changes": shown, "strands": stranding})
    else:
        heading = f"as of {start}" if state_only else f"from {start} to {end}"
        _print(shown, heading, "since " if state_only else "", out)
    return Exit.NO if stranding else Exit.OK


def _with_workspaces(registry: Registry, changes: tuple[DatedChange, ...], url: str) -> list[dict[str, Any]]:
    """The changes as ``GET /registry/lifecycle`` shows them: with the workspaces each reaches, from the indexes."""
    require_service_extra("lifecycle --database-url")
    from routegate.service.console.workspace_pages import LISTED_WORKSPACES, reached
    from routegate.service.listing import dated_workspaces

    from .fleet import version_store

    with version_store(url, read_only=True) as versions, versions.database.sessions() as session:
        return reached(partial(dated_workspaces, session, listed=LISTED_WORKSPACES), registry, changes)


def _print(changes: list[dict[str, Any]], heading: str, since: str, out: Output) -> None:
    if not changes:
        out.line(f"no model is deprecated or retired {heading}")
        return
    for change in changes:
        what = ", ".join(change["ids"]) or "(no menu ids)"
        if change["pattern"] is not None:
            what += f" and any id {change['provider']}'s pattern {change['pattern']} routes"
        successor = f" -> {change['successor']}" if change["successor"] else " (no successor named)"
        tone = "no" if change["stage"] == "retired" else "warn"
        out.line(
            f"{since}{change['on']}  {out.paint(change['stage'], tone):<10}  {change['runtime']}: {what}{successor}"
        )
        count = change.get("workspace_count")
        if count is not None:
            verb = "strands" if change["stage"] == "retired" else "keeps working, refused to new ones:"
            listed = change["workspaces"][:10]
            more = " ..." if count > len(listed) else ""
            out.line(f"    {verb} {count} workspace(s){': ' + ', '.join(listed) + more if listed else ''}")


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = -1
    if days < 0:
        raise argparse.ArgumentTypeError(f"expected a number of days, 0 or more, got {text!r}")
    return days


def register(subparsers: Subparsers, command: str) -> None:
    """Adds ``lifecycle`` with its options."""
    parser = add_command(
        subparsers,
        command,
        cmd_lifecycle,
        "the ids each runtime deprecates or retires in a window, or has as of a day, with successors and "
        "stranded workspaces",
        manifest=True,
    )
    parser.add_argument(
        "--on",
        metavar="YYYY-MM-DD",
        type=calendar_day,
        help="alone: the state on this UTC day (every id deprecated or retired as of it); "
        "with --within: the window's first day (default: today)",
    )
    parser.add_argument(
        "--within",
        metavar="DAYS",
        type=_days,
        help=f"what deprecates or retires in the DAYS after today, or after --on (default: {DEFAULT_WITHIN})",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="list the stored workspaces each change dates (needs the service extra)",
    )
