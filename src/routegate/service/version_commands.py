"""``routegate publish``, ``routegate versions`` and ``routegate activate``: the manifest's versions from a shell.

They speak to the database directly (migrating it first, as ``serve`` does), through the
same :class:`~.versions.VersionStore` gate as the HTTP API. Every running instance on that
database follows the change by itself. Exit codes: 0 done, 1 refused (or the database
cannot be reached), 2 usage or an invalid manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from routegate.errors import InvalidManifest
from routegate.publishing import Impact, ManifestWouldStrand, UnknownManifestVersion

from .settings import Settings, SettingsError
from .versions import Outcome, VersionStore, candidate

__all__ = ["activate_command", "publish_command", "versions_command"]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class _Exit(Exception):
    def __init__(self, code: int, message: str, payload: dict[str, Any]) -> None:
        self.code = code
        self.message = message
        self.payload = payload


@contextmanager
def _versions(args: argparse.Namespace) -> Iterator[VersionStore]:
    from sqlalchemy.exc import SQLAlchemyError

    from .db import Database

    try:
        settings = Settings.from_sources({"database_url": args.database_url})
    except SettingsError as error:
        raise _Exit(EXIT_USAGE, str(error), {"code": "INVALID_SETTINGS", "error": str(error)}) from None
    database = Database(settings.database_url)
    try:
        database.upgrade()
        yield VersionStore(database, foreign_runtimes=settings.foreign_runtimes)
    except SQLAlchemyError as error:
        message = f"cannot use the database: {str(error).splitlines()[0]}"
        raise _Exit(EXIT_REFUSED, message, {"code": "DATABASE_UNAVAILABLE", "error": message}) from None
    finally:
        database.dispose()


def _run(args: argparse.Namespace, body: Callable[[VersionStore], tuple[list[str], dict[str, Any]]]) -> int:
    """Run ``body`` against the database; print its lines (or its JSON), or the refusal."""
    try:
        with _versions(args) as versions:
            lines, payload = body(versions)
    except _Exit as stop:
        if args.json:
            print(json.dumps(stop.payload, indent=2))
        print(f"routegate: {stop.message}", file=sys.stderr)
        return stop.code
    print(json.dumps(payload, indent=2) if args.json else "\n".join(lines))
    return EXIT_OK


def _gated(action: Callable[[], Outcome]) -> Outcome:
    """Turn the gate's refusals into exits: 1 for a manifest that would strand, 2 for an invalid one."""
    try:
        return action()
    except ManifestWouldStrand as refused:
        payload = {"code": "MANIFEST_WOULD_STRAND", "error": str(refused), "impact": refused.impact.to_dict()}
        lines = [str(refused), *_impact_lines(refused.impact), "nothing was changed; --force publishes anyway"]
        raise _Exit(EXIT_REFUSED, "\n".join(lines), payload) from None
    except InvalidManifest as error:
        problems = [{"where": p.where, "message": p.message} for p in error.problems]
        raise _Exit(EXIT_USAGE, str(error), {"code": "INVALID_MANIFEST", "problems": problems}) from None
    except UnknownManifestVersion as error:
        raise _Exit(EXIT_USAGE, str(error), {"code": "VERSION_NOT_FOUND", "error": str(error)}) from None


def _impact_lines(impact: Impact) -> list[str]:
    lines = [f"  {impact.checked} stored workspace(s) decided again"]
    for label, changes in (
        ("stranded", impact.stranded),
        ("billing", impact.billing_changed),
        ("provider", impact.provider_changed),
    ):
        for change in changes:
            now = change.code or f"{change.previous_provider} ({change.previous_billing_mode}) -> "
            now += "" if change.code else f"{change.provider} ({change.billing_mode})"
            lines.append(f"  {label:<9} {change.id}  {change.name!r}  {change.runtime} {change.model}: {now}")
    return lines


def _outcome_lines(outcome: Outcome, verb: str) -> list[str]:
    previous = "" if outcome.previous is None else f" (was version {outcome.previous.version})"
    if outcome.dry_run:
        head = f"dry run: {outcome.fingerprint} would pass the gate; nothing was changed"
    elif outcome.changed:
        head = f"{verb} version {outcome.version} ({outcome.fingerprint}), now active{previous}"
    else:
        head = f"version {outcome.version} ({outcome.fingerprint}) is active already; nothing to do"
    return [head, *([] if outcome.impact is None else _impact_lines(outcome.impact))]


def publish_command(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError as error:
        message = f"cannot read {args.file}: {error.strerror}"
        if args.json:
            print(json.dumps({"code": "UNREADABLE_MANIFEST", "error": message}, indent=2))
        print(f"routegate: {message}", file=sys.stderr)
        return EXIT_USAGE

    def body(versions: VersionStore) -> tuple[list[str], dict[str, Any]]:
        outcome = _gated(
            lambda: versions.publish(candidate(raw, path.name), note=args.note, dry_run=args.dry_run, force=args.force)
        )
        return _outcome_lines(outcome, "published"), outcome.to_dict()

    return _run(args, body)


def activate_command(args: argparse.Namespace) -> int:
    def body(versions: VersionStore) -> tuple[list[str], dict[str, Any]]:
        outcome = _gated(lambda: versions.activate(args.version, force=args.force, dry_run=args.dry_run))
        return _outcome_lines(outcome, "activated"), outcome.to_dict()

    return _run(args, body)


def versions_command(args: argparse.Namespace) -> int:
    def body(versions: VersionStore) -> tuple[list[str], dict[str, Any]]:
        items, cursor = versions.page(200, None)
        while cursor is not None:
            more, cursor = versions.page(200, int(cursor))
            items += more
        lines = [f"{'':1} {'version':>7}  {'fingerprint':<16}  {'created (UTC)':<27}  note"]
        for item in items:
            shown = item.to_dict()
            mark = "*" if item.active else ""
            lines.append(
                f"{mark:1} {item.version:>7}  {item.fingerprint:<16}  {shown['created_at']:<27}  {item.note or ''}"
            )
        if not items:
            lines = ["no manifest versions yet: `routegate publish FILE` or `routegate serve` stores the first"]
        return lines, {"items": [item.to_dict() for item in items]}

    return _run(args, body)
