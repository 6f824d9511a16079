"""RE2 patterns as Go ``regexp`` source that decides exactly as google-re2 does.

Go's ``regexp`` speaks RE2's syntax, yet copying a pattern through would tie
its meaning to Go's own Unicode tables: ``(?i)`` folds with Go's case orbits
and ``\\pL`` with Go's categories, which need not be those of the RE2 linked
into routegate. So the pattern is parsed (:mod:`routegate._re2syntax`) and
written out with no flags at all: every literal, class and ``.`` becomes an
explicit set of code points, case folding already applied, and anchors become
``\\A`` and ``\\z``. Go then has nothing left to interpret. Case folding is
modelled for ASCII letters (with U+212A and U+017F, which RE2 folds with ``k``
and ``s``); any other non-ASCII character under ``(?i)`` raises
:class:`~routegate._re2syntax.Untranslatable`, as do constructs outside the
parser's subset.
"""

from __future__ import annotations

from routegate import _re2syntax as syn

from ._spelling import Spelling

__all__ = ["to_go"]

_ASCII_PARTNERS = frozenset((0x212A, 0x17F))
# The source goes into a Go raw string literal, which cannot hold a backquote.
_SPELLING = Spelling(frozenset("\\.+*?()|[]{}^$"), frozenset("\\[]^-"), escape="\\x{{{:x}}}", unsafe="`")
_ASSERTS = {"begin": "\\A", "end": "\\z", "word_boundary": "\\b", "not_word_boundary": "\\B"}


def to_go(pattern: str) -> str:
    """Go ``regexp`` source, ASCII only, whose search answers as RE2's search of ``pattern`` does."""
    regex = syn.parse(pattern)
    return _emit(regex.root, regex.fold_case)


def _emit(node: syn.Node, fold: bool) -> str:
    if isinstance(node, syn.Literal):
        if not fold:
            return _SPELLING.char(node.code_point)
        _require_modelled_fold(((node.code_point, node.code_point),))
        return _class(syn.fold(((node.code_point, node.code_point),)))
    if isinstance(node, syn.Dot):
        return _class(syn.complement(((0x0A, 0x0A),)))
    if isinstance(node, syn.CharSet):
        if fold:
            for ranges, _ in node.items:
                _require_modelled_fold(ranges)
        return _class(syn.members(node, fold))
    if isinstance(node, syn.Assert):
        return _ASSERTS[node.kind]
    if isinstance(node, syn.Group):
        return f"(?:{_emit(node.node, fold)})"
    if isinstance(node, syn.Concat):
        return "".join(_emit(item, fold) for item in node.items)
    if isinstance(node, syn.Alt):
        return "|".join(_emit(branch, fold) for branch in node.branches)
    if isinstance(node, syn.Repeat):
        upper = "" if node.max is None else str(node.max)
        bounds = f"{{{node.min}}}" if node.min == node.max else f"{{{node.min},{upper}}}"
        return f"(?:{_emit(node.node, fold)}){bounds}{'' if node.greedy else '?'}"
    raise AssertionError(f"unhandled node {node!r}")


def _require_modelled_fold(ranges: syn.Ranges) -> None:
    """Under (?i) only ASCII letters and their two non-ASCII partners fold as this module knows."""
    for lo, hi in ranges:
        if hi < 0x80 or (lo == hi and lo in _ASCII_PARTNERS):
            continue
        raise syn.Untranslatable(
            f"non-ASCII U+{max(lo, 0x80):04X} under (?i)",
            "case folding of non-ASCII letters differs between Unicode versions; list both cases explicitly",
        )


def _class(ranges: syn.Ranges) -> str:
    if not ranges:
        return f"[^\\x00-\\x{{{syn.MAX_CODE_POINT:x}}}]"  # matches nothing, as an empty RE2 class does
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _SPELLING.char(ranges[0][0])
    return "[" + "".join(_SPELLING.range(lo, hi) for lo, hi in ranges) + "]"
