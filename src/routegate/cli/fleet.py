"""The service and its database: serve, db upgrade, and the manifest's versions (publish, versions, activate).

Every command here needs the ``service`` extra; :func:`routegate.cli.main` says what to
install before one runs without it. The version commands speak to the database directly,
through the same gate as the HTTP API, and every instance on that database follows the
change by itself. ``versions`` and the dry runs only read: they never create or migrate a
database, and refuse one that is missing or not migrated. A dry run exits as the real
command would: 0 done (or would be), 1 refused (or would be, or the database cannot be
reached), 2 an invalid manifest or a database that is missing or not migrated. While a
publish or activation replays a large fleet, a terminal's stderr shows how far it is.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from routegate._environment import (
    ENV_API_TOKEN,
    ENV_DATABASE_READERS,
    ENV_DATABASE_URL,
    ENV_DATABASE_WRITERS,
    ENV_DEFAULT_RUNTIME,
    ENV_FOREIGN_RUNTIMES,
    ENV_MANIFEST,
    ENV_MANIFEST_POLL_SECONDS,
    ENV_TEMPLATE_MAX_BYTES,
    ENV_TEMPLATE_MAX_MODELS,
    ENV_TEMPLATES,
)

from ._common import CommandFailed, Exit, Output, Subparsers, add_command
from ._progress import TerminalProgress

if TYPE_CHECKING:
    from routegate.publishing import Impact
    from routegate.service.publication import PublishResult, VersionStore
    from routegate.service.settings import Settings

__all__ = ["register", "version_store"]


def _settings(flags: dict[str, Any]) -> Settings:
    """The service's settings from these flags, the environment and the defaults; a bad one is exit 2."""
    from routegate.service.settings import Settings, SettingsError

    try:
        return Settings.from_sources(flags)
    except SettingsError as error:
        raise CommandFailed(str(error), {"code": "INVALID_SETTINGS", "error": str(error)}) from None


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    """Serve until interrupted; a refusal to start is exit 2 when the configuration is at fault, else 1."""
    from routegate.service.logs import LogFormat
    from routegate.service.server import CannotServe, serve

    settings = _settings(
        {
            "host": args.host,
            "port": args.port,
            "database_url": args.database_url,
            "database_readers": args.database_readers,
            "database_writers": args.database_writers,
            "manifest": args.manifest,
            "templates": args.templates,
            "workers": args.workers,
            "default_runtime": args.default_runtime,
            "foreign_runtimes": args.foreign_runtime or None,
            "template_max_bytes": args.template_max_bytes,
            "template_max_models": args.template_max_models,
        }
    )
    try:
        serve(settings, LogFormat(args.log_format), access_log=args.access_log)
    except CannotServe as error:
        raise CommandFailed(str(error), code=Exit.USAGE if error.misconfigured else Exit.NO) from None
    return Exit.OK


_SERVE_ENVIRONMENT = f"""\
environment (a flag, when given, wins):
  {ENV_DATABASE_URL:<27} database URL, as --database-url
  {ENV_DATABASE_READERS:<27} threads one process reads the database in at once, as --database-readers
  {ENV_DATABASE_WRITERS:<27} PostgreSQL writes one process runs at once, as --database-writers
  {ENV_MANIFEST:<27} manifest file, as --manifest
  {ENV_TEMPLATES:<27} templates folder, as --templates
  {ENV_API_TOKEN:<27} bearer token the API and console require; without one, loopback only
  {ENV_DEFAULT_RUNTIME:<27} runtime of workspaces that name none, as --default-runtime
  {ENV_FOREIGN_RUNTIMES:<27} comma-separated runtimes the registry does not describe, as --foreign-runtime
  {ENV_MANIFEST_POLL_SECONDS:<32} how often to look for a newly active manifest version (default 0.5)
  {ENV_TEMPLATE_MAX_BYTES:<32} largest template config.yaml read, as --template-max-bytes
  {ENV_TEMPLATE_MAX_MODELS:<32} most models one template may offer, as --template-max-models"""


