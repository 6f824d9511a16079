"""Proofs that providers' patterns never claim the same model id (``routegate lint --prove``).

Two native providers whose patterns both match an id make that id ambiguous
(section 4, step 6), or worse, route it by auth env alone. Sampling ids cannot
show that never happens; automata can. Each pattern is parsed
(:mod:`routegate._re2syntax`), given RE2's search semantics (a branch not
anchored with ``^`` may start anywhere, one without ``$`` may end anywhere)
and case folding, and turned into a finite automaton with ``interegular``.
The intersection of two automata, restricted to ids check() can ever hand to
a matcher (trimmed, non-empty, no control characters), is either empty -- a
proof over every string -- or yields a witness.

Soundness before completeness: "disjoint" rests on the translation being
faithful, so each automaton is spot-checked against RE2 in both directions
before it is trusted: strings drawn from the automaton must be matched by RE2
(it accepts nothing extra, which would only invent overlaps) and strings drawn
from the pattern's own tree that RE2 matches must be accepted (it misses
nothing, which could hide an overlap and claim a false "disjoint"). A pattern
outside the parser's subset, an automaton failing either check, or a witness
RE2 does not confirm on both patterns makes the pair *unproven*, never
disjoint. The checks sample; they cannot prove the translation right.
"""

from __future__ import annotations

import collections
import itertools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from routegate import _ids, _re2
from routegate import _re2syntax as syn
from routegate.manifest import Manifest, Provider

__all__ = ["CATALOG", "RUNTIME", "Overlap", "ProofReport", "SharedId", "Unproven", "prove"]

RUNTIME, CATALOG = "runtime", "catalog"

_LIST_LIMIT = 4096  # a class wider than this is written as the negation of its complement
_SCAN_LIMIT = 200_000  # widest positive class checked for cased characters under (?i)
_SELF_CHECK = 16  # random strings each way (automaton -> RE2, pattern tree -> automaton) before trusting it
_SURROGATES = (0xD800, 0xDFFF)
_SPACE = tuple(cp for cp in range(0xA0, 0x3001) if chr(cp).isspace())  # str.strip()'s, beyond controls


@dataclass(frozen=True, slots=True)
class Overlap:
    """Two providers' patterns both match ``witness``. ``scope`` is "runtime" (an error) or "catalog"."""

    scope: str
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
    scope: str
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
    pairs: Mapping[str, int] = field(default_factory=dict)
    disjoint: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Read-only copies: a frozen report must not change under its holder.
        object.__setattr__(self, "pairs", MappingProxyType(dict(self.pairs)))
        object.__setattr__(self, "disjoint", MappingProxyType(dict(self.disjoint)))

    def failed(self, *, strict: bool = False, allow_catalog_overlap: bool = False) -> bool:
        """Any overlap fails (catalog-scope ones unless allowed); unproven pairs only when strict."""
        scopes = {RUNTIME} if allow_catalog_overlap else {RUNTIME, CATALOG}
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


class _Unproven(Exception):
    """This pair (or pattern) cannot be decided soundly; the message says why."""


def prove(manifest: Manifest) -> ProofReport:
    """Every pair of each runtime's native providers, then every pair of the catalog."""
    overlaps: list[Overlap] = []
    unproven: list[Unproven] = []
    pairs = {RUNTIME: 0, CATALOG: 0}
    disjoint = {RUNTIME: 0, CATALOG: 0}

    def run(scope: str, runtime: str | None, providers: Iterable[Provider]) -> None:
        for a, b in itertools.combinations(providers, 2):
            pairs[scope] += 1
            names = (a.name, b.name)
            try:
                witness = _witness(a.model_prefix_match, b.model_prefix_match)
            except _Unproven as error:
                unproven.append(Unproven(scope, runtime, names, str(error)))
                continue
            if witness is None:
                disjoint[scope] += 1
            else:
                overlaps.append(Overlap(scope, runtime, names, witness))

    for runtime in manifest.runtimes.values():
        run(RUNTIME, runtime.name, (arm.provider for arm in runtime.arms))
    run(CATALOG, None, manifest.providers.values())
    return ProofReport(tuple(overlaps), tuple(unproven), _shared_ids(manifest), pairs, disjoint)


def _shared_ids(manifest: Manifest) -> tuple[SharedId, ...]:
    shared: list[SharedId] = []
    for runtime in manifest.runtimes.values():
        owners: dict[str, list[str]] = {}
        for arm in runtime.arms:
            for model in arm.models:
                owners.setdefault(model, []).append(arm.provider.name)
        shared.extend(SharedId(runtime.name, model, tuple(names)) for model, names in owners.items() if len(names) > 1)
    return tuple(shared)


