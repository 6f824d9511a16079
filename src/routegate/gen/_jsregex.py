"""RE2 patterns as JavaScript RegExp source with the same meaning, or a refusal.

Node's RegExp differs from RE2 in ways that change answers: ``.`` stops at
``\\r`` and U+2028, ``\\s`` and ``\\w`` follow other tables, ``{`` needs an
escape. So nothing is copied through: the pattern is parsed
(:mod:`routegate._re2syntax`) and written out again, every class spelled out
as explicit ranges, with the ``u`` flag (code points, not UTF-16 units) and
``i`` for a leading ``(?i)``. Constructs whose meaning would drift raise
:class:`~routegate._re2syntax.Untranslatable`.
"""

from __future__ import annotations

from routegate import _re2syntax as syn

from ._spelling import Spelling

__all__ = ["to_javascript"]

_SPELLING = Spelling(frozenset("^$\\.*+?()[]{}|/"), frozenset("\\]^-["), escape="\\u{{{:x}}}")


def to_javascript(pattern: str) -> tuple[str, str]:
    """``(source, flags)`` for ``new RegExp(source, flags)``, searching like RE2 searches ``pattern``."""
    regex = syn.parse(pattern)
    source = _emit(regex.root, regex.fold_case)
    return source, "iu" if regex.fold_case else "u"


def _emit(node: syn.Node, fold: bool) -> str:
    if isinstance(node, syn.Literal):
        if fold and node.code_point > 0x7F:
            raise syn.Untranslatable(
                f"non-ASCII {_show(node.code_point)} under (?i)",
                "case folding of non-ASCII letters differs between Unicode versions; list both cases explicitly",
            )
        return _SPELLING.char(node.code_point)
    if isinstance(node, syn.Dot):
        return "[^\\n]"  # RE2's dot: every code point but newline (JS's also stops at \r, U+2028, U+2029)
    if isinstance(node, syn.CharSet):
        return _charset(node, fold)
    if isinstance(node, syn.Assert):
        if node.kind in ("word_boundary", "not_word_boundary") and fold:
            raise syn.Untranslatable(
                "\\b or \\B under (?i)", "JavaScript widens word characters under case folding; RE2 does not"
            )
        return {"begin": "^", "end": "$", "word_boundary": "\\b", "not_word_boundary": "\\B"}[node.kind]
    if isinstance(node, syn.Group):
        return f"(?:{_emit(node.node, fold)})"
    if isinstance(node, syn.Concat):
        return "".join(_emit(item, fold) for item in node.items)
    if isinstance(node, syn.Alt):
        return "|".join(_emit(branch, fold) for branch in node.branches)
    if isinstance(node, syn.Repeat):
        if node.max is None:
            bounds = {0: "*", 1: "+"}.get(node.min, f"{{{node.min},}}")
        elif node.min == node.max:
            bounds = f"{{{node.min}}}"
        else:
            bounds = "?" if (node.min, node.max) == (0, 1) else f"{{{node.min},{node.max}}}"
        return f"(?:{_emit(node.node, fold)}){bounds}{'' if node.greedy else '?'}"
    raise AssertionError(f"unhandled node {node!r}")


def _charset(node: syn.CharSet, fold: bool) -> str:
    if not fold:
        # Exact membership: spell out the final set, negations already applied.
        ranges = syn.members(node, False)
        return "[" + "".join(_SPELLING.range(lo, hi) for lo, hi in ranges) + "]" if ranges else "[^\\u{0}-\\u{10ffff}]"
    # Under the i flag JavaScript folds each member, so hand it the positive, ASCII-only
    # parts and let a single outer negation match RE2's "fold, then negate".
    if len(node.items) > 1 and any(negated for _, negated in node.items):
        raise syn.Untranslatable(
            "negated class inside [...] under (?i)",
            "JavaScript and RE2 fold such classes differently; spell the class out without \\W, \\S, \\D or [:^...:]",
        )
    outer = node.negated
    ranges = syn.normalize(tuple(r for ranges, _ in node.items for r in ranges))
    if len(node.items) == 1 and node.items[0][1]:
        outer = not outer
    if ranges and ranges[-1][1] > 0x7F:
        raise syn.Untranslatable(
            f"non-ASCII class member {_show(ranges[-1][1])} under (?i)",
            "case folding of non-ASCII letters differs between Unicode versions; list both cases explicitly",
        )
    body = "".join(_SPELLING.range(lo, hi) for lo, hi in ranges)
    return f"[{'^' if outer else ''}{body}]"


def _show(code_point: int) -> str:
    return f"U+{code_point:04X}"
