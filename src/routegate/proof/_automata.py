"""Finite automata for RE2 patterns, built on demand and within a budget.

The overlap prover (:mod:`routegate.proof.overlaps`) and manifest change review
(:mod:`routegate.proof.diff`) both reason over every string a pattern matches. Each
pattern is parsed (:mod:`routegate._re2syntax`), given RE2's search semantics
(a branch not anchored with ``^`` may start anywhere, one without ``$`` may end
anywhere) and case folding, and turned into a nondeterministic automaton over
code point ranges. Its deterministic states are made only when a walk first
reaches them, so a product of several automata explores just the states that
strings can reach together, and an automaton that would explode (RE2 accepts
``(a|b)*a(a|b){14}``, whose deterministic form has 2^15 states) stops at the
budget instead of running for minutes.

One :class:`~routegate.proof._budget.Budget` bounds a whole run (a proof, a diff):
every state made is charged to the :class:`~routegate.proof._budget.Meter` of the
question at hand, its fair share of what the run has left.

Soundness before completeness: each automaton is spot-checked against RE2 in
both directions before it is trusted: strings drawn from the automaton must be
matched by RE2 (it accepts nothing extra) and strings spelled from the
pattern's own tree that RE2 matches must be accepted (it misses nothing). A
pattern outside the parser's subset or failing either check raises
:class:`BeyondProver`; a question past its budget raises :class:`OverBudget`.
Callers report both as *unproven*, never as an answer. The checks sample; they
cannot prove the translation right.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence

from routegate import _ids, _re2
from routegate import _re2syntax as syn
from routegate.proof._budget import Meter, NotProven

__all__ = [
    "DEAD",
    "Automata",
    "Automaton",
    "BeyondProver",
    "Product",
    "common_string",
    "re2_finds",
    "samples",
]

DEAD = -1
"""The state of a walk no string can finish: it is never stored, a component in it has no moves."""

_ANY: syn.Ranges = ((0, syn.MAX_CODE_POINT),)
_SCAN_LIMIT = 200_000  # widest positive class checked for cased characters under (?i)
_SELF_CHECK = 16  # random strings each way (automaton -> RE2, pattern tree -> automaton) before trusting it
_SURROGATES = (0xD800, 0xDFFF)
_LAST_SPACE = 0x3000  # str.isspace() is false for every code point above U+3000


class BeyondProver(NotProven):
    """The pattern uses a construct the automata do not model, or failed its check against RE2."""


# --- nondeterministic automata over code point ranges -------------------------------------------


class _Nfa:
    """States with range edges and epsilon edges; one start and one accepting state.

    ``at_begin`` and ``at_end`` are epsilon edges with a condition (``^`` and
    ``$``): passable only before the first character, and only after the last.
    Each state is charged to ``meter``; a menu's trie, as large as the manifest, has none.
    """

    __slots__ = ("accept", "at_begin", "at_end", "edges", "eps", "meter", "start")

    def __init__(self, meter: Meter | None) -> None:
        self.edges: list[list[tuple[int, int, int]]] = []
        self.eps: list[list[int]] = []
        self.at_begin: list[list[int]] = []
        self.at_end: list[list[int]] = []
        self.meter = meter
        self.start = self.state()
        self.accept = self.state()

    def state(self) -> int:
        if self.meter is not None:
            self.meter.charge()
        for table in (self.edges, self.eps, self.at_begin, self.at_end):
            table.append([])
        return len(self.edges) - 1

    def ranges(self, source: int, ranges: syn.Ranges, target: int) -> None:
        self.edges[source].extend((lo, hi, target) for lo, hi in ranges)


def _pattern_nfa(regex: syn.Regex, meter: Meter) -> _Nfa:
    """Every string RE2 *finds* the pattern in: anything may come before and after a match."""
    nfa = _Nfa(meter)
    nfa.ranges(nfa.start, _ANY, nfa.start)
    tail = nfa.state()
    nfa.eps[_build(nfa, regex.root, regex.fold_case, nfa.start)].append(tail)
    nfa.ranges(tail, _ANY, tail)
    nfa.eps[tail].append(nfa.accept)
    return nfa


def _build(nfa: _Nfa, node: syn.Node, fold: bool, start: int) -> int:
    """Thompson's construction: the state reached after ``node`` from ``start``."""
    if isinstance(node, syn.Literal | syn.CharSet | syn.Dot):
        end = nfa.state()
        nfa.ranges(start, _node_ranges(node, fold), end)
        return end
    if isinstance(node, syn.Group):
        return _build(nfa, node.node, fold, start)
    if isinstance(node, syn.Concat):
        for item in node.items:
            start = _build(nfa, item, fold, start)
        return start
    if isinstance(node, syn.Alt):
        end = nfa.state()
        for branch in node.branches:
            nfa.eps[_build(nfa, branch, fold, start)].append(end)
        return end
    if isinstance(node, syn.Repeat):
        for _ in range(node.min):
            start = _build(nfa, node.node, fold, start)
        if node.max is None:
            hub = nfa.state()
            nfa.eps[start].append(hub)
            nfa.eps[_build(nfa, node.node, fold, hub)].append(hub)
            return hub
        for _ in range(node.max - node.min):
            end = nfa.state()
            nfa.eps[start].append(end)
            nfa.eps[_build(nfa, node.node, fold, start)].append(end)
            start = end
        return start
    if isinstance(node, syn.Assert):
        if node.kind not in (syn.AssertKind.BEGIN, syn.AssertKind.END):
            raise syn.Untranslatable(f"assertion {node.kind}", "word boundaries are not modelled by the prover")
        end = nfa.state()
        (nfa.at_begin if node.kind is syn.AssertKind.BEGIN else nfa.at_end)[start].append(end)
        return end
    raise AssertionError(f"unhandled node {node!r}")


