"""A parser for the part of RE2's syntax routegate can carry faithfully elsewhere.

Patterns are RE2 and are evaluated by RE2 in the core. Two tools need to know
what a pattern *means* rather than only run it: the TypeScript generator (Node's
RegExp is not RE2) and the overlap prover (automata intersection). Both work
from the tree built here. Anything outside the subset raises
:class:`Untranslatable` naming the construct, so a caller can refuse (the
generator) or say "unproven" (the prover) instead of guessing.

The subset: literals and escapes, ``.``, bracket classes (ranges, Perl and
ASCII POSIX classes), groups, alternation, greedy and lazy repetition,
``^``/``$``/``\\A``/``\\z`` and ``\\b``/``\\B``, and a leading ``(?i)``. Case
folding is supported for ASCII only: RE2 folds ``k`` with U+212A and ``s``
with U+017F, and so does :func:`fold`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "MAX_CODE_POINT",
    "Alt",
    "Assert",
    "AssertKind",
    "CharSet",
    "Concat",
    "Dot",
    "Group",
    "Literal",
    "Node",
    "Regex",
    "Repeat",
    "Untranslatable",
    "complement",
    "fold",
    "members",
    "normalize",
    "parse",
]

MAX_CODE_POINT = 0x10FFFF

Ranges = tuple[tuple[int, int], ...]

# RE2's Perl classes are ASCII-only (\s has no \v); its POSIX classes are ASCII.
_PERL: dict[str, Ranges] = {
    "d": ((0x30, 0x39),),
    "s": ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)),
    "w": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
}
_POSIX: dict[str, Ranges] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": ((0x30, 0x39),),
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
_SIMPLE_ESCAPES = {"t": 0x09, "n": 0x0A, "v": 0x0B, "f": 0x0C, "r": 0x0D, "a": 0x07}
# Non-ASCII code points that RE2 folds together with ASCII letters.
_ASCII_FOLDS = {0x6B: 0x212A, 0x4B: 0x212A, 0x73: 0x17F, 0x53: 0x17F, 0x212A: 0x6B, 0x17F: 0x73}


class Untranslatable(ValueError):
    """The pattern uses a construct outside the faithful subset; ``construct`` names it."""

    def __init__(self, construct: str, detail: str) -> None:
        self.construct = construct
        super().__init__(f"{construct}: {detail}")


@dataclass(frozen=True, slots=True)
class Literal:
    code_point: int


@dataclass(frozen=True, slots=True)
class CharSet:
    """A bracket class or Perl class: ``items`` are (ranges, negated) parts, ``negated`` the outer ``^``."""

    items: tuple[tuple[Ranges, bool], ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Dot:
    """RE2's ``.``: any code point but newline."""


class AssertKind(enum.StrEnum):
    """The zero-width assertions of the subset: ``^``/``\\A``, ``$``/``\\z``, ``\\b`` and ``\\B``."""

    BEGIN = "begin"
    END = "end"
    WORD_BOUNDARY = "word_boundary"
    NOT_WORD_BOUNDARY = "not_word_boundary"


@dataclass(frozen=True, slots=True)
class Assert:
    kind: AssertKind


@dataclass(frozen=True, slots=True)
class Group:
    node: Node


@dataclass(frozen=True, slots=True)
class Concat:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Alt:
    branches: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Repeat:
    node: Node
    min: int
    max: int | None
    greedy: bool = True


Node = Literal | CharSet | Dot | Assert | Group | Concat | Alt | Repeat


@dataclass(frozen=True, slots=True)
class Regex:
    """A parsed pattern: its tree and whether a leading ``(?i)`` folds case."""

    source: str
    root: Node
    fold_case: bool


def parse(pattern: str) -> Regex:
    """Parse ``pattern`` (already known to compile under RE2) or raise :class:`Untranslatable`."""
    try:
        return _Parser(pattern).parse()
    except Untranslatable:
        raise
    except ValueError as error:  # a malformed escape such as \x{41: RE2 refuses these at load time
        raise Untranslatable("syntax", f"cannot read {pattern!r}: {error}") from None


