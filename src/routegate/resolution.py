"""Which provider serves a model: derive() per runtime, upstream() for the proxy.

Each runtime gets a :class:`RuntimeIndex` built once per manifest: a dict of
exact ids and one RE2 set of its native patterns, so a decision costs one
automaton pass however many providers the catalog holds.
"""

from __future__ import annotations

import enum
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from routegate import _re2
from routegate._ids import UNSERVABLE, UPSTREAM_SEPARATORS
from routegate.errors import AmbiguousModel, EmptyModel, InvalidManifest, NotNamespaced, Problem, Unroutable
from routegate.manifest import Provider, Runtime

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import NamedTuple

__all__ = [
    "Ambiguity",
    "Derivation",
    "Miss",
    "RuntimeIndex",
    "Upstream",
    "UpstreamIndex",
    "derive",
    "display_id",
    "nearest_names",
    "servable",
]


def nearest_names(text: str, names: Iterable[str], limit: int = 3) -> tuple[str, ...]:
    """The ``names`` most like ``text`` (Dice similarity of letter pairs), best first, ties in given order."""
    from routegate._suggest import nearest

    return nearest(tuple(names), text, limit)


def servable(model: str) -> bool:
    """False for ids with control characters or lone surrogates, which no provider serves."""
    if model.isascii() and model.isprintable():  # the common case, decided without the regex
        return True
    return UNSERVABLE.search(model) is None


def display_id(model: str, limit: int = 80) -> str:
    """A model id made safe to quote in a message: escaped, and cut when long."""
    shown = model if len(model) <= limit else model[:limit] + "..."
    if shown.isascii() and shown.isprintable() and "\\" not in shown:  # the common case, without the regex
        return shown
    return repr(shown)[1:-1] if UNSERVABLE.search(shown) or "\\" in shown else shown


@dataclass(frozen=True, slots=True)
class Derivation:
    """The provider derive() chose, the step that chose it and the providers it weighed."""

    provider: Provider
    step: str
    candidates: tuple[str, ...]


class Miss(enum.Enum):
    """Why an id routes nowhere on a runtime."""

    UNSERVABLE = "unservable"
    """It holds control characters or lone surrogates."""
    NO_MATCH = "no_match"
    """It is not on the menu and no native provider's pattern matches it."""

    def message(self, runtime: str, model: str) -> str:
        if self is Miss.UNSERVABLE:
            return f"model id '{display_id(model)}' contains control characters; no provider serves it"
        return (
            f"no provider native to runtime '{runtime}' serves '{display_id(model)}': "
            "it is not on the menu and no native provider's pattern matches it"
        )


@dataclass(frozen=True, slots=True)
class Ambiguity:
    """Several native patterns match and the auth env names given do not settle which one serves."""

    matches: tuple[Provider, ...]
    tied: tuple[str, ...]
    over_authed: bool
    """True when the auth env names given authenticate several of the matches."""

    def message(self, runtime: str, model: str) -> str:
        if self.over_authed:
            advice = "the auth env names given authenticate more than one of them; pass only the one the workspace uses"
        else:
            advice = f"pass the workspace's auth env names to settle it ({_distinguishing_env(self.matches)})"
        return (
            f"'{display_id(model)}' matches several providers native to '{runtime}': {', '.join(self.tied)}; {advice}"
        )


