"""Proofs that providers' patterns never claim the same model id (``routegate lint --prove``).

Two native providers whose patterns both match an id make that id ambiguous
(derive() names no provider for it), or worse, route it by auth env alone. Sampling ids cannot
show that never happens; automata can (:mod:`routegate.proof._automata`): the
product of two patterns' automata, restricted to ids check() can ever hand to
a matcher (trimmed, non-empty, no control characters), either reaches no
state where both accept -- a proof over every string -- or yields a witness,
which RE2 must confirm on both patterns.

Every pair of a runtime's native providers is proven. Across the catalog, only
pairs an index of literal prefixes cannot separate are: two patterns whose
every match starts with ``gpt-`` and ``claude`` respectively are disjoint by
that alone (the prefixes are read off the same automata). One
:class:`~routegate.proof._budget.Budget` bounds the whole run, shared fairly among
its questions (each pattern's prefixes, each distinct pair); a pair past its
share, a pattern outside the modelled subset, an automaton failing its check
against RE2 or an unconfirmed witness makes the pair *unproven*, never disjoint.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from routegate.manifest import Manifest, Provider
from routegate.proof._automata import Automata, re2_finds
from routegate.proof._budget import DEFAULT_BUDGET, Budget, Ledger, Meter, NotProven
from routegate.proof._dfa import Automaton, common_string

__all__ = ["Overlap", "ProofReport", "Scope", "SharedId", "Unproven", "prove"]
_PREFIX_DEPTH = 6  # literal prefixes read up to this many characters ...
_PREFIX_WIDTH = 64  # ... while at most this many strings spell them


class Scope(enum.StrEnum):
    """Where two patterns meet: in one runtime (an error) or anywhere in the catalog."""

    RUNTIME = "runtime"
    CATALOG = "catalog"


@dataclass(frozen=True, slots=True)
class Overlap:
    """Two providers' patterns both match ``witness``."""

    scope: Scope
    runtime: str | None
    providers: tuple[str, str]
    witness: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "runtime": self.runtime,
            "providers": list(self.providers),
            "witness": self.witness,
        }


@dataclass(frozen=True, slots=True)
class Unproven:
    """A pair the prover could not decide, and why."""

    scope: Scope
    runtime: str | None
    providers: tuple[str, str]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "runtime": self.runtime, "providers": list(self.providers), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class SharedId:
    """An exact id listed under several arms of one runtime: one id, several auth paths (information)."""

    runtime: str
    id: str
    providers: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "id": self.id, "providers": list(self.providers)}


