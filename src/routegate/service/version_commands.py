"""``routegate publish``, ``routegate versions`` and ``routegate activate``: the manifest's versions from a shell.

They speak to the database directly, through the same :class:`~.versions.VersionStore` gate
as the HTTP API. Every running instance on that database follows the change by itself. A
publish or activation migrates the database first, as ``serve`` does; ``versions`` and the
dry runs only read: they never create or migrate a database, and refuse one that is missing
or not migrated. A dry run exits as the real command would. Exit codes: 0 done (or would
be), 1 refused (or would be, or the database cannot be reached), 2 usage, an invalid
manifest, or a database that is missing or not migrated.
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

from .publication import PublishResult, VersionStore, candidate
from .settings import Settings, SettingsError

__all__ = ["activate_command", "publish_command", "versions_command"]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class _Exit(Exception):
    def __init__(self, code: int, message: str, payload: dict[str, Any]) -> None:
        self.code = code
        self.message = message
        self.payload = payload


@contextmanager
def _versions(args: argparse.Namespace, *, read_only: bool) -> Iterator[VersionStore]:
    """The versions of the database named by the arguments: migrated first, unless ``read_only``,
    which opens only an existing database already at the newest migration and changes nothing."""
    from sqlalchemy.exc import SQLAlchemyError

    from .db import Database, MissingDatabase, UnmigratedDatabase

    try:
        settings = Settings.from_sources({"database_url": args.database_url})
    except SettingsError as error:
        raise _Exit(EXIT_USAGE, str(error), {"code": "INVALID_SETTINGS", "error": str(error)}) from None
    try:
        database = Database(settings.database_url, read_only=read_only)
    except MissingDatabase as error:
        raise _Exit(EXIT_USAGE, str(error), {"code": "DATABASE_MISSING", "error": str(error)}) from None
    try:
        if read_only:
            database.require_head()
        else:
            database.upgrade()
        yield VersionStore(database, foreign_runtimes=settings.foreign_runtimes)
    except UnmigratedDatabase as error:
        raise _Exit(EXIT_USAGE, str(error), {"code": "DATABASE_NOT_MIGRATED", "error": str(error)}) from None
    except SQLAlchemyError as error:
        message = f"cannot use the database: {str(error).splitlines()[0]}"
        raise _Exit(EXIT_REFUSED, message, {"code": "DATABASE_UNAVAILABLE", "error": message}) from None
    finally:
        database.dispose()


# What a command's body hands back: its exit code, its lines for people, its JSON.
_Answer = tuple[int, list[str], dict[str, Any]]


def _run(args: argparse.Namespace, body: Callable[[VersionStore], _Answer], *, read_only: bool) -> int:
    """Run ``body`` against the database; print its lines (or its JSON), or the refusal."""
    try:
        with _versions(args, read_only=read_only) as versions:
            code, lines, payload = body(versions)
    except _Exit as stop:
        if args.json:
            print(json.dumps(stop.payload, indent=2))
        print(f"routegate: {stop.message}", file=sys.stderr)
        return stop.code
    print(json.dumps(payload, indent=2) if args.json else "\n".join(lines))
    return code


def _gated(action: Callable[[], PublishResult]) -> PublishResult:
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


def _answer(outcome: PublishResult, verb: str, *, forced: bool) -> _Answer:
    """The exit code and report of a publish or activation; a dry run's are the real command's."""
    previous = "" if outcome.previous is None else f" (was version {outcome.previous.version})"
    blocking = outcome.impact is not None and outcome.impact.blocking
    code = EXIT_OK
    if not outcome.dry_run and outcome.changed:
        head = f"{verb} version {outcome.version} ({outcome.fingerprint}), now active{previous}"
    elif not outcome.dry_run:
        head = f"version {outcome.version} ({outcome.fingerprint}) is active already; nothing to do"
    elif blocking and not forced:
        code = EXIT_REFUSED
        head = f"dry run: {outcome.fingerprint} would be refused by the gate; nothing was changed"
    elif blocking:
        head = f"dry run: {outcome.fingerprint} would pass the gate only because of --force; nothing was changed"
    else:
        head = f"dry run: {outcome.fingerprint} would pass the gate; nothing was changed"
    lines = [head, *([] if outcome.impact is None else _impact_lines(outcome.impact))]
    if code == EXIT_REFUSED:
        lines.append("the real command would be refused too (exit 1); --force overrides the gate")
    return code, lines, outcome.to_dict()


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

    def body(versions: VersionStore) -> _Answer:
        outcome = _gated(
            lambda: versions.publish(candidate(raw, path.name), note=args.note, dry_run=args.dry_run, force=args.force)
        )
        return _answer(outcome, "published", forced=args.force)

    return _run(args, body, read_only=args.dry_run)


def activate_command(args: argparse.Namespace) -> int:
    def body(versions: VersionStore) -> _Answer:
        outcome = _gated(lambda: versions.activate(args.version, force=args.force, dry_run=args.dry_run))
        return _answer(outcome, "activated", forced=args.force)

    return _run(args, body, read_only=args.dry_run)


def versions_command(args: argparse.Namespace) -> int:
    def body(versions: VersionStore) -> _Answer:
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
        return EXIT_OK, lines, {"items": [item.to_dict() for item in items]}

    return _run(args, body, read_only=True)
