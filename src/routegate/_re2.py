"""RE2 compilation with the options routegate uses everywhere.

Patterns must mean the same thing at load time, at decision time and in the
generated artifacts, so they are compiled in one place, with RE2's own
logging silenced (errors are reported as load problems instead).
"""

from __future__ import annotations

from collections.abc import Sequence

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


def compile(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, _OPTIONS)


def _reason(error: re2.error) -> str:
    reason = error.args[0] if error.args else str(error)
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def compile_error(pattern: str) -> str | None:
    """RE2's reason for refusing ``pattern``, or None when it compiles."""
    try:
        re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        return _reason(error)
    return None


class SetBuildError(Exception):
    """Patterns, each valid alone, that do not fit in one RE2 set together (RE2 bounds a set's memory).

    ``position`` is the first pattern that makes the set fail with those before it.
    """

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"pattern {position}: {reason}")
        self.position = position
        self.reason = reason


def search_set(patterns: Sequence[str]) -> re2.Set:
    """One automaton for all ``patterns``: a search costs one pass, whatever their number.

    Raises :class:`SetBuildError` when they do not fit in one set.
    """
    try:
        return _build_set(patterns)
    except re2.error as error:
        reason = _reason(error)
    for end in range(1, len(patterns)):
        try:
            _build_set(patterns[:end])
        except re2.error as error:
            raise SetBuildError(end - 1, _reason(error)) from None
    raise SetBuildError(len(patterns) - 1, reason)


def _build_set(patterns: Sequence[str]) -> re2.Set:
    matcher = re2.Set.SearchSet(_OPTIONS)
    for pattern in patterns:
        matcher.Add(pattern)
    matcher.Compile()
    return matcher