def _node_ranges(node: syn.Literal | syn.CharSet | syn.Dot, fold: bool) -> syn.Ranges:
    if isinstance(node, syn.Dot):
        return syn.complement(((0x0A, 0x0A),))
    charset = syn.CharSet(((((node.code_point, node.code_point),), False),)) if isinstance(node, syn.Literal) else node
    if fold:
        for ranges, _ in charset.items:
            _refuse_cased(ranges)
    return syn.members(charset, fold)


def _refuse_cased(ranges: syn.Ranges) -> None:
    """Under (?i) only ASCII letters (and U+212A, U+017F) fold as this module knows; refuse other cased members."""
    for lo, hi in ranges:
        if hi < 0x80:
            continue
        if hi - lo > _SCAN_LIMIT:
            raise syn.Untranslatable("wide class under (?i)", "too wide to check for case-folding characters")
        for cp in range(max(lo, 0x80), hi + 1):
            char = chr(cp)
            if cp not in (0x212A, 0x17F) and (char.lower() != char or char.upper() != char or char.casefold() != char):
                raise syn.Untranslatable(
                    f"non-ASCII letter U+{cp:04X} under (?i)", "its case folding is not modelled by the prover"
                )


# --- deterministic automata, built on demand ----------------------------------------------------


def _hopeful(nfa: _Nfa) -> frozenset[int]:
    """The NFA states from which the accepting state can be reached without passing a ``^``."""
    incoming: list[list[int]] = [[] for _ in nfa.edges]
    for source in range(len(nfa.edges)):
        for target in (*(t for _, _, t in nfa.edges[source]), *nfa.eps[source], *nfa.at_end[source]):
            incoming[target].append(source)
    seen = {nfa.accept}
    todo = [nfa.accept]
    while todo:
        for source in incoming[todo.pop()]:
            if source not in seen:
                seen.add(source)
                todo.append(source)
    return frozenset(seen)


class Automaton:
    """A deterministic automaton whose states (sets of NFA states) are made when first reached.

    ``moves(state, meter)`` lists the state's transitions as sorted, disjoint
    ``(low, high, target)`` code point ranges; a character in no range leads to
    :data:`DEAD`. Each state made is charged to the meter of the question that
    reached it; one past its share raises :class:`OverBudget`, and the
    automaton keeps the states made so far, so a later question with room goes on from there.
    """

    __slots__ = ("_hopeful", "_ids", "_moves", "_nfa", "_sets", "finals", "name")

    initial = 0

    def __init__(self, nfa: _Nfa, name: str, meter: Meter) -> None:
        self._nfa = nfa
        self.name = name
        self._hopeful = _hopeful(nfa)
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
        if not _SURROGATES[0] <= cp <= _SURROGATES[1] and chr(cp).isprintable():
            return chr(cp)
    return chr(low)


