"""The automata of one run (a proof, a diff), each checked against RE2 before it is trusted.

The overlap prover (:mod:`routegate.proof.overlaps`) and manifest change review
(:mod:`routegate.proof.diff`) both reason over every string a pattern matches. Each
pattern is parsed (:mod:`routegate._re2syntax`), given RE2's search semantics
(a branch not anchored with ``^`` may start anywhere, one without ``$`` may end
anywhere) and case folding, and turned into a nondeterministic automaton over
code point ranges (:mod:`routegate.proof._nfa`), whose deterministic states are
made only when a walk first reaches them (:mod:`routegate.proof._dfa`).

One :class:`~routegate.proof._budget.Budget` bounds a whole run (a proof, a diff):
every state made is charged to the :class:`~routegate.proof._budget.Meter` of the
question at hand, its fair share of what the run has left.

Soundness before completeness: each automaton is spot-checked against RE2 in
both directions before it is trusted, with strings of :mod:`routegate.proof._samples`:
strings drawn from the automaton must be matched by RE2 (it accepts nothing
extra) and strings spelled from the pattern's own tree that RE2 matches must be
accepted (it misses nothing). A pattern outside the parser's subset or failing
either check raises :class:`BeyondProver`; a question past its budget raises
:class:`~routegate.proof._budget.OverBudget`. Callers report both as *unproven*,
never as an answer. The checks sample; they cannot prove the translation right.
"""

from __future__ import annotations

from collections.abc import Iterable

from routegate import _ids, _re2
from routegate import _re2syntax as syn
from routegate.proof._budget import Meter, NotProven
from routegate.proof._dfa import Automaton
from routegate.proof._nfa import ANY, Nfa, pattern_nfa
from routegate.proof._samples import examples, samples

__all__ = ["Automata", "BeyondProver", "re2_finds"]

_SELF_CHECK = 16  # random strings each way (automaton -> RE2, pattern tree -> automaton) before trusting it
_LAST_SPACE = 0x3000  # str.isspace() is false for every code point above U+3000


class BeyondProver(NotProven):
    """The pattern uses a construct the automata do not model, or failed its check against RE2."""


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
                automaton = Automaton(pattern_nfa(regex, meter), pattern, meter)
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
            nfa = Nfa(meter)
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
        nfa = Nfa(None)
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
        nfa.ranges(outside, ANY, outside)
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


def _self_check(automaton: Automaton, regex: syn.Regex, meter: Meter) -> None:
    """Raise BeyondProver unless RE2 and the automaton agree on samples drawn from each side."""
    pattern = regex.source
    for sample in samples(automaton, _SELF_CHECK, meter):
        if not re2_finds(pattern, sample):
            raise BeyondProver(f"pattern {pattern!r}: the automaton accepts {sample!r}, which RE2 does not match")
    for example in examples(regex, _SELF_CHECK):
        if re2_finds(pattern, example) and not automaton.accepts(example, meter):
            raise BeyondProver(f"pattern {pattern!r}: RE2 matches {example!r}, which the automaton rejects")