def _register_serve(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "serve",
        cmd_serve,
        "run the HTTP service (defaults: 127.0.0.1:8080, ./routegate.db, bundled data)",
        manifest=True,
        json_output=False,
        needs_service=True,
        epilog=_SERVE_ENVIRONMENT,
    )
    parser.add_argument(
        "--host",
        help=f"address to listen on (default 127.0.0.1; ::1 or [::1] for IPv6; others need {ENV_API_TOKEN})",
    )
    parser.add_argument("--port", type=int, help="port (default 8080)")
    parser.add_argument(
        "--database-url", metavar="URL", help=f"sqlite:///file.db or postgresql://... (env {ENV_DATABASE_URL})"
    )
    parser.add_argument(
        "--database-readers",
        type=int,
        metavar="N",
        help="threads one process reads the database (and renders pages) in at once; more wait (default 8)",
    )
    parser.add_argument(
        "--database-writers",
        type=int,
        metavar="N",
        help="PostgreSQL write transactions one process runs at once; more wait their turn (default 4)",
    )
    parser.add_argument("--templates", metavar="DIR", help=f"templates folder (env {ENV_TEMPLATES}; default: bundled)")
    parser.add_argument("--workers", type=int, help="worker processes (default 1)")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="json: one JSON object per log line"
    )
    parser.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="no log line per request (the call gate's receipts still record every call)",
    )
    parser.add_argument(
        "--default-runtime", metavar="NAME", help="runtime for workspaces that name none (default claude-code)"
    )
    parser.add_argument(
        "--foreign-runtime",
        metavar="NAME",
        action="append",
        help="a runtime the registry does not describe (repeatable; default: external, langgraph)",
    )
    parser.add_argument(
        "--template-max-bytes",
        type=int,
        metavar="N",
        help="a larger template config.yaml is a problem (default 262144)",
    )
    parser.add_argument(
        "--template-max-models", type=int, metavar="N", help="most models one template offers (default 1000)"
    )


def cmd_db(args: argparse.Namespace, out: Output) -> int:
    """``db upgrade``: every pending migration, so a fresh or older database is at head."""
    from sqlalchemy.exc import SQLAlchemyError

    from routegate.service.db import Database

    database = Database(_settings({"database_url": args.database_url}).database_url)
    try:
        database.upgrade()
    except SQLAlchemyError as error:
        raise CommandFailed(f"cannot migrate the database: {str(error).splitlines()[0]}", code=Exit.NO) from None
    finally:
        database.dispose()
    out.line(f"database at head: {database.engine.url.render_as_string(hide_password=True)}")
    return Exit.OK


def _register_db(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "db", cmd_db, "manage the service database", json_output=False, needs_service=True)
    parser.add_argument("action", choices=("upgrade",), help="upgrade: apply every pending migration")
    parser.add_argument("--database-url", metavar="URL", help=f"default: {ENV_DATABASE_URL}, else ./routegate.db")


def _database_failure(message: str, code: str, exit_code: Exit = Exit.USAGE) -> CommandFailed:
    return CommandFailed(message, {"code": code, "error": message}, exit_code)


@contextmanager
def version_store(database_url: str | None, *, read_only: bool) -> Iterator[VersionStore]:
    """The versions of the database named by ``--database-url``: migrated first, unless ``read_only``,
    which opens only an existing database already at the newest migration and changes nothing."""
    from sqlalchemy.exc import SQLAlchemyError

    from routegate.service.db import Database, MissingDatabase, UnmigratedDatabase
    from routegate.service.http_errors import ServiceCode
    from routegate.service.publication import VersionStore

    settings = _settings({"database_url": database_url})
    try:
        database = Database(settings.database_url, read_only=read_only)
    except MissingDatabase as error:
        raise _database_failure(str(error), "DATABASE_MISSING") from None
    try:
        if read_only:
            database.require_head()
        else:
            database.upgrade()
        yield VersionStore(database, foreign_runtimes=settings.foreign_runtimes)
    except UnmigratedDatabase as error:
        raise _database_failure(str(error), "DATABASE_NOT_MIGRATED") from None
    except SQLAlchemyError as error:
        raise _database_failure(
            f"cannot use the database: {str(error).splitlines()[0]}", ServiceCode.DATABASE_UNAVAILABLE, Exit.NO
        ) from None
    finally:
        database.dispose()