def fold(ranges: Ranges) -> Ranges:
    """``ranges`` closed under RE2's case folding, for ASCII letters (and their two non-ASCII partners)."""
    extra: list[tuple[int, int]] = []
    for lo, hi in ranges:
        for cp in range(max(lo, 0x41), min(hi, 0x7A) + 1):
            if 0x41 <= cp <= 0x5A or 0x61 <= cp <= 0x7A:
                partner = cp ^ 0x20
                extra.append((partner, partner))
        for cp, partner in _ASCII_FOLDS.items():
            if lo <= cp <= hi:
                extra.append((partner, partner))
                if partner in (0x6B, 0x73):
                    extra.append((partner ^ 0x20, partner ^ 0x20))
    return normalize(ranges + tuple(extra))


def members(charset: CharSet, fold_case: bool) -> Ranges:
    """The code points a class matches, as RE2 builds it: each part folded, then negated."""
    parts: list[tuple[int, int]] = []
    for ranges, negated in charset.items:
        part = fold(ranges) if fold_case else normalize(ranges)
        parts.extend(complement(part) if negated else part)
    union = normalize(tuple(parts))
    return complement(union) if charset.negated else union


def normalize(ranges: Ranges) -> Ranges:
    """Sorted, merged, non-overlapping ranges."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def complement(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    start = 0
    for lo, hi in normalize(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CODE_POINT:
        out.append((start, MAX_CODE_POINT))
    return tuple(out)


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0

    # --- helpers ---------------------------------------------------------------------

    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def _take(self) -> str:
        char = self._peek()
        if not char:
            raise Untranslatable("syntax", f"unexpected end of pattern {self.text!r}")
        self.pos += 1
        return char

    def _startswith(self, prefix: str) -> bool:
        return self.text.startswith(prefix, self.pos)

    # --- grammar ---------------------------------------------------------------------

    def parse(self) -> Regex:
        fold_case = False
        if self._startswith("(?i)"):
            fold_case = True
            self.pos += 4
        root = self._alternation()
        if self.pos != len(self.text):
            raise Untranslatable("syntax", f"unbalanced ')' at offset {self.pos} of {self.text!r}")
        return Regex(self.text, root, fold_case)

    def _alternation(self) -> Node:
        branches = [self._concat()]
        while self._peek() == "|":
            self.pos += 1
            branches.append(self._concat())
        return branches[0] if len(branches) == 1 else Alt(tuple(branches))

    def _concat(self) -> Node:
        items: list[Node] = []
        while self._peek() and self._peek() not in "|)":
            if self._startswith("\\Q"):
                self.pos += 2
                end = self.text.find("\\E", self.pos)
                end = len(self.text) if end < 0 else end
                quoted = self.text[self.pos : end]
                self.pos = min(end + 2, len(self.text))
                items.extend(Literal(ord(c)) for c in quoted[:-1])
                if quoted:
                    items.append(self._quantified(Literal(ord(quoted[-1]))))
                continue
            items.append(self._quantified(self._atom()))
        return items[0] if len(items) == 1 else Concat(tuple(items))

    def _quantified(self, atom: Node) -> Node:
        bounds = self._quantifier()
        if bounds is None:
            return atom
        if isinstance(atom, Assert):
            raise Untranslatable("repeated assertion", "a quantifier on ^, $, \\b or \\B has no portable meaning")
        low, high = bounds
        greedy = True
        if self._peek() == "?":
            self.pos += 1
            greedy = False
        if self._quantifier_ahead():
            raise Untranslatable("repeated repetition", "stack repetitions inside a group instead")
        return Repeat(atom, low, high, greedy)

    def _quantifier_ahead(self) -> bool:
        return self._peek() in ("*", "+", "?") or (self._peek() == "{" and self._brace_bounds() is not None)

    def _quantifier(self) -> tuple[int, int | None] | None:
        char = self._peek()
        if char in ("*", "+", "?") and char:
            self.pos += 1
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        if char == "{":
            bounds = self._brace_bounds()
            if bounds is None:
                raise Untranslatable(
                    "literal '{'", "RE2 reads a '{' that starts no repetition as text; escape it as \\{"
                )
            low, high, length = bounds
            self.pos += length
            return low, high
        return None

    def _brace_bounds(self) -> tuple[int, int | None, int] | None:
        end = self.text.find("}", self.pos)
        if end < 0:
            return None
        body = self.text[self.pos + 1 : end]
        low, comma, high = body.partition(",")
        if not low.isdigit() or not low.isascii() or (high and not (high.isdigit() and high.isascii())):
            return None
        if not comma:
            return int(low), int(low), end - self.pos + 1
        return int(low), (int(high) if high else None), end - self.pos + 1

    def _atom(self) -> Node:
        char = self._take()
        if char == "(":
            return self._group()
        if char == "[":
            return self._bracket()
        if char == ".":
            return Dot()
        if char == "^":
            return Assert(AssertKind.BEGIN)
        if char == "$":
            return Assert(AssertKind.END)
        if char == "\\":
            return self._escape()
        if char in "*+?":
            raise Untranslatable("syntax", f"missing argument to repetition operator at offset {self.pos - 1}")
        return Literal(ord(char))

    def _group(self) -> Node:
        if self._startswith("?:"):
            self.pos += 2
        elif self._startswith("?P<") or self._startswith("?<"):
            close = self.text.find(">", self.pos)
            if close < 0:
                raise Untranslatable("syntax", "unterminated group name")
            self.pos = close + 1
        elif self._peek() == "?":
            end = self.text.find(")", self.pos)
            construct = self.text[self.pos - 1 : end + 1] if end >= 0 else self.text[self.pos - 1 :]
            raise Untranslatable(
                f"flag group {construct}",
                "only a leading (?i) is supported; write the pattern without inline flags",
            )
        node = self._alternation()
        if self._take() != ")":
            raise Untranslatable("syntax", "missing ')'")
        return Group(node)

    def _escape(self) -> Node:
        char = self._take()
        if char == "A":
            return Assert(AssertKind.BEGIN)
        if char == "z":
            return Assert(AssertKind.END)
        if char == "b":
            return Assert(AssertKind.WORD_BOUNDARY)
        if char == "B":
            return Assert(AssertKind.NOT_WORD_BOUNDARY)
        perl = self._perl_class(char)
        if perl is not None:
            return CharSet((perl,))
        return Literal(self._escaped_code_point(char))

    @staticmethod
    def _perl_class(char: str) -> tuple[Ranges, bool] | None:
        if char.lower() in _PERL:
            return _PERL[char.lower()], char.isupper()
        return None

    def _escaped_code_point(self, char: str) -> int:
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        if char == "x":
            if self._peek() == "{":
                end = self.text.find("}", self.pos)
                if end < 0:
                    raise Untranslatable("syntax", "unterminated \\x{...}")
                digits = self.text[self.pos + 1 : end]
                self.pos = end + 1
            else:
                digits = self.text[self.pos : self.pos + 2]
                self.pos += 2
            return int(digits, 16)
        if char in "pP":
            raise Untranslatable(
                f"Unicode class \\{char}",
                "Unicode property tables differ between RE2 and other engines; list the characters instead",
            )
        if char == "C":
            raise Untranslatable("\\C", "matching single bytes has no equivalent outside RE2")
        if char.isdigit():
            raise Untranslatable(f"octal escape \\{char}", "write the character as \\x{...} instead")
        if char.isascii() and not char.isalnum() and char != "_":
            return ord(char)
        raise Untranslatable(f"escape \\{char}", "not part of the supported subset")

    def _bracket(self) -> CharSet:
        negated = self._peek() == "^"
        if negated:
            self.pos += 1
        items: list[tuple[Ranges, bool]] = []
        first = True
        while first or self._peek() != "]":
            if not self._peek():
                raise Untranslatable("syntax", "missing ']'")
            first = False
            if self._startswith("[:"):
                end = self.text.find(":]", self.pos + 2)
                name = self.text[self.pos + 2 : end] if end >= 0 else ""
                bare = name.removeprefix("^")
                if bare in _POSIX:
                    items.append((_POSIX[bare], name.startswith("^")))
                    self.pos = end + 2
                    continue
            if self._peek() == "\\" and self._perl_class(self._peek(1)) is not None:
                perl = self._perl_class(self._peek(1))
                assert perl is not None
                items.append(perl)
                self.pos += 2
                continue
            low = self._class_char()
            if self._peek() == "-" and self._peek(1) not in ("]", ""):
                self.pos += 1
                high = self._class_char()
                items.append((((low, high),), False))
            else:
                items.append((((low, low),), False))
        self.pos += 1
        return CharSet(tuple(items), negated)

    def _class_char(self) -> int:
        char = self._take()
        if char == "\\":
            return self._escaped_code_point(self._take())
        return ord(char)