# --- the automata of one run ----------------------------------------------------------------------


class Automata:
    """Every automaton one proof or diff needs, built once each: the cache is sized by what is asked.

    One instance serves one run (a ``prove()`` or a ``diff()``), so it holds an
    automaton for each pattern of the manifests at hand and no more, and is
    dropped with the run. Building and exploring them is charged to the meter
    of the question at hand.
    """

    __slots__ = ("_failed", "_patterns", "_servable")

    def __init__(self) -> None:
        self._patterns: dict[str, Automaton] = {}
        self._failed: dict[str, BeyondProver] = {}
        self._servable: Automaton | None = None

    def pattern(self, pattern: str, meter: Meter) -> Automaton:
        """Every string RE2 finds ``pattern`` in. Raises BeyondProver or OverBudget."""
        failed = self._failed.get(pattern)
        if failed is not None:
            raise failed
        automaton = self._patterns.get(pattern)
        if automaton is None:
            try:
                regex = syn.parse(pattern)
                automaton = Automaton(_pattern_nfa(regex, meter), pattern, meter)
                _self_check(automaton, regex, meter)
            except syn.Untranslatable as error:
                self._failed[pattern] = BeyondProver(f"pattern {pattern!r} is beyond the prover: {error}")
                raise self._failed[pattern] from None
            except BeyondProver as error:
                self._failed[pattern] = error
                raise
            except RecursionError:
                self._failed[pattern] = BeyondProver(f"pattern {pattern!r} nests too deeply for the prover")
                raise self._failed[pattern] from None
            self._patterns[pattern] = automaton
        return automaton

    def servable(self, meter: Meter) -> Automaton:
        """Ids check() can hand to a matcher: nothing ``_ids.UNSERVABLE`` refuses, nothing str.strip() trims."""
        if self._servable is None:
            refused = syn.parse(_ids.UNSERVABLE.pattern).root
            assert isinstance(refused, syn.CharSet), "UNSERVABLE is one character class"
            unservable = syn.members(refused, False)
            spaces = tuple((cp, cp) for cp in range(_LAST_SPACE + 1) if chr(cp).isspace())
            space = _minus(spaces, unservable)
            edge = syn.complement(unservable + spaces)
            nfa = _Nfa(meter)
            inner = nfa.state()  # after a space: not final until an edge character follows
            nfa.ranges(nfa.start, edge, nfa.accept)
            nfa.ranges(nfa.accept, edge, nfa.accept)
            nfa.ranges(nfa.accept, space, inner)
            nfa.ranges(inner, space, inner)
            nfa.ranges(inner, edge, nfa.accept)
            self._servable = Automaton(nfa, "servable ids", meter)
        return self._servable

    def none_of(self, texts: Iterable[str], meter: Meter) -> Automaton:
        """Every string except ``texts`` (a finite set: a runtime's menu ids)."""
        listed = tuple(texts)
        nfa = _Nfa(None)
        children: dict[int, dict[int, int]] = {nfa.start: {}}  # a trie of the texts
        ends: set[int] = set()
        for text in listed:
            state = nfa.start
            for cp in map(ord, text):
                if cp not in children[state]:
                    children[state][cp] = nfa.state()
                    children[children[state][cp]] = {}
                state = children[state][cp]
            ends.add(state)
        outside = nfa.state()  # off the trie: no listed text starts this way
        nfa.ranges(outside, _ANY, outside)
        nfa.eps[outside].append(nfa.accept)
        for state, follow in children.items():
            if state not in ends:
                nfa.eps[state].append(nfa.accept)
            nfa.ranges(state, syn.complement(tuple((cp, cp) for cp in follow)), outside)
            nfa.edges[state].extend((cp, cp, child) for cp, child in follow.items())
        return Automaton(nfa, "not a menu id", meter)


def _minus(ranges: syn.Ranges, removed: syn.Ranges) -> syn.Ranges:
    return syn.normalize(tuple(r for r in ranges if not any(lo <= r[0] and r[1] <= hi for lo, hi in removed)))


