"""Deterministic automata made on demand from :mod:`routegate.proof._nfa`, and their products.

A deterministic state (a set of NFA states) is made only when a walk first
reaches it, so a product of several automata explores just the states that
strings can reach together, and an automaton that would explode (RE2 accepts
``(a|b)*a(a|b){14}``, whose deterministic form has 2^15 states) stops at the
budget instead of running for minutes: each state made is charged to the
:class:`~routegate.proof._budget.Meter` of the question that reached it.
"""

from __future__ import annotations

import bisect
import collections
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence

from routegate import _re2syntax as syn
from routegate.proof._budget import Meter
from routegate.proof._nfa import Nfa, hopeful

__all__ = ["DEAD", "SURROGATES", "Automaton", "Product", "common_string"]

DEAD = -1
"""The state of a walk no string can finish: it is never stored, a component in it has no moves."""

SURROGATES = (0xD800, 0xDFFF)
"""Code points no text holds alone (RE2 cannot take them): never a witness where there is a choice."""


class Automaton:
    """A deterministic automaton whose states (sets of NFA states) are made when first reached.

    ``moves(state, meter)`` lists the state's transitions as sorted, disjoint
    ``(low, high, target)`` code point ranges; a character in no range leads to
    :data:`DEAD`. Each state made is charged to the meter of the question that
    reached it; one past its share raises :class:`~routegate.proof._budget.OverBudget`, and
    the automaton keeps the states made so far, so a later question with room goes on from there.
    """

    __slots__ = ("_hopeful", "_ids", "_moves", "_nfa", "_sets", "finals", "name")

    initial = 0

    def __init__(self, nfa: Nfa, name: str, meter: Meter) -> None:
        self._nfa = nfa
        self.name = name
        self._hopeful = hopeful(nfa)
        self._sets: list[frozenset[int]] = []
        self._ids: dict[tuple[frozenset[int], bool], int] = {}
        self._moves: list[tuple[tuple[int, int, int], ...] | None] = []
        self.finals: list[bool] = []
        self._state(self._closure((nfa.start,), at_begin=True), meter, at_begin=True)

    def _closure(self, states: Iterable[int], *, at_begin: bool = False, at_end: bool = False) -> frozenset[int]:
        """The states reachable by epsilon edges, and by ``^`` (``$``) edges where the text begins (ends)."""
        tables = [self._nfa.eps]
        tables += [self._nfa.at_begin] if at_begin else []
        tables += [self._nfa.at_end] if at_end else []
        seen = set(states)
        todo = list(seen)
        while todo:
            state = todo.pop()
            for table in tables:
                for target in table[state]:
                    if target not in seen:
                        seen.add(target)
                        todo.append(target)
        return frozenset(seen)

    def _state(self, subset: frozenset[int], meter: Meter, *, at_begin: bool = False) -> int:
        """The number of a state, made if new; the initial one is its own even if a later set is equal."""
        key = (subset, at_begin)
        found = self._ids.get(key)
        if found is not None:
            return found
        meter.charge()
        self._ids[key] = len(self._sets)
        self._sets.append(subset)
        self._moves.append(None)
        self.finals.append(self._nfa.accept in self._closure(subset, at_begin=at_begin, at_end=True))
        return len(self._sets) - 1

    def moves(self, state: int, meter: Meter) -> tuple[tuple[int, int, int], ...]:
        known = self._moves[state]
        if known is not None:
            return known
        meter.check_time()
        edges = [edge for nfa_state in self._sets[state] for edge in self._nfa.edges[nfa_state]]
        points = sorted({lo for lo, _, _ in edges} | {hi + 1 for _, hi, _ in edges})
        found: list[tuple[int, int, int]] = []
        for low, after in itertools.pairwise(points):
            targets = [target for lo, hi, target in edges if lo <= low <= hi]
            if not targets:
                continue
            # Past the first character a ^ can never hold again: keep only states that may still accept,
            # so a walk that can no longer match is DEAD and a product stops there.
            subset = self._closure(targets) & self._hopeful
            if not subset:
                continue
            target = self._state(subset, meter)
            if found and found[-1][2] == target and found[-1][1] == low - 1:
                found[-1] = (found[-1][0], after - 1, target)
            else:
                found.append((low, after - 1, target))
        self._moves[state] = moves = tuple(found)
        return moves

    def step(self, state: int, code_point: int, meter: Meter) -> int:
        moves = self.moves(state, meter)
        index = bisect.bisect_right(moves, (code_point, syn.MAX_CODE_POINT + 1, 0)) - 1
        if index >= 0 and moves[index][0] <= code_point <= moves[index][1]:
            return moves[index][2]
        return DEAD

    def accepts(self, text: str, meter: Meter) -> bool:
        state = self.initial
        for char in text:
            state = self.step(state, ord(char), meter)
            if state == DEAD:
                return False
        return self.finals[state]


