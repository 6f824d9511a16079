"""Nondeterministic automata over code point ranges, built from RE2 pattern trees.

The bottom of the prover's automata: :mod:`routegate.proof._dfa` makes deterministic
states out of these on demand. A pattern's automaton accepts every string RE2 *finds*
the pattern in (a match may start and end anywhere unless anchored), with case folding
as far as :func:`node_ranges` models it; a construct it does not model raises
:class:`routegate._re2syntax.Untranslatable`.
"""

from __future__ import annotations

from routegate import _re2syntax as syn
from routegate.proof._budget import Meter

__all__ = ["ANY", "Nfa", "hopeful", "node_ranges", "pattern_nfa"]

ANY: syn.Ranges = ((0, syn.MAX_CODE_POINT),)
_SCAN_LIMIT = 200_000  # widest positive class checked for cased characters under (?i)


class Nfa:
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


def pattern_nfa(regex: syn.Regex, meter: Meter) -> Nfa:
    """Every string RE2 *finds* the pattern in: anything may come before and after a match."""
    nfa = Nfa(meter)
    nfa.ranges(nfa.start, ANY, nfa.start)
    tail = nfa.state()
    nfa.eps[_build(nfa, regex.root, regex.fold_case, nfa.start)].append(tail)
    nfa.ranges(tail, ANY, tail)
    nfa.eps[tail].append(nfa.accept)
    return nfa


def _build(nfa: Nfa, node: syn.Node, fold: bool, start: int) -> int:
    """Thompson's construction: the state reached after ``node`` from ``start``."""
    if isinstance(node, syn.Literal | syn.CharSet | syn.Dot):
        end = nfa.state()
        nfa.ranges(start, node_ranges(node, fold), end)
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


def node_ranges(node: syn.Literal | syn.CharSet | syn.Dot, fold: bool) -> syn.Ranges:
    """The code points one character of the pattern matches, folded under (?i)."""
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


def hopeful(nfa: Nfa) -> frozenset[int]:
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