def re2_finds(pattern: str, text: str) -> bool:
    """RE2's search; False for text RE2 cannot take (lone surrogates), so it confirms nothing."""
    try:
        return bool(_re2.compile(pattern).search(text))
    except UnicodeEncodeError:
        return False


# --- checking an automaton against RE2 ------------------------------------------------------------


def _self_check(automaton: Automaton, regex: syn.Regex, meter: Meter) -> None:
    pattern = regex.source
    for sample in samples(automaton, _SELF_CHECK, meter):
        if not re2_finds(pattern, sample):
            raise BeyondProver(f"pattern {pattern!r}: the automaton accepts {sample!r}, which RE2 does not match")
    for example in _examples(regex, _SELF_CHECK):
        if re2_finds(pattern, example) and not automaton.accepts(example, meter):
            raise BeyondProver(f"pattern {pattern!r}: RE2 matches {example!r}, which the automaton rejects")


def samples(automaton: Automaton, count: int, meter: Meter, seed: int = 0) -> list[str]:
    """Up to ``count`` seeded random walks ending in a final state (the empty string among them, if accepted).

    Walks, not a search for the shortest string: a walk costs at most 40 states,
    so checking an automaton that would explode stays within any budget.
    """
    found = []
    rng = random.Random(seed)
    for _ in range(count):
        state, chars = automaton.initial, list[str]()
        while len(chars) < 40:
            if automaton.finals[state] and (rng.random() < 0.3 or len(chars) > 24):  # often short, sometimes empty
                break
            moves = [move for move in automaton.moves(state, meter) if _has_text(move[0], move[1])]
            if not moves:
                break
            lo, hi, state = rng.choice(moves)
            chars.append(chr(_pick(((lo, hi),), rng)))
        if automaton.finals[state]:
            found.append("".join(chars))
    return found


def _has_text(lo: int, hi: int) -> bool:
    return not (_SURROGATES[0] <= lo and hi <= _SURROGATES[1])


def _examples(regex: syn.Regex, count: int, seed: int = 0) -> list[str]:
    """Strings spelled from the pattern's tree, half of them inside random text: candidates RE2 should match."""
    rng = random.Random(seed)
    found = []
    for index in range(count):
        middle = _spell_node(regex.root, regex.fold_case, rng)
        if index % 2:
            middle = _filler(rng) + middle + _filler(rng)
        found.append(middle)
    return found


def _spell_node(node: syn.Node, fold: bool, rng: random.Random) -> str:
    if isinstance(node, syn.Literal | syn.CharSet | syn.Dot):
        ranges = _node_ranges(node, fold)
        return chr(_pick(ranges, rng)) if ranges else ""
    if isinstance(node, syn.Assert):
        return ""  # the string is kept only if RE2 matches it, so a misplaced anchor just drops it
    if isinstance(node, syn.Group):
        return _spell_node(node.node, fold, rng)
    if isinstance(node, syn.Concat):
        return "".join(_spell_node(item, fold, rng) for item in node.items)
    if isinstance(node, syn.Alt):
        return _spell_node(rng.choice(node.branches), fold, rng)
    if isinstance(node, syn.Repeat):
        high = node.min + 3 if node.max is None else min(node.max, node.min + 3)
        return "".join(_spell_node(node.node, fold, rng) for _ in range(rng.randint(node.min, high)))
    raise AssertionError(f"unhandled node {node!r}")


def _pick(ranges: syn.Ranges, rng: random.Random) -> int:
    """A code point of ``ranges``, not a lone surrogate: often an edge of a range, where translations go wrong."""
    usable = [r for r in ranges if _has_text(*r)] or list(ranges)
    lo, hi = rng.choice(usable)
    cp = rng.choice((lo, hi, rng.randint(lo, hi)))
    if _SURROGATES[0] <= cp <= _SURROGATES[1]:
        return lo if lo < _SURROGATES[0] else hi
    return cp


def _filler(rng: random.Random) -> str:
    return "".join(rng.choice("aZ09-/:. \u2028\u212a\u017f") for _ in range(rng.randint(0, 3)))
