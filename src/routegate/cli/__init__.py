"""The ``routegate`` command.

Exit codes: 0 yes/ok, 1 no/problems found, 2 usage or unreadable input (:class:`._common.Exit`).
``--json`` prints machine output on stdout; without it, text for people, coloured on a terminal.

Each family of commands lives in its own module, its options registered beside its handlers.
Like click's lazy command groups, only the command being run is registered and only its
module imported, and each handler imports what it needs when it runs, so a one-shot
``routegate check`` stays cheap; ``--help`` alone registers every command to list them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import MappingProxyType

from ._common import EXIT_CODES_HELP, Command, CommandFailed, Exit, HelpFormatter, Output, require_service_extra

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["build_parser", "main"]

# Each command, and the module (under routegate.cli) that registers it; --help lists them in this order.
_COMMANDS = MappingProxyType(
    {
        "lint": "gates",
        "derive": "decisions",
        "check": "decisions",
        "upstream": "decisions",
        "models": "decisions",
        "providers": "decisions",
        "lifecycle": "lifecycle",
        "catalog": "catalog",
        "drift": "gates",
        "gen": "gates",
        "sync-check": "gates",
        "diff": "diff",
        "serve": "fleet",
        "db": "fleet",
        "publish": "fleet",
        "versions": "fleet",
        "activate": "fleet",
    }
)


class _Version(argparse.Action):
    """``--version``: reads the installed version only when asked, so other commands skip the metadata lookup."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **_: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from routegate._version import version

        sys.stdout.write(f"routegate {version()}\n")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` alone when it names one, else of every command (for --help)."""
    parser = argparse.ArgumentParser(
        prog="routegate",
        description="Model-routing registry and workspace-create gate.",
        epilog=EXIT_CODES_HELP,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action=_Version)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in [command] if command is not None and command in _COMMANDS else _COMMANDS:
        importlib.import_module(f"{__name__}.{_COMMANDS[name]}").register(subparsers, name)
    return parser


def _command_named(argv: Sequence[str]) -> str | None:
    """The command the arguments name: the first that is not an option (the top level takes no values)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command and returns its exit code; a :class:`CommandFailed` is reported here, once."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_named(arguments)).parse_args(arguments)
    out = Output(args.json)
    handler: Command = args.handler  # every command sets it: the subparsers are required
    try:
        if args.needs_service:
            require_service_extra(args.command)
        return handler(args, out)
    except CommandFailed as failure:
        if out.as_json:
            out.json(failure.payload)
        print(f"routegate: {failure}", file=sys.stderr)
        return failure.code
    except BrokenPipeError:
        # The reader left before the answer was out: it cannot have read a "yes".
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.NO
