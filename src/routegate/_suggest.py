"""The menu ids most like a model id: Dice similarity of letter pairs, by a scan or from a bit-set index.

:func:`nearest` is the rule itself, a pass over the menu: what a list asked
once needs (a one-shot command's refusal, the nearest runtime names), as
building an index costs several such passes.

Every refusal the service shows carries its nearest menu ids, so on a menu of
thousands a runtime refused again must not cost a pass over the menu. Each
letter pair maps to the set of menu positions holding it, kept as one
integer's bits; the probe's pair counts are added bit-sliced (a few integer
operations per probe pair, however long the menu), and positions are taken
count by count, best first, scoring only those that can still rank.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Iterator, Sequence
from heapq import nsmallest
from operator import add

__all__ = ["SIMILARITY_PREFIX", "SuggestionIndex", "letter_pairs", "nearest"]

SIMILARITY_PREFIX = 128
"""A probe is compared by this many leading characters only: a hostile id costs no more than a long one."""


def letter_pairs(text: str) -> frozenset[str]:
    """Adjacent letter pairs, case-folded; a text under two letters stands for itself."""
    folded = text.casefold()
    return frozenset(map(add, folded, folded[1:])) or frozenset((folded,))


def nearest(menu: Sequence[str], text: str, limit: int = 3) -> tuple[str, ...]:
    """The ``limit`` menu ids most like ``text``, best first; equal scores in menu order (a pass over the menu)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    probe = letter_pairs(text[:SIMILARITY_PREFIX])
    size = len(probe)
    scored = ((-2 * len(probe & held) / (size + len(held)), i) for i, held in enumerate(map(letter_pairs, menu)))
    return tuple(menu[position] for _, position in nsmallest(limit, scored))


class SuggestionIndex:
    """A menu indexed for nearest(): built once per runtime, the first time a refusal's suggestions are read."""

    __slots__ = ("_by_size", "_everyone", "_fewest", "_holders", "menu")

    def __init__(self, menu: tuple[str, ...]) -> None:
        self.menu = menu
        pairs = [letter_pairs(model) for model in menu]
        holders: dict[str, list[int]] = {}
        sizes: dict[int, list[int]] = {}
        for position, held in enumerate(pairs):
            for pair in held:
                holders.setdefault(pair, []).append(position)
            sizes.setdefault(len(held), []).append(position)
        self._holders = {pair: _bit_set(positions, len(menu)) for pair, positions in holders.items()}
        """Each pair's holders: bit ``i`` set when menu id ``i`` holds the pair."""
        self._by_size = tuple((size, _bit_set(positions, len(menu))) for size, positions in sorted(sizes.items()))
        """The menu positions by how many pairs their id has, fewest first: fewer pairs score higher."""
        self._fewest = min(sizes, default=0)
        self._everyone = (1 << len(menu)) - 1

    def nearest(self, text: str, limit: int = 3) -> tuple[str, ...]:
        """:func:`nearest` of the menu, answered without a pass over it."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        probe = letter_pairs(text[:SIMILARITY_PREFIX])
        size = len(probe)
        counts = _bit_sliced_sum(filter(None, map(self._holders.get, probe)))
        ranked: list[tuple[float, int]] = []  # (negated score, position), best first
        for shared, level in _levels(counts, self._everyone):
            # Fewer shared pairs never score higher: once even the fewest-pair ids at this count rank
            # below the last place, nothing further down can enter.
            if len(ranked) == limit and -2 * shared / (size + self._fewest) > ranked[-1][0]:
                break
            for pair_count, positions in self._by_size:
                score = -2 * shared / (size + pair_count)
                if len(ranked) == limit and score > ranked[-1][0]:
                    break  # more pairs, lower scores
                cell = level & positions
                while cell:
                    lowest = cell & -cell
                    entry = (score, lowest.bit_length() - 1)
                    if len(ranked) == limit:
                        if entry >= ranked[-1]:
                            break  # the rest of the cell ties and comes later in the menu
                        ranked.pop()
                    insort(ranked, entry)
                    cell ^= lowest
        return tuple(self.menu[position] for _, position in ranked)


def _bit_set(positions: list[int], length: int) -> int:
    """The integer whose set bits are ``positions``, built in one pass rather than one shift and or per bit."""
    bits = bytearray(length // 8 + 1)
    for position in positions:
        bits[position >> 3] |= 1 << (position & 7)
    return int.from_bytes(bits, "little")


def _bit_sliced_sum(bit_sets: Iterable[int]) -> list[int]:
    """Per position, how many of ``bit_sets`` hold it: bit ``i`` of the ``j``-th integer is bit ``j`` of its count."""
    slices: list[int] = []
    for bits in bit_sets:
        carry = bits
        for place, digit in enumerate(slices):
            slices[place] = digit ^ carry
            carry &= digit
            if not carry:
                break
        if carry:
            slices.append(carry)
    return slices


def _levels(counts: list[int], everyone: int) -> Iterator[tuple[int, int]]:
    """(count, the positions with exactly that count), highest count first, down to the positions with none."""
    remaining = everyone
    while remaining:
        count, level = 0, remaining
        for place in range(len(counts) - 1, -1, -1):  # the highest count, decided bit by bit from the top
            holding = level & counts[place]
            if holding:
                level = holding
                count |= 1 << place
        yield count, level
        remaining ^= level