class Product:
    """The reachable states of several automata read in step, breadth first.

    Iterating yields each reachable state tuple once, shortest strings first;
    :meth:`spell` gives a shortest string reaching it, built from readable
    characters where there is a choice (see :func:`_rank`). ``keep`` prunes: a state it refuses is neither yielded nor
    walked from. Every state explored is charged to ``meter``.
    """

    __slots__ = ("_automata", "_keep", "_meter", "_parents")

    def __init__(
        self, automata: Sequence[Automaton], meter: Meter, keep: Callable[[tuple[int, ...]], bool] | None = None
    ) -> None:
        self._automata = tuple(automata)
        self._meter = meter
        self._keep = keep
        self._parents: dict[tuple[int, ...], tuple[tuple[int, ...], str] | None] = {}

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        initial = tuple(a.initial for a in self._automata)
        if self._keep is not None and not self._keep(initial):
            return
        self._parents[initial] = None
        queue = collections.deque([initial])
        while queue:
            state = queue.popleft()
            yield state
            for char, target in self._successors(state):
                if target not in self._parents and (self._keep is None or self._keep(target)):
                    self._meter.charge()
                    self._parents[target] = (state, char)
                    queue.append(target)

    def _successors(self, state: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
        tables = [
            automaton.moves(sub, self._meter) if sub != DEAD else ()
            for automaton, sub in zip(self._automata, state, strict=True)
        ]
        points = sorted({lo for table in tables for lo, _, _ in table} | {hi + 1 for t in tables for _, hi, _ in t})
        cursors = [0] * len(tables)
        found: list[tuple[tuple[int, int], str, tuple[int, ...]]] = []
        for low, after in itertools.pairwise(points):
            target = []
            for index, table in enumerate(tables):
                cursor = cursors[index]
                while cursor < len(table) and table[cursor][1] < low:
                    cursor += 1
                cursors[index] = cursor
                inside = cursor < len(table) and table[cursor][0] <= low
                target.append(table[cursor][2] if inside else DEAD)
            if any(sub != DEAD for sub in target):
                char = _readable(low, after - 1)
                found.append((_rank(char), char, tuple(target)))
        found.sort(key=lambda item: item[0])
        return [(char, target) for _, char, target in found]

    def spell(self, state: tuple[int, ...]) -> str:
        chars: list[str] = []
        link = self._parents[state]
        while link is not None:
            state, char = link
            chars.append(char)
            link = self._parents[state]
        return "".join(reversed(chars))


def common_string(automata: Sequence[Automaton], meter: Meter) -> str | None:
    """A shortest string every automaton accepts, or None when there is none (a proof, within the budget)."""
    product = Product(automata, meter, keep=lambda state: DEAD not in state)
    for state in product:
        if all(a.finals[sub] for a, sub in zip(automata, state, strict=True)):
            return product.spell(state)
    return None


def _rank(char: str) -> tuple[int, int]:
    """Witnesses people can read: lower-case letters, digits, upper-case, other printable, the rest."""
    cp = ord(char)
    if 0x61 <= cp <= 0x7A:
        return (0, cp)
    if 0x30 <= cp <= 0x39:
        return (1, cp)
    if 0x41 <= cp <= 0x5A:
        return (2, cp)
    if 0x21 <= cp <= 0x7E:
        return (3, cp)
    return (4 if char.isprintable() else 5, cp)


def _readable(low: int, high: int) -> str:
    """The most readable character of a range (see :func:`_rank`)."""
    for lo, hi in ((0x61, 0x7A), (0x30, 0x39), (0x41, 0x5A), (0x21, 0x7E)):
        if low <= hi and lo <= high:
            return chr(max(low, lo))
    for cp in range(low, min(high, low + 256) + 1):
        if not SURROGATES[0] <= cp <= SURROGATES[1] and chr(cp).isprintable():
            return chr(cp)
    return chr(low)
