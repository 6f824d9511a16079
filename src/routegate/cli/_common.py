"""What every command shares: its exit codes, its output, the one way it fails, its common options."""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from datetime import date
    from typing import Any, TextIO, TypeAlias

    from routegate.errors import InvalidManifest
    from routegate.manifest import Manifest
    from routegate.proof._budget import Budget
    from routegate.registry import Registry

__all__ = [
    "EXIT_CODES_HELP",
    "Command",
    "CommandFailed",
    "Exit",
    "HelpFormatter",
    "Output",
    "Subparsers",
    "add_auth_env",
    "add_budget_options",
    "add_command",
    "add_date",
    "budget_from",
    "calendar_day",
    "invalid_manifest",
    "load_manifest_from",
    "registry_from",
    "require_service_extra",
    "unreadable_template",
]


class Exit(enum.IntEnum):
    """The exit codes of every command."""

    OK = 0
    """Yes, done, nothing found."""
    NO = 1
    """No, refused, problems found, or the database cannot be reached."""
    USAGE = 2
    """Bad arguments, or input that cannot be used at all."""


EXIT_CODES_HELP = "Exit codes: 0 yes/ok, 1 no/problems found, 2 usage or unreadable input."


class CommandFailed(Exception):
    """The one way a command stops short: a message for people, a payload for ``--json``, an exit code.

    Raised anywhere under a handler; :func:`routegate.cli.main` prints the message on stderr,
    the payload on stdout when ``--json`` was asked for, and exits with ``code``.
    """

    def __init__(self, message: str, payload: dict[str, Any] | None = None, code: Exit = Exit.USAGE) -> None:
        super().__init__(message)
        self.payload = payload or {"error": "usage", "message": message}
        self.code = code


class Output:
    """Writes a command's answer as JSON or as text for people, coloured on a terminal."""

    _COLOURS: Mapping[str, str] = MappingProxyType({"ok": "32", "no": "31", "warn": "33", "dim": "2", "bold": "1"})

    def __init__(self, as_json: bool, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.colour = not as_json and self.stream.isatty() and "NO_COLOR" not in os.environ

    def paint(self, text: str, style: str) -> str:
        return f"\x1b[{self._COLOURS[style]}m{text}\x1b[0m" if self.colour else text

    def json(self, payload: object) -> None:
        json.dump(payload, self.stream, indent=2, ensure_ascii=False)
        self.stream.write("\n")

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")


Command = Callable[[argparse.Namespace, Output], int]
"""A handler: the parsed arguments and where to write, to an exit code."""

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What a command module's ``register`` adds its commands to."""


def _columns() -> int:
    """What ``shutil.get_terminal_size()`` says: ``$COLUMNS``, else the terminal's width, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size().columns or 80
    except (ValueError, OSError):
        return 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, its width found without importing shutil.

    argparse makes a formatter for every option it adds, and its own imports shutil (and
    with it bz2, lzma and zlib) to ask the width: more than a one-shot command's parser costs.
    """

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


class _VerbatimEpilog(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps a command's epilog (and description) line for line, as a table of variables needs."""


def add_command(
    subparsers: Subparsers,
    name: str,
    handler: Command,
    help_text: str,
    *,
    manifest: bool = False,
    json_output: bool = True,
    needs_service: bool = False,
    description: str | None = None,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    """A command's parser, offering ``--manifest`` and ``--json`` only where the handler reads them.

    ``epilog`` is printed after the options as written, line for line.
    """
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        epilog=epilog,
        formatter_class=HelpFormatter if epilog is None else _VerbatimEpilog,
    )
    parser.set_defaults(handler=handler, needs_service=needs_service, json=False)
    if manifest:
        parser.add_argument(
            "--manifest", metavar="PATH", help="manifest file (default: the bundled reference registry)"
        )
    if json_output:
        parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    return parser


def _env_name(value: str) -> str:
    """``--auth-env`` takes a NAME. The value is not repeated in the error: it may be a pasted key."""
    from routegate._ids import ENV_NAME

    if not ENV_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            "takes an env var NAME such as OPENAI_API_KEY (A-Z, 0-9 and _, not starting with a digit), "
            "never a value; the value given is not shown because it may be a secret"
        )
    return value


def add_auth_env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auth-env",
        metavar="NAME",
        action="append",
        default=[],
        type=_env_name,
        help="an env var NAME the workspace has (repeatable); settles ties",
    )