# What a version command's body hands back: its exit code, its lines for people, its JSON.
_Answer = tuple[int, list[str], dict[str, Any]]


def _run(args: argparse.Namespace, out: Output, body: Callable[[VersionStore], _Answer], *, read_only: bool) -> int:
    """Runs ``body`` against the database and prints its lines, or its JSON."""
    with version_store(args.database_url, read_only=read_only) as versions:
        code, lines, payload = body(versions)
    if out.as_json:
        out.json(payload)
    else:
        for line in lines:
            out.line(line)
    return code


def _gated(action: Callable[[], PublishResult]) -> PublishResult:
    """The gate's refusals as failures: 1 for a manifest that would strand, 2 for an invalid one or no such version."""
    from routegate.errors import InvalidManifest
    from routegate.publishing import ManifestWouldStrand, UnknownManifestVersion
    from routegate.service.http_errors import ServiceCode

    try:
        return action()
    except ManifestWouldStrand as refused:
        payload = {"code": ServiceCode.MANIFEST_WOULD_STRAND, "error": str(refused), "impact": refused.impact.to_dict()}
        lines = [str(refused), *_impact_lines(refused.impact), "nothing was changed; --force publishes anyway"]
        raise CommandFailed("\n".join(lines), payload, Exit.NO) from None
    except InvalidManifest as error:
        problems = [{"where": p.where, "message": p.message} for p in error.problems]
        raise CommandFailed(str(error), {"code": ServiceCode.INVALID_MANIFEST, "problems": problems}) from None
    except UnknownManifestVersion as error:
        raise _database_failure(
            f"no manifest version {error.version}; 'routegate versions' lists them", ServiceCode.VERSION_NOT_FOUND
        ) from None


def _impact_lines(impact: Impact) -> list[str]:
    lines = [f"  {impact.checked} stored workspace(s) decided again"]
    for label, changes in (
        ("stranded", impact.stranded),
        ("billing", impact.billing_changed),
        ("provider", impact.provider_changed),
        ("retiring", impact.retiring),  # a warning: the candidate's dates strand it within 30 days
    ):
        for change in changes:
            now = change.code or f"{change.previous_provider} ({change.previous_billing_mode}) -> "
            now += "" if change.code else f"{change.provider} ({change.billing_mode})"
            now += f" on {change.retires_on}" if change.retires_on else ""
            lines.append(f"  {label:<9} {change.id}  {change.name!r}  {change.runtime} {change.model}: {now}")
    return lines


def _answer(outcome: PublishResult, verb: str, *, forced: bool) -> _Answer:
    """The exit code and report of a publish or activation; a dry run's are the real command's."""
    previous = "" if outcome.previous is None else f" (was version {outcome.previous.version})"
    blocking = outcome.impact is not None and outcome.impact.blocking
    code = Exit.OK
    if not outcome.dry_run and outcome.changed:
        head = f"{verb} version {outcome.version} ({outcome.fingerprint}), now active{previous}"
    elif not outcome.dry_run:
        head = f"version {outcome.version} ({outcome.fingerprint}) is active already; nothing to do"
    elif blocking and not forced:
        code = Exit.NO
        head = f"dry run: {outcome.fingerprint} would be refused by the gate; nothing was changed"
    elif blocking:
        head = f"dry run: {outcome.fingerprint} would pass the gate only because of --force; nothing was changed"
    else:
        head = f"dry run: {outcome.fingerprint} would pass the gate; nothing was changed"
    lines = [head, *([] if outcome.impact is None else _impact_lines(outcome.impact))]
    if code == Exit.NO:
        lines.append("the real command would be refused too (exit 1); --force overrides the gate")
    return code, lines, outcome.to_dict()


