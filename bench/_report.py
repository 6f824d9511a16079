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

__all__ = ["add_smoke_flag", "emit", "judged", "ratio_row", "reproduce", "spread_row", "verdict"]

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


def spread_row(label: str, spread: dict[str, Any], width: int) -> str:
    """A table line: a figure's median, then its min..max."""
    return f"  {label:<{width}} {spread['median']:>9.3f}  {spread['min']:.3f}..{spread['max']:.3f}"


def ratio_row(label: str, ratio: dict[str, Any], width: int) -> str:
    """A table line: a ratio's median, then its min..max."""
    return f"  {label:<{width}} {ratio['median']:>8.2f}x  {ratio['min']:.2f}..{ratio['max']:.2f}"