@lru_cache(maxsize=1024)
def _witness(first: str, second: str) -> str | None:
    """None when no servable id matches both patterns; else an id RE2 confirms on both."""
    both = _automaton(first) & _automaton(second) & _servable()
    witness = _shortest(both)
    if witness is None:
        return None
    for pattern in (first, second):
        if not _re2_finds(pattern, witness):
            raise _Unproven(f"automaton witness {witness!r} is not confirmed by RE2 on {pattern!r}")
    return witness


@lru_cache(maxsize=512)
def _automaton(pattern: str) -> Any:
    """The automaton of every string RE2 finds ``pattern`` in; checked against RE2 both ways on samples."""
    import interegular

    try:
        regex = syn.parse(pattern)
        source = _search_source(regex)
        fsm = interegular.parse_pattern(source).to_fsm()
    except syn.Untranslatable as error:
        raise _Unproven(f"pattern {pattern!r} is beyond the prover: {error}") from None
    except (interegular.patterns.Unsupported, interegular.patterns.InvalidSyntax, RecursionError) as error:
        raise _Unproven(f"pattern {pattern!r} could not be turned into an automaton ({error!r})") from None
    for sample in _samples(fsm, _SELF_CHECK):
        if not _re2_finds(pattern, sample):
            raise _Unproven(f"pattern {pattern!r}: the automaton accepts {sample!r}, which RE2 does not match")
    for example in _examples(regex, _SELF_CHECK):
        if _re2_finds(pattern, example) and not fsm.accepts(example):
            raise _Unproven(f"pattern {pattern!r}: RE2 matches {example!r}, which the automaton rejects")
    return fsm


def _re2_finds(pattern: str, text: str) -> bool:
    """RE2's search; False for text RE2 cannot take (lone surrogates), so it confirms nothing."""
    try:
        return bool(_re2.compile(pattern).search(text))
    except UnicodeEncodeError:
        return False


# --- walking automata -------------------------------------------------------------------------


def _live(fsm: Any) -> set[Any]:
    """States from which a final state can be reached."""
    incoming: dict[Any, set[Any]] = {}
    for state, moves in fsm.map.items():
        for target in moves.values():
            incoming.setdefault(target, set()).add(state)
    live, todo = set(fsm.finals), list(fsm.finals)
    while todo:
        for source in incoming.get(todo.pop(), ()):
            if source not in live:
                live.add(source)
                todo.append(source)
    return live


def _shortest(fsm: Any) -> str | None:
    """A shortest accepted string (one readable character per transition), or None when there is none."""
    live = _live(fsm)
    if fsm.initial not in live:
        return None
    parent: dict[Any, tuple[Any, Any]] = {}
    queue = collections.deque([fsm.initial])
    while queue:
        state = queue.popleft()
        if state in fsm.finals:
            path = []
            while state != fsm.initial:
                state, key = parent[state]
                path.append(key)
            return _spell([_symbol(fsm, key) for key in reversed(path)], fsm.alphabet)
        for key, target in sorted(fsm.map.get(state, {}).items()):
            if target in live and target not in parent and target != fsm.initial:
                parent[target] = (state, key)
                queue.append(target)
    return None


def _samples(fsm: Any, count: int, seed: int = 0) -> list[str]:
    """The shortest accepted string and ``count`` seeded random walks ending in a final state."""
    live = _live(fsm)
    if fsm.initial not in live:
        return []
    rng = random.Random(seed)
    found = [s for s in (_shortest(fsm),) if s is not None]
    for _ in range(count):
        state, keys = fsm.initial, list[Any]()
        while len(keys) < 40:
            if state in fsm.finals and (rng.random() < 0.3 or len(keys) > 24):
                break
            moves = sorted((k, t) for k, t in fsm.map.get(state, {}).items() if t in live)
            if not moves:
                break
            key, state = rng.choice(moves)
            keys.append(key)
        if state in fsm.finals:
            found.append(_spell([_symbol(fsm, key) for key in keys], fsm.alphabet))
    return found


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
    if isinstance(node, syn.Literal):
        ranges = syn.fold(((node.code_point, node.code_point),)) if fold else ((node.code_point, node.code_point),)
        return chr(_pick(ranges, rng))
    if isinstance(node, syn.CharSet):
        ranges = syn.members(node, fold)
        return chr(_pick(ranges, rng)) if ranges else ""
    if isinstance(node, syn.Dot):
        return chr(_pick(syn.complement(((0x0A, 0x0A),)), rng))
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
    """A code point of ``ranges``: often an edge of a range, where translations go wrong."""
    lo, hi = rng.choice(ranges)
    return rng.choice((lo, hi, rng.randint(lo, hi)))


def _filler(rng: random.Random) -> str:
    return "".join(rng.choice("aZ09-/:. \u2028\u212a\u017f") for _ in range(rng.randint(0, 3)))


