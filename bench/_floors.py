"""Floors: the figures the issues ask of each bench, judged only on a measuring run.

Every bench takes ``--smoke``: the same code paths on tiny sizes, in seconds, so the
test suite can prove each script still runs and prints its figures. A smoke run's
figures measure nothing, so its floors print as not judged.
"""

from __future__ import annotations

import argparse

__all__ = ["add_smoke_flag", "judged", "verdict"]

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
