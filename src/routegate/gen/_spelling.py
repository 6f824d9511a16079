"""How a generated target's regex source writes a code point: shared by the Go and JavaScript translators."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Spelling"]


@dataclass(frozen=True, slots=True)
class Spelling:
    """A target's rules for literal code points in its regex source.

    Its syntax characters are backslashed (``syntax`` outside a class, ``class_syntax``
    inside one), printable ASCII stands for itself unless it is in ``unsafe`` (a character
    the source's own string literal cannot hold), and every other code point is written
    with ``escape``, a format given the code point as an int.
    """

    syntax: frozenset[str]
    class_syntax: frozenset[str]
    escape: str
    unsafe: str = ""

    def char(self, code_point: int, *, in_class: bool = False) -> str:
        char = chr(code_point)
        if char in (self.class_syntax if in_class else self.syntax):
            return "\\" + char
        if 0x20 <= code_point < 0x7F and char not in self.unsafe:
            return char
        return self.escape.format(code_point)

    def range(self, lo: int, hi: int) -> str:
        """``lo-hi`` inside a class, or the one code point when they are the same."""
        first = self.char(lo, in_class=True)
        return first if lo == hi else f"{first}-{self.char(hi, in_class=True)}"
