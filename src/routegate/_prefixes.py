"""Literal prefixes of anchored patterns: a cheap, sound "cannot match" before RE2 runs.

Most model-prefix patterns are anchored literals (``^openrouter[:/]``), and
most ids a runtime refuses start with none of them. For such patterns the
prefixes every match must begin with are read off the pattern's syntax tree,
and an id that starts with none of them is known to match none of the
patterns without running the automaton. The filter only ever answers "no
pattern can match" or "ask RE2": RE2 stays the only judge of a match.

Case folding follows RE2's, whose orbits over ASCII letters are the letter's
two cases plus U+212A (k) and U+017F (s); ``str.casefold`` maps every member
of those orbits to the same single letter, so folded prefixes are compared
with the id's casefolded start. Anything else under ``(?i)`` (a non-ASCII
literal, a class reaching outside ASCII) ends the prefix there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from routegate import _re2syntax as syn

__all__ = ["PrefixFilter", "Prefixes", "literal_prefixes"]

_MAX_PREFIXES = 64  # per pattern; more alternatives and the pattern gets no filter
_MAX_LENGTH = 12  # characters read per prefix: enough to separate vendors
_MAX_CLASS = 8  # a bracket class is spelled out only when this small
_FOLD_PARTNERS = frozenset((0x212A, 0x17F))  # the non-ASCII members of RE2's k and s orbits


class _TooMany(Exception):
    pass


class Prefixes(NamedTuple):
    """Strings one of which starts every text a pattern finds; casefolded when the pattern folds case."""

    strings: frozenset[str]
    folded: bool


def literal_prefixes(pattern: str) -> Prefixes | None:
    """The literal prefixes of ``pattern``, a valid RE2 pattern.

    None when the pattern can match away from the start of the text, starts
    with something other than literals, or parses outside the supported subset.
    """
    try:
        regex = syn.parse(pattern)
        strings = _anchored(regex.root, regex.fold_case)
    except (syn.Untranslatable, _TooMany):
        return None
    if strings is None or "" in strings:
        return None
    return Prefixes(strings, regex.fold_case)


def _flatten(node: syn.Node) -> list[syn.Node]:
    if isinstance(node, syn.Group):
        return _flatten(node.node)
    if isinstance(node, syn.Concat):
        return [leaf for item in node.items for leaf in _flatten(item)]
    return [node]


def _anchored(node: syn.Node, fold: bool) -> frozenset[str] | None:
    """The prefixes of ``node`` when each of its alternatives begins at the start of the text."""
    if isinstance(node, syn.Group):
        return _anchored(node.node, fold)
    if isinstance(node, syn.Alt):
        found: set[str] = set()
        for branch in node.branches:
            prefixes = _anchored(branch, fold)
            if prefixes is None:
                return None
            found |= prefixes
        return frozenset(found)
    items = _flatten(node)
    if items and items[0] == syn.Assert(syn.AssertKind.BEGIN):
        return _spell(items[1:], fold, _MAX_LENGTH)
    return None


def _spell(items: Sequence[syn.Node], fold: bool, room: int) -> frozenset[str]:
    """Strings one of which starts every text the concatenation ``items`` matches."""
    if not items or room == 0:
        return frozenset(("",))
    first, rest = items[0], items[1:]
    if isinstance(first, syn.Group):
        return _spell([*_flatten(first.node), *rest], fold, room)
    if isinstance(first, syn.Alt):
        found: set[str] = set()
        for branch in first.branches:
            found |= _spell([*_flatten(branch), *rest], fold, room)
            if len(found) > _MAX_PREFIXES:
                raise _TooMany
        return frozenset(found)
    chars = _chars(first, fold)
    if chars is None:
        return frozenset(("",))
    tails = _spell(rest, fold, room - 1)
    if len(chars) * len(tails) > _MAX_PREFIXES:
        raise _TooMany
    return frozenset(char + tail for char in chars for tail in tails)


def _chars(node: syn.Node, fold: bool) -> frozenset[str] | None:
    """The characters ``node`` matches as its first, when it is one small set of them."""
    if isinstance(node, syn.Literal):
        points: tuple[int, ...] = (node.code_point,)
    elif isinstance(node, syn.CharSet):
        ranges = syn.members(node, fold)
        if sum(hi - lo + 1 for lo, hi in ranges) > _MAX_CLASS:
            return None
        points = tuple(cp for lo, hi in ranges for cp in range(lo, hi + 1))
    else:
        return None
    if not fold:
        return frozenset(map(chr, points))
    if any(cp > 0x7F and cp not in _FOLD_PARTNERS for cp in points):
        return None
    return frozenset(chr(cp).casefold() for cp in points)


class PrefixFilter:
    """Says when an id can match none of a set of patterns, from their literal prefixes alone."""

    __slots__ = ("_exact", "_fold_length", "_folded")

    def __init__(self, exact: frozenset[str], folded: frozenset[str]) -> None:
        # By first character, so a test costs the same however many patterns there are.
        self._exact = _by_first_character(exact)
        self._folded = _by_first_character(folded)
        self._fold_length = max(map(len, folded), default=0)

    @classmethod
    def of(cls, patterns: Sequence[str]) -> PrefixFilter | None:
        """The filter for ``patterns``, or None when any one of them has no literal prefixes."""
        exact: set[str] = set()
        folded: set[str] = set()
        for pattern in patterns:
            prefixes = literal_prefixes(pattern)
            if prefixes is None:
                return None
            (folded if prefixes.folded else exact).update(prefixes.strings)
        return cls(frozenset(exact), frozenset(folded))

    def may_match(self, text: str) -> bool:
        """False only when no pattern can find a match in ``text``."""
        exact = self._exact.get(text[:1])
        if exact is not None and text.startswith(exact):
            return True
        if not self._folded:
            return False
        start = text[: self._fold_length].casefold()
        folded = self._folded.get(start[:1])
        return folded is not None and start.startswith(folded)


def _by_first_character(prefixes: frozenset[str]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for prefix in sorted(prefixes):
        grouped.setdefault(prefix[0], []).append(prefix)
    return {first: tuple(group) for first, group in grouped.items()}