def calendar_day(text: str) -> date:
    """``--on``'s value: a UTC calendar date."""
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a UTC date YYYY-MM-DD (e.g. 2026-06-15), got {text!r}") from None


def add_date(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--on",
        metavar="YYYY-MM-DD",
        type=calendar_day,
        help="decide on this UTC date, as the manifest's lifecycle dates have it (default: today)",
    )


def invalid_manifest(error: InvalidManifest) -> CommandFailed:
    """An invalid or unreadable manifest given to a command that only uses one: exit 2, pointing at lint."""
    return CommandFailed(
        str(error),
        {
            "error": "invalid_manifest",
            "message": f"{error.source}: the manifest cannot be used; run 'routegate lint' for details",
            "problems": [{"where": p.where, "message": p.message} for p in error.problems],
        },
    )


def load_manifest_from(args: argparse.Namespace, *, cached: bool = False) -> Manifest:
    """The ``--manifest`` a command works on, validated; unusable input fails with exit 2.

    ``cached`` reuses an authenticated earlier validation of the same bytes: only for the
    one-shot decision commands, never for the gates (lint, drift, gen), which always validate.
    """
    from routegate.errors import InvalidManifest
    from routegate.manifest import load_manifest

    try:
        manifest = load_manifest(args.manifest, cached=cached)
        if manifest.lifecycle:  # the lifecycle rules take decisions: a registry runs them
            from routegate.registry import Registry

            Registry(manifest, cache_size=0)
    except InvalidManifest as error:
        raise invalid_manifest(error) from None
    return manifest


def registry_from(args: argparse.Namespace) -> Registry:
    """The registry of ``--manifest``, admitting ``--foreign-runtime`` where the command offers it."""
    from routegate.decision import FOREIGN_RUNTIMES
    from routegate.errors import InvalidManifest
    from routegate.registry import Registry

    foreign = getattr(args, "foreign_runtime", None) or FOREIGN_RUNTIMES
    try:
        return Registry(load_manifest_from(args, cached=True), foreign_runtimes=foreign)
    except InvalidManifest as error:  # a lifecycle rule that takes decisions
        raise invalid_manifest(error) from None


def require_service_extra(command: str) -> None:
    """Fail with exit 2, naming what to install, unless the service extra imports.

    The core installs without FastAPI, uvicorn, SQLAlchemy and the rest: without them a
    command registered with ``needs_service`` says so rather than end in a traceback.
    """
    try:
        import alembic  # noqa: F401  (each is needed later; importing them now names the missing one)
        import psycopg  # noqa: F401
        import uvicorn  # noqa: F401

        from routegate.service import app  # noqa: F401
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] == "routegate":
            raise
        message = (
            f"'routegate {command}' needs the service extra, and {error.name!r} is not installed: "
            "in a routegate checkout run 'make setup', or pip install './routegate[service]'"
        )
        raise CommandFailed(message, {"error": "missing_extra", "extra": "service", "message": message}) from None


def add_budget_options(parser: argparse.ArgumentParser) -> None:
    """``--max-states`` and ``--time-budget``, for the commands that run the prover; their help states the defaults."""
    from routegate.proof._budget import DEFAULT_BUDGET  # light: the budget, not the automata

    parser.add_argument(
        "--max-states",
        type=int,
        metavar="N",
        help="automaton and product states the whole run may make, shared fairly among its questions; "
        f"past its share a question is unproven (default: {DEFAULT_BUDGET.states:,})",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help=f"seconds the whole run may take, shared likewise (default: {DEFAULT_BUDGET.seconds:g})",
    )


def budget_from(args: argparse.Namespace) -> Budget:
    """The prover's budget from ``--max-states`` and ``--time-budget``, defaults where not given."""
    from routegate.proof._budget import Budget

    default = Budget()
    try:
        return Budget(
            default.states if args.max_states is None else args.max_states,
            default.seconds if args.time_budget is None else args.time_budget,
        )
    except ValueError as error:
        raise CommandFailed(str(error)) from None


def unreadable_template(error: Exception) -> CommandFailed:
    """A template that cannot be read, for the commands that read templates: exit 2."""
    return CommandFailed(str(error), {"error": "unreadable_template", "message": str(error)})