class RuntimeIndex:
    """A runtime's arms compiled for lookups: exact ids, then one RE2 set of patterns."""

    __slots__ = (
        "_exact",
        "_matcher",
        "_may_match",
        "_nearest",
        "_patterns",
        "_prefix_derivations",
        "_providers",
        "_single_owner",
        "menu",
        "menu_ids",
        "runtime",
    )

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.menu = runtime.menu
        self.menu_ids = frozenset(runtime.menu)
        exact: dict[str, list[Provider]] = {}
        for arm in runtime.arms:
            for model in arm.models:
                owners = exact.setdefault(model, [])
                if arm.provider not in owners:
                    owners.append(arm.provider)
        self._exact = {model: tuple(owners) for model, owners in exact.items()}
        self._providers = tuple(arm.provider for arm in runtime.arms)
        patterns = [p.model_prefix_match for p in self._providers]
        try:
            self._matcher = _re2.search_set(patterns)
        except _re2.SetBuildError as error:
            # Validation refuses such a manifest: only one built by hand, unvalidated, gets here.
            where = f"runtimes.{runtime.name}.providers[{error.position}]"
            raise InvalidManifest([Problem(where, f"does not fit in the runtime's RE2 set ({error.reason})")]) from None
        self._patterns = patterns
        self._may_match: Callable[[str], bool] = self._first_search
        """Whether any pattern may match an id: False only when none can (see :meth:`_first_search`)."""
        self._prefix_derivations = tuple(Derivation(p, "prefix", (p.name,)) for p in self._providers)
        self._nearest: Callable[[str, int], tuple[str, ...]] = self._first_nearest
        """nearest() as the runtime answers it now: a scan, then the index (see :meth:`_first_nearest`)."""
        self._single_owner: dict[str, Derivation] = {}
        """The exact ids' derivations that do not depend on the auth env names, each made when first asked."""

    def menu_owners(self, model: str) -> tuple[Provider, ...]:
        """The arms that list ``model`` verbatim, in declared order."""
        return self._exact.get(model, ())

    def nearest(self, model: str, limit: int = 3) -> tuple[str, ...]:
        """The menu ids most like ``model``, best first; ties to the one declared first."""
        return self._nearest(model, limit)

    def _first_nearest(self, model: str, limit: int) -> tuple[str, ...]:
        """The first refusal's suggestions scan the menu; the second builds the index that answers every later one.

        Building the index costs several scans: a runtime only ever admitted, or refused once (a one-shot
        command), never pays for it.
        """
        from routegate._suggest import nearest

        self._nearest = self._build_nearest
        return nearest(self.menu, model, limit)

    def _build_nearest(self, model: str, limit: int) -> tuple[str, ...]:
        from routegate._suggest import SuggestionIndex

        self._nearest = SuggestionIndex(self.menu).nearest
        return self._nearest(model, limit)

    def _first_search(self, model: str) -> bool:
        """The first id searched for is left to RE2; the second builds the patterns' literal-prefix filter.

        The filter pays only over many searches, and reading patterns' syntax costs more than one
        search: a one-shot decision never builds it.
        """
        self._may_match = self._build_filter
        return True

    def _build_filter(self, model: str) -> bool:
        from routegate._prefixes import PrefixFilter

        prefilter = PrefixFilter.of(self._patterns)
        self._may_match = _anything if prefilter is None else prefilter.may_match
        return self._may_match(model)

    def prefix_matches(self, model: str) -> tuple[Provider, ...]:
        """The native providers whose pattern matches somewhere in ``model`` (search semantics)."""
        hits = self._matcher.Match(model)
        if not hits:
            return ()
        return tuple(self._providers[i] for i in sorted(hits))

    def resolve(self, model: str, auth_env: frozenset[str]) -> Derivation | Miss | Ambiguity:
        """derive() for a trimmed, non-empty id, without raising: the choice, or why there is none."""
        if not servable(model):
            return Miss.UNSERVABLE
        owners = self._exact.get(model)
        if owners:
            if len(owners) == 1:
                try:
                    return self._single_owner[model]
                except KeyError:
                    found = self._single_owner[model] = Derivation(owners[0], "exact", (owners[0].name,))
                    return found
            names = tuple(p.name for p in owners)
            authed = [p for p in owners if p.accepts_auth(auth_env)]
            if len(authed) == 1:
                return Derivation(authed[0], "exact_auth_env", names)
            return Derivation(owners[0], "exact_first_declared", names)
        if not self._may_match(model):
            return Miss.NO_MATCH
        hits: list[int] | None = self._matcher.Match(model)
        if not hits:
            return Miss.NO_MATCH
        if len(hits) == 1:
            return self._prefix_derivations[hits[0]]
        matches = tuple(self._providers[i] for i in sorted(hits))
        names = tuple(p.name for p in matches)
        authed = [p for p in matches if p.accepts_auth(auth_env)]
        if len(authed) == 1:
            return Derivation(authed[0], "prefix_auth_env", names)
        if len(authed) > 1:
            return Ambiguity(matches, tuple(p.name for p in authed), over_authed=True)
        return Ambiguity(matches, names, over_authed=False)


def _anything(model: str) -> bool:
    """The filter of patterns some of which have no literal prefix: any id may match them."""
    return True


def derive(index: RuntimeIndex, model: str, auth_env: frozenset[str]) -> Derivation:
    """The native provider that serves ``model`` on a runtime already known to the registry.

    Exact menu ids first, then patterns; the workspace's auth env names only break ties, and a
    tie they cannot break is an ambiguity, never a guess.
    """
    model = model.strip()
    if not model:
        raise EmptyModel("the model id is empty; name a model")
    found = index.resolve(model, auth_env)
    if isinstance(found, Derivation):
        return found
    if isinstance(found, Ambiguity):
        raise AmbiguousModel(found.message(index.runtime.name, model), candidates=found.tied)
    raise Unroutable(found.message(index.runtime.name, model))


def _distinguishing_env(providers: tuple[Provider, ...]) -> str:
    """For each provider, an auth env name no other candidate accepts, where there is one."""
    hints = []
    for provider in providers:
        others = {name for p in providers if p is not provider for name in p.auth_env}
        own = [name for name in provider.auth_env if name not in others]
        hints.append(f"{own[0]} for {provider.name}" if own else f"{provider.name} has no env name of its own")
    return "; ".join(hints)


if TYPE_CHECKING:

    class Upstream(NamedTuple):
        vendor: str
        model: str
        provider: Provider

else:  # the same named tuple, built without importing typing
    Upstream = namedtuple("Upstream", ("vendor", "model", "provider"), module=__name__)
Upstream.__doc__ = """Where the platform's LLM proxy sends a namespaced id: ``vendor/model``.

A named tuple rather than a dataclass: the proxy asks this for every request,
and a tuple is built in half the time.
"""


_new_tuple = tuple.__new__


class UpstreamIndex:
    """upstream_vendor -> provider: the platform's LLM proxy routes ``vendor/model`` ids whatever the runtime."""

    __slots__ = ("_vendors",)

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._vendors = {p.upstream_vendor: p for p in providers.values() if p.upstream_vendor is not None}

    def resolve(self, model: str) -> Upstream:
        vendors = self._vendors
        for separator in UPSTREAM_SEPARATORS:
            vendor, found, rest = model.partition(separator)
            if found and vendor in vendors:
                if not rest:
                    raise NotNamespaced(f"'{display_id(model)}' names vendor '{vendor}' but no model after it")
                return _new_tuple(Upstream, (vendor, rest, vendors[vendor]))  # Upstream() without its Python __new__
        known = ", ".join(sorted(self._vendors)) or "none"
        raise NotNamespaced(
            f"'{display_id(model)}' is not upstream-namespaced: it must start with a vendor and "
            f"'/' or ':' (known vendors: {known})"
        )
