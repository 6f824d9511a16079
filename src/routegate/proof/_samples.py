"""Strings to check an automaton against RE2 with, drawn from both sides of the translation.

:func:`samples` walks the automaton (RE2 must match each: it accepts nothing
extra); :func:`examples` spells strings from the pattern's own tree (each one
RE2 matches the automaton must accept: it misses nothing). Both are seeded, so
a check is the same on every run.
"""

from __future__ import annotations

import random

from routegate import _re2syntax as syn
from routegate.proof._budget import Meter
from routegate.proof._dfa import SURROGATES, Automaton
from routegate.proof._nfa import node_ranges

__all__ = ["examples", "samples"]


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
    return not (SURROGATES[0] <= lo and hi <= SURROGATES[1])


def examples(regex: syn.Regex, count: int, seed: int = 0) -> list[str]:
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
        ranges = node_ranges(node, fold)
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
    if SURROGATES[0] <= cp <= SURROGATES[1]:
        return lo if lo < SURROGATES[0] else hi
    return cp


def _filler(rng: random.Random) -> str:
    return "".join(rng.choice("aZ09-/:. \u2028\u212a\u017f") for _ in range(rng.randint(0, 3)))
