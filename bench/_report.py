"""What every bench reports beside its figures: the command that reproduces them, and its floors' verdicts.

Every bench takes ``--smoke``: the same code paths on tiny sizes, in seconds, so the
test suite can prove each script still runs and prints its figures. A smoke run's
figures measure nothing, so its floors print as not judged.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_smoke_flag", "emit", "judged", "reproduce", "verdict"]

_VERDICTS = {True: "PASS", False: "FAIL", None: "not judged"}


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    """The ``--smoke`` option, worded the same in every bench."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, a few seconds: proves the script runs; its floors are not judged",
    )


def judged(ok: bool | None, smoke: bool) -> bool | None:
    """A floor's verdict: None on a smoke run, or when the figure could not be measured."""
    return None if smoke else ok


def verdict(ok: bool | None) -> str:
    return _VERDICTS[ok]


def reproduce() -> str:
    """The command line that ran this bench, as typed from the repository's root."""
    return shlex.join([".venv/bin/python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])


def emit(figures: dict[str, Any], table: str) -> None:
    """What every bench prints: its figures as one JSON document, then the table a person reads."""
    print(json.dumps(figures, indent=2))
    print()
    print(table)