def _replay_bar() -> TerminalProgress:
    """The replay's bar, on a terminal, for a fleet large enough that the service logs its progress too."""
    from routegate.service.publication import PROGRESS_FROM

    return TerminalProgress("replaying workspaces", PROGRESS_FROM)


_DATABASE_URL_HELP = f"database to use (default: {ENV_DATABASE_URL}, else ./routegate.db)"
_DRY_RUN_HELP = "report the impact and change nothing; exits 1 when the real command would be refused"


def cmd_publish(args: argparse.Namespace, out: Output) -> int:
    """FILE becomes the fleet's active manifest, unless the gate refuses it."""
    from pathlib import Path

    from routegate.service.publication import candidate

    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError as error:
        message = f"cannot read {args.file}: {error.strerror}"
        raise CommandFailed(message, {"code": "UNREADABLE_MANIFEST", "error": message}) from None

    def body(versions: VersionStore) -> _Answer:
        with _replay_bar() as bar:
            outcome = _gated(
                lambda: versions.publish(
                    candidate(raw, path.name), note=args.note, dry_run=args.dry_run, force=args.force, progress=bar
                )
            )
        return _answer(outcome, "published", forced=args.force)

    return _run(args, out, body, read_only=args.dry_run)


def _register_publish(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "publish",
        cmd_publish,
        "publish FILE as the fleet's active manifest, through the publish gate",
        needs_service=True,
    )
    parser.add_argument("file", metavar="FILE", help="the manifest to publish")
    parser.add_argument("--database-url", metavar="URL", help=_DATABASE_URL_HELP)
    parser.add_argument("--note", help="why this version (kept in its history)")
    parser.add_argument("--dry-run", action="store_true", help=_DRY_RUN_HELP)
    parser.add_argument("--force", action="store_true", help="publish even if stored workspaces would be stranded")


def cmd_activate(args: argparse.Namespace, out: Output) -> int:
    """A stored version becomes active again, through the same gate as a publish."""

    def body(versions: VersionStore) -> _Answer:
        with _replay_bar() as bar:
            outcome = _gated(
                lambda: versions.activate(args.version, force=args.force, dry_run=args.dry_run, progress=bar)
            )
        return _answer(outcome, "activated", forced=args.force)

    return _run(args, out, body, read_only=args.dry_run)


def _register_activate(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "activate",
        cmd_activate,
        "make a stored manifest VERSION active again (rollback or roll forward)",
        needs_service=True,
    )
    parser.add_argument("version", type=int, metavar="VERSION", help="a version number 'routegate versions' lists")
    parser.add_argument("--database-url", metavar="URL", help=_DATABASE_URL_HELP)
    parser.add_argument("--dry-run", action="store_true", help=_DRY_RUN_HELP)
    parser.add_argument("--force", action="store_true", help="activate even if stored workspaces would be stranded")


def cmd_versions(args: argparse.Namespace, out: Output) -> int:
    """Every stored version, newest first, the active one starred."""

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
        return Exit.OK, lines, {"items": [item.to_dict() for item in items]}

    return _run(args, out, body, read_only=True)


def _register_versions(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "versions",
        cmd_versions,
        "the manifest versions in the database, newest first (* active)",
        needs_service=True,
    )
    parser.add_argument("--database-url", metavar="URL", help=_DATABASE_URL_HELP)


_REGISTER: Mapping[str, Callable[[Subparsers], None]] = MappingProxyType(
    {
        "serve": _register_serve,
        "db": _register_db,
        "publish": _register_publish,
        "versions": _register_versions,
        "activate": _register_activate,
    }
)


def register(subparsers: Subparsers, command: str) -> None:
    """Adds ``command``, one of this module's, with its options."""
    _REGISTER[command](subparsers)