def _symbol(fsm: Any, key: Any) -> Any:
    """The most readable symbol behind a transition: a letter or digit, then printable ASCII, then the rest."""
    from interegular.fsm import anything_else

    def rank(symbol: Any) -> tuple[int, str]:
        if symbol is anything_else:
            return (1, "")
        if symbol.isascii() and symbol.isalnum():
            return (0, symbol)
        return (2 if symbol.isascii() and symbol.isprintable() else 3, symbol)

    return min(fsm.alphabet.by_transition[key], key=rank)


@lru_cache(maxsize=1)
def _servable() -> Any:
    """Ids check() can hand to a matcher: nothing ``_ids.UNSERVABLE`` refuses, nothing str.strip() would trim."""
    import interegular

    refused = syn.parse(_ids.UNSERVABLE.pattern).root
    assert isinstance(refused, syn.CharSet), "UNSERVABLE is one character class"
    # Lone surrogates stay out of the list: RE2 takes no such text, so no witness can hold one
    # (it would be unconfirmed, hence unproven), and listing 2048 symbols slows every intersection.
    ranges = syn.members(refused, False)
    unservable = tuple(
        cp for lo, hi in ranges for cp in range(lo, hi + 1) if not _SURROGATES[0] <= cp <= _SURROGATES[1]
    )
    inner = _negated(unservable)
    edge = _negated(unservable + _SPACE + (0x20,))
    return interegular.parse_pattern(f"{edge}(?:{inner}*{edge})?").to_fsm()


def _spell(symbols: list[Any], alphabet: Any) -> str:
    """Symbols to text, writing interegular's "anything else" as a plain character it does not name."""
    from interegular.fsm import anything_else

    named = {s for s in alphabet if s is not anything_else}
    filler = next(c for c in itertools.chain("xyzqjkvw0123456789", map(chr, range(0x21, 0x10000))) if c not in named)
    return "".join(filler if s is anything_else else s for s in symbols)


# --- RE2 tree -> interegular syntax, with search semantics ------------------------------------


def _search_source(regex: syn.Regex) -> str:
    branches = regex.root.branches if isinstance(regex.root, syn.Alt) else (regex.root,)
    written = []
    for branch in branches:
        items = list(branch.items) if isinstance(branch, syn.Concat) else [branch]
        start = end = False
        while items and items[0] == syn.Assert("begin"):
            items.pop(0)
            start = True
        while items and items[-1] == syn.Assert("end"):
            items.pop()
            end = True
        body = "".join(_emit(item, regex.fold_case) for item in items)
        anywhere = "[^]*"
        written.append(f"(?:{'' if start else anywhere}(?:{body}){'' if end else anywhere})")
    return "|".join(written)


def _emit(node: syn.Node, fold: bool) -> str:
    if isinstance(node, syn.Literal):
        return _charset(syn.CharSet(((((node.code_point, node.code_point),), False),)), fold)
    if isinstance(node, syn.CharSet):
        return _charset(node, fold)
    if isinstance(node, syn.Dot):
        return _negated((0x0A,))
    if isinstance(node, syn.Assert):
        raise syn.Untranslatable(
            f"assertion {node.kind}", "the prover handles ^ and $ only at the ends of a top-level branch"
        )
    if isinstance(node, syn.Group):
        return f"(?:{_emit(node.node, fold)})"
    if isinstance(node, syn.Concat):
        return "".join(_emit(item, fold) for item in node.items)
    if isinstance(node, syn.Alt):
        return "(?:" + "|".join(_emit(branch, fold) for branch in node.branches) + ")"
    if isinstance(node, syn.Repeat):
        high = "" if node.max is None else str(node.max)
        return f"(?:{_emit(node.node, fold)}){{{node.min},{high}}}"
    raise AssertionError(f"unhandled node {node!r}")


def _charset(node: syn.CharSet, fold: bool) -> str:
    if fold:
        for ranges, _ in node.items:
            _refuse_cased(ranges)
    ranges = syn.members(node, fold)
    size = sum(hi - lo + 1 for lo, hi in ranges)
    if size <= _LIST_LIMIT:
        return "[" + "".join(_char(cp) for lo, hi in ranges for cp in range(lo, hi + 1)) + "]"
    rest = syn.complement(ranges)
    if sum(hi - lo + 1 for lo, hi in rest) <= _LIST_LIMIT:
        return _negated(tuple(cp for lo, hi in rest for cp in range(lo, hi + 1)))
    raise syn.Untranslatable("wide class", "both the class and its complement are too wide to list")


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


def _negated(code_points: Iterable[int]) -> str:
    return "[^" + "".join(_char(cp) for cp in code_points) + "]"


def _char(code_point: int) -> str:
    char = chr(code_point)
    return char if char.isalnum() else "\\" + char
