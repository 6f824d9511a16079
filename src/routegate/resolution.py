"""Which provider serves a model: derive() per runtime, upstream() for the proxy.

Each runtime gets a :class:`RuntimeIndex` built once per manifest: a dict of
exact ids and one RE2 set of its native patterns, so a decision costs one
automaton pass however many providers the catalog holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from routegate import _re2
from routegate._ids import UNSERVABLE, UPSTREAM_SEPARATORS
from routegate.errors import AmbiguousModel, EmptyModel, InvalidManifest, NotNamespaced, Problem, Unroutable
from routegate.manifest import Provider, Runtime

__all__ = [
    "Derivation",
    "RuntimeIndex",
    "Upstream",
    "UpstreamIndex",
    "derive",
    "display_id",
    "nearest_names",
    "servable",
]


_SIMILARITY_PREFIX = 128  # a hostile id is compared by its start only


def _bigrams(text: str) -> frozenset[str]:
    """Letter pairs, case-folded; a one-letter text stands for itself."""
    folded = text.casefold()
    return frozenset(folded[i : i + 2] for i in range(len(folded) - 1)) or frozenset((folded,))


def nearest_names(text: str, names: Iterable[str], limit: int = 3) -> tuple[str, ...]:
    """The ``names`` most like ``text`` (Dice similarity of letter pairs), best first, ties in given order."""
    probe = _bigrams(text[:_SIMILARITY_PREFIX])

    def distance(name: str) -> float:
        pairs = _bigrams(name)
        return -2 * len(probe & pairs) / (len(probe) + len(pairs))

    return tuple(sorted(names, key=distance)[:limit])


def servable(model: str) -> bool:
    """False for ids with control characters or lone surrogates, which no provider serves."""
    return UNSERVABLE.search(model) is None


def display_id(model: str, limit: int = 80) -> str:
    """A model id made safe to quote in a message: escaped, and cut when long."""
    shown = model if len(model) <= limit else model[:limit] + "..."
    return repr(shown)[1:-1] if UNSERVABLE.search(shown) or "\\" in shown else shown


@dataclass(frozen=True, slots=True)
class Derivation:
    """The provider derive() chose, the step that chose it and the providers it weighed."""

    provider: Provider
    step: str
    candidates: tuple[str, ...]


class RuntimeIndex:
    """A runtime's arms compiled for lookups: exact ids, then one RE2 set of patterns."""

    __slots__ = ("_exact", "_matcher", "_menu_bigrams", "_providers", "menu", "menu_ids", "runtime")

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
        self._menu_bigrams = tuple(_bigrams(model) for model in self.menu)

    def menu_owners(self, model: str) -> tuple[Provider, ...]:
        """The arms that list ``model`` verbatim, in declared order."""
        return self._exact.get(model, ())

    def nearest(self, model: str, limit: int = 3) -> tuple[str, ...]:
        """The menu ids most like ``model`` (Dice similarity of letter pairs), best first."""
        probe = _bigrams(model[:_SIMILARITY_PREFIX])
        scored = sorted(
            (-2 * len(probe & pairs) / (len(probe) + len(pairs)), position)
            for position, pairs in enumerate(self._menu_bigrams)
        )
        return tuple(self.menu[position] for _, position in scored[:limit])

    def prefix_matches(self, model: str) -> tuple[Provider, ...]:
        """The native providers whose pattern matches somewhere in ``model`` (search semantics)."""
        hits = self._matcher.Match(model)
        if not hits:
            return ()
        return tuple(self._providers[i] for i in sorted(hits))


def derive(index: RuntimeIndex, model: str, auth_env: frozenset[str]) -> Derivation:
    """Section 4 of ROUTING.md, for a runtime already known to the registry."""
    model = model.strip()
    if not model:
        raise EmptyModel("the model id is empty; name a model")
    if not servable(model):
        raise Unroutable(f"model id '{display_id(model)}' contains control characters; no provider serves it")

    owners = index.menu_owners(model)
    if owners:
        if len(owners) == 1:
            return Derivation(owners[0], "exact", (owners[0].name,))
        names = tuple(p.name for p in owners)
        authed = [p for p in owners if p.accepts_auth(auth_env)]
        if len(authed) == 1:
            return Derivation(authed[0], "exact_auth_env", names)
        return Derivation(owners[0], "exact_first_declared", names)

    matches = index.prefix_matches(model)
    if not matches:
        raise Unroutable(
            f"no provider native to runtime '{index.runtime.name}' serves '{display_id(model)}': "
            "it is not on the menu and no native provider's pattern matches it"
        )
    if len(matches) == 1:
        return Derivation(matches[0], "prefix", (matches[0].name,))
    names = tuple(p.name for p in matches)
    authed = [p for p in matches if p.accepts_auth(auth_env)]
    if len(authed) == 1:
        return Derivation(authed[0], "prefix_auth_env", names)
    tied = tuple(p.name for p in authed) if len(authed) > 1 else names
    if authed:
        advice = "the auth env names given authenticate more than one of them; pass only the one the workspace uses"
    else:
        advice = f"pass the workspace's auth env names to settle it ({_distinguishing_env(matches)})"
    raise AmbiguousModel(
        f"'{display_id(model)}' matches several providers native to '{index.runtime.name}': "
        f"{', '.join(tied)}; {advice}",
        candidates=tied,
    )


def _distinguishing_env(providers: tuple[Provider, ...]) -> str:
    """For each provider, an auth env name no other candidate accepts, where there is one."""
    hints = []
    for provider in providers:
        others = {name for p in providers if p is not provider for name in p.auth_env}
        own = [name for name in provider.auth_env if name not in others]
        hints.append(f"{own[0]} for {provider.name}" if own else f"{provider.name} has no env name of its own")
    return "; ".join(hints)


class Upstream(NamedTuple):
    """Where the platform's LLM proxy sends a namespaced id: ``vendor/model``.

    A named tuple rather than a dataclass: the proxy asks this for every request,
    and a tuple is built in half the time.
    """

    vendor: str
    model: str
    provider: Provider


class UpstreamIndex:
    """upstream_vendor -> provider, for the proxy's runtime-agnostic routing (section 6)."""

    __slots__ = ("_vendors",)

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._vendors = {p.upstream_vendor: p for p in providers.values() if p.upstream_vendor is not None}

    def resolve(self, model: str) -> Upstream:
        for separator in UPSTREAM_SEPARATORS:
            vendor, found, rest = model.partition(separator)
            if found:
                provider = self._vendors.get(vendor)
                if provider is not None:
                    if not rest:
                        raise NotNamespaced(f"'{display_id(model)}' names vendor '{vendor}' but no model after it")
                    return Upstream(vendor, rest, provider)
        known = ", ".join(sorted(self._vendors)) or "none"
        raise NotNamespaced(
            f"'{display_id(model)}' is not upstream-namespaced: it must start with a vendor and "
            f"'/' or ':' (known vendors: {known})"
        )
