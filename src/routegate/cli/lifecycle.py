"""``routegate lifecycle``: what the calendar will do to the manifest's decisions in a window.

Each id that deprecates or retires in the window, per runtime, with its successor; with
``--database-url``, the stored workspaces that run it (retirement strands them).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ._common import Exit, Output, Subparsers, add_command, calendar_day, registry_from, require_service_extra

if TYPE_CHECKING:
    from routegate.calendar import DatedChange
    from routegate.registry import Registry

__all__ = ["register"]

DEFAULT_WITHIN = 30


def cmd_lifecycle(args: argparse.Namespace, out: Output) -> int:
    """Exit 1 when a change in the window strands a stored workspace, else 0."""
    from routegate.calendar import dated_changes
    from routegate.lifecycle import today

    registry = registry_from(args)
    start = args.on or today()
    end = start + timedelta(days=args.within)
    changes = dated_changes(registry, start, end)
    if args.database_url is not None:
        changes = _with_workspaces(registry, changes, args.database_url)
    stranding = any(change.strands and change.workspaces for change in changes)
    if out.as_json:
        out.json(
            {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "changes": [change.to_dict() for change in changes],
                "strands": stranding,
            }
        )
    else:
        _print(changes, start, end, args.database_url is not None, out)
    return Exit.NO if stranding else Exit.OK


def _with_workspaces(registry: Registry, changes: tuple[DatedChange, ...], url: str) -> tuple[DatedChange, ...]:
    require_service_extra("lifecycle --database-url")
    from routegate.calendar import workspaces_dated
    from routegate.service.store import stored_workspaces

    from .fleet import version_store

    with version_store(url, read_only=True) as versions, versions.database.sessions() as session:
        return workspaces_dated(registry, changes, stored_workspaces(session))


def _print(changes: tuple[DatedChange, ...], start: Any, end: Any, counted: bool, out: Output) -> None:
    if not changes:
        out.line(f"no model is deprecated or retired from {start} to {end}")
        return
    for change in changes:
        what = ", ".join(change.ids) or "(no menu ids)"
        if change.pattern is not None:
            what += f" and any id {change.entry.provider}'s pattern {change.pattern} routes"
        successor = f" -> {change.entry.successor}" if change.entry.successor else " (no successor named)"
        tone = "no" if change.strands else "warn"
        out.line(f"{change.on}  {out.paint(change.stage.value, tone):<10}  {change.runtime}: {what}{successor}")
        if counted:
            verb = "strands" if change.strands else "keeps working, refused to new ones:"
            shown = ", ".join(change.workspaces[:10]) + (" ..." if len(change.workspaces) > 10 else "")
            out.line(f"    {verb} {len(change.workspaces)} workspace(s){': ' + shown if shown else ''}")


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
        "the ids each runtime deprecates or retires in a window, with successors and stranded workspaces",
        manifest=True,
    )
    parser.add_argument(
        "--on", metavar="YYYY-MM-DD", type=calendar_day, help="the window's first UTC day (default: today)"
    )
    parser.add_argument(
        "--within",
        metavar="DAYS",
        type=_days,
        default=DEFAULT_WITHIN,
        help=f"the window's length in days after its first (default: {DEFAULT_WITHIN})",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="list the stored workspaces each change dates (needs the service extra)",
    )