@dataclass(frozen=True, slots=True)
class ProofReport:
    overlaps: tuple[Overlap, ...]
    unproven: tuple[Unproven, ...]
    shared_ids: tuple[SharedId, ...]
    pairs: Mapping[Scope, int] = field(default_factory=dict)
    disjoint: Mapping[Scope, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Read-only copies: a frozen report must not change under its holder.
        object.__setattr__(self, "pairs", MappingProxyType(dict(self.pairs)))
        object.__setattr__(self, "disjoint", MappingProxyType(dict(self.disjoint)))

    def failed(self, *, strict: bool = False, allow_catalog_overlap: bool = False) -> bool:
        """Any overlap fails (catalog-scope ones unless allowed); unproven pairs only when strict."""
        scopes = {Scope.RUNTIME} if allow_catalog_overlap else set(Scope)
        if any(o.scope in scopes for o in self.overlaps):
            return True
        return strict and any(u.scope in scopes for u in self.unproven)

    def to_dict(self) -> dict[str, Any]:
        return {
            "overlaps": [o.to_dict() for o in self.overlaps],
            "unproven": [u.to_dict() for u in self.unproven],
            "shared_ids": [s.to_dict() for s in self.shared_ids],
            "pairs": dict(self.pairs),
            "proven_disjoint": dict(self.disjoint),
        }


def prove(manifest: Manifest, budget: Budget = DEFAULT_BUDGET) -> ProofReport:
    """Every pair of each runtime's native providers, then every catalog pair the prefix index cannot separate.

    ``budget`` bounds the whole run; each question gets a fair share of it.
    """
    catalog = list(manifest.providers.values())
    in_runtimes = [
        (Scope.RUNTIME, runtime.name, a, b)
        for runtime in manifest.runtimes.values()
        for a, b in itertools.combinations((arm.provider for arm in runtime.arms), 2)
    ]
    asked = {_key(a, b) for _, _, a, b in in_runtimes}
    ledger = Ledger(budget, len(catalog) + len(asked))  # each pattern's prefixes, each distinct runtime pair
    prover = _Prover(ledger)
    meeting = prover.may_meet([p.model_prefix_match for p in catalog])
    in_catalog = [(Scope.CATALOG, None, catalog[i], catalog[j]) for i, j in sorted(meeting)]
    ledger.expect(len({_key(a, b) for _, _, a, b in in_catalog} - asked))
    overlaps: list[Overlap] = []
    unproven: list[Unproven] = []
    pairs = dict.fromkeys(Scope, 0)
    disjoint = dict.fromkeys(Scope, 0)

    def decide(scope: Scope, runtime: str | None, a: Provider, b: Provider) -> None:
        names = (a.name, b.name)
        try:
            witness = prover.witness(a.model_prefix_match, b.model_prefix_match)
        except NotProven as error:
            unproven.append(Unproven(scope, runtime, names, str(error)))
            return
        if witness is None:
            disjoint[scope] += 1
        else:
            overlaps.append(Overlap(scope, runtime, names, witness))

    pairs[Scope.RUNTIME] = len(in_runtimes)
    pairs[Scope.CATALOG] = len(catalog) * (len(catalog) - 1) // 2
    disjoint[Scope.CATALOG] = pairs[Scope.CATALOG] - len(meeting)
    for question in (*in_runtimes, *in_catalog):
        decide(*question)
    return ProofReport(tuple(overlaps), tuple(unproven), _shared_ids(manifest), pairs, disjoint)


def _key(a: Provider, b: Provider) -> tuple[str, str]:
    """The question a pair of providers asks: their patterns, in this order."""
    return (a.model_prefix_match, b.model_prefix_match)


def _shared_ids(manifest: Manifest) -> tuple[SharedId, ...]:
    shared: list[SharedId] = []
    for runtime in manifest.runtimes.values():
        owners: dict[str, list[str]] = {}
        for arm in runtime.arms:
            for model in arm.models:
                owners.setdefault(model, []).append(arm.provider.name)
        shared.extend(SharedId(runtime.name, model, tuple(names)) for model, names in owners.items() if len(names) > 1)
    return tuple(shared)


class _Prover:
    """One run's automata and answers, so a pattern pair met in several runtimes is proven once."""

    __slots__ = ("_answers", "automata", "ledger")

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.automata = Automata()
        self._answers: dict[tuple[str, str], str | NotProven | None] = {}

    def witness(self, first: str, second: str) -> str | None:
        """None when no servable id matches both patterns; else an id RE2 confirms on both."""
        key = (first, second)
        if key not in self._answers:
            try:
                self._answers[key] = self._witness(first, second)
            except NotProven as error:
                self._answers[key] = error
        answer = self._answers[key]
        if isinstance(answer, NotProven):
            raise answer
        return answer

    def _witness(self, first: str, second: str) -> str | None:
        meter = self.ledger.meter(f"{first!r} against {second!r}")
        automata = [
            self.automata.pattern(first, meter),
            self.automata.pattern(second, meter),
            self.automata.servable(meter),
        ]
        witness = common_string(automata, meter)
        for pattern in (first, second):
            if witness is not None and not re2_finds(pattern, witness):
                raise NotProven(f"automaton witness {witness!r} is not confirmed by RE2 on {pattern!r}")
        return witness

    def may_meet(self, patterns: Sequence[str]) -> set[tuple[int, int]]:
        """The pairs (i < j) of ``patterns`` whose literal prefixes do not rule out a common id."""
        prefixes = [self._prefixes(pattern) for pattern in patterns]
        exact: dict[str, set[int]] = {}
        longer: dict[str, set[int]] = {}  # a text -> the patterns with a prefix that strictly extends it
        anywhere: set[int] = set()
        for index, found in enumerate(prefixes):
            if found is None:
                anywhere.add(index)
                continue
            for prefix in found:
                exact.setdefault(prefix, set()).add(index)
                for cut in range(1, len(prefix)):
                    longer.setdefault(prefix[:cut], set()).add(index)
        meeting: set[tuple[int, int]] = set()
        everyone = range(len(patterns))
        for index, found in enumerate(prefixes):
            partners: Iterable[int]
            if found is None:
                partners = everyone
            else:
                near = set(anywhere)
                for prefix in found:
                    near |= longer.get(prefix, set())
                    for cut in range(1, len(prefix) + 1):
                        near |= exact.get(prefix[:cut], set())
                partners = near
            meeting.update((min(index, j), max(index, j)) for j in partners if j != index)
        return meeting

    def _prefixes(self, pattern: str) -> frozenset[str] | None:
        """Strings one of which starts every id the pattern matches; None when that cannot be read.

        Read off the automaton level by level, stopping before a level that
        holds a final state or a character range too wide to spell.
        """
        meter = self.ledger.meter(f"the literal prefixes of {pattern!r}")
        try:
            return self._read_prefixes(self.automata.pattern(pattern, meter), meter)
        except NotProven:
            return None  # its pairs are then all proven (or found unproven) like any other

    @staticmethod
    def _read_prefixes(automaton: Automaton, meter: Meter) -> frozenset[str] | None:
        level = [("", automaton.initial)]
        for _ in range(_PREFIX_DEPTH):
            if any(automaton.finals[state] for _, state in level):
                break  # an id may end here: the prefixes cannot be any longer
            following = _spell_level(automaton, level, meter)
            if not following:
                break
            level = following
        found = frozenset(text for text, _ in level)
        return None if found == {""} else found


def _spell_level(automaton: Automaton, level: list[tuple[str, int]], meter: Meter) -> list[tuple[str, int]]:
    """Each text of ``level`` extended by one character, or [] when that would spell too many texts."""
    following: list[tuple[str, int]] = []
    for text, state in level:
        for lo, hi, target in automaton.moves(state, meter):
            if len(following) + hi - lo + 1 > _PREFIX_WIDTH:
                return []
            following.extend((text + chr(cp), target) for cp in range(lo, hi + 1))
    return following
