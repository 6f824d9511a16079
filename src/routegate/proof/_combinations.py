"""The ids beyond the menus a manifest edit can move: one id for each combination of patterns matching them.

Every id check() can hand to a matcher (trimmed, non-empty, no control
characters) and on neither menu is decided by which native patterns match it,
so its outcome is a function of that set of patterns. Only ids some *changed*
pattern matches can change (a provider added to or dropped from the runtime,
its pattern edited, or its auth env accepting the given names or not; every
pattern of a runtime that appears or vanishes), plus, for a runtime one
manifest lacks, the ids no pattern matches. The automata of those patterns, of
the unchanged patterns that can meet them, of the servable ids and of "not a
menu id" are read in step; each reachable combination of matching patterns
gives one shortest id reaching it, on which RE2 must agree with the automata.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from routegate.proof._automata import Automata, re2_finds
from routegate.proof._budget import Meter, NotProven
from routegate.proof._dfa import DEAD, Product, common_string
from routegate.resolution import servable

if TYPE_CHECKING:
    from routegate.manifest import Provider

__all__ = ["split_natives", "witnesses"]


def split_natives(
    old: tuple[Provider, ...], new: tuple[Provider, ...], auth: frozenset[str]
) -> tuple[list[str], list[str]]:
    """The native patterns that can change an outcome, and those that stay as they were.

    A provider is unchanged when it is native under both with the same pattern
    and the same answer to the auth env given; its pattern then matches the
    same ids with the same effect on either side.
    """
    before = {p.name: p for p in old}
    after = {p.name: p for p in new}
    changed: dict[str, None] = {}
    unchanged: dict[str, None] = {}
    for name in dict.fromkeys((*before, *after)):
        a, b = before.get(name), after.get(name)
        if a is not None and b is not None and _same_effect(a, b, auth):
            unchanged[a.model_prefix_match] = None
        else:
            changed.update((p.model_prefix_match, None) for p in (a, b) if p is not None)
    return list(changed), [p for p in unchanged if p not in changed]


def _same_effect(a: Provider, b: Provider, auth: frozenset[str]) -> bool:
    return a.model_prefix_match == b.model_prefix_match and a.accepts_auth(auth) == b.accepts_auth(auth)


def witnesses(
    automata: Automata,
    meter: Meter,
    changed: list[str],
    unchanged: list[str],
    menu: frozenset[str],
    *,
    one_sided: bool,
) -> Iterator[str]:
    """A shortest id beyond ``menu`` for each combination of matching patterns, RE2 agreeing; else NotProven.

    ``one_sided``: the runtime is in one manifest only, so an id no pattern matches may change too.
    """
    automaton = {pattern: automata.pattern(pattern, meter) for pattern in changed}
    context = [automata.servable(meter), automata.none_of(menu, meter)]
    for pattern in unchanged:
        own = automata.pattern(pattern, meter)
        if any(common_string([own, automaton[c], *context], meter) is not None for c in changed):
            automaton[pattern] = own
    patterns = list(automaton)
    components = [*context, *automaton.values()]
    lead = len(context)

    seen: set[tuple[bool, ...]] = set()
    unmatched = (False,) * len(patterns)  # one-sided, every pattern is a changed one

    def keep(state: tuple[int, ...]) -> bool:
        # A string no changed pattern can still match keeps its outcome, and so does every extension
        # (unless the runtime is one-sided and no id matching none of them was decided yet).
        if state[0] == DEAD:
            return False
        hopeful = any(sub != DEAD for sub in state[lead : lead + len(changed)])
        return hopeful or (one_sided and unmatched not in seen)

    product = Product(components, meter, keep)
    for state in product:
        finals = tuple(a.finals[sub] if sub != DEAD else False for a, sub in zip(components, state, strict=True))
        if not (finals[0] and finals[1] and (one_sided or any(finals[lead : lead + len(changed)]))):
            continue
        signature = finals[lead:]
        if signature in seen:
            continue
        seen.add(signature)
        yield _confirmed(product.spell(state), dict(zip(patterns, signature, strict=True)), menu)


def _confirmed(witness: str, matching: dict[str, bool], menu: frozenset[str]) -> str:
    """The witness, once it is an id beyond the menus and RE2 agrees on which patterns match it."""
    if witness in menu or witness != witness.strip() or not servable(witness):
        raise NotProven(f"the automata reached {witness!r}, which is not an id beyond the menus")
    for pattern, matches in matching.items():
        if re2_finds(pattern, witness) != matches:
            raise NotProven(f"RE2 and the automaton of {pattern!r} disagree on {witness!r}")
    return witness
