"""The Registry: a validated manifest compiled for fast, exact decisions.

Build one per manifest and share it: it is immutable, and its caches are
bounded so that hostile model ids cannot grow memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from os import PathLike

from routegate.billing import BillingMode, billing_mode_for
from routegate.decision import Decision, DecisionIndex, DecisionPath
from routegate.decision import check as decide
from routegate.errors import DeriveError, UnknownRuntime
from routegate.manifest import Arm, Manifest, Provider, Runtime, load_manifest, parse_manifest
from routegate.resolution import Derivation, RuntimeIndex, Upstream, UpstreamIndex, derive, servable

__all__ = ["Explanation", "MenuEntry", "Registry"]

DEFAULT_CACHE_SIZE = 8192
_CACHEABLE_LENGTH = 256  # longer keys are decided afresh: they are rare and may be hostile
_NO_AUTH: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """One id on a runtime's menu and the provider that serves it by default."""

    id: str
    provider: Provider

    @property
    def billing_mode(self) -> BillingMode:
        return billing_mode_for(self.provider.name)


@dataclass(frozen=True, slots=True)
class Explanation:
    """The steps check() took, in words, and the decision they led to."""

    decision: Decision
    steps: tuple[str, ...]


class Registry:
    """Answers: can this runtime run this model, who serves it, who pays."""

    __slots__ = ("_check", "_compiled", "_manifest", "_runtimes", "_upstream")

    def __init__(self, manifest: Manifest, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._manifest = manifest
        self._runtimes = tuple(manifest.runtimes)
        self._compiled = _Compiled(manifest.runtimes)
        check: Callable[[str, str, frozenset[str]], Decision] = partial(decide, self._compiled)
        upstream: Callable[[str], Upstream] = UpstreamIndex(manifest.providers).resolve
        if cache_size > 0:
            check = lru_cache(maxsize=cache_size)(check)
            upstream = _short_ids_cached(upstream, cache_size)
        self._check = check
        self._upstream = upstream

    @classmethod
    def load(
        cls,
        path: str | PathLike[str] | None = None,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cached: bool = False,
    ) -> Registry:
        """Load and validate a manifest file; the bundled reference registry when ``path`` is None.

        ``cached`` reuses an earlier validation of the same bytes (see :func:`load_manifest`).
        """
        return cls(load_manifest(path, cached=cached), cache_size=cache_size)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "manifest", cache_size: int = DEFAULT_CACHE_SIZE) -> Registry:
        return cls(parse_manifest(text, source=source), cache_size=cache_size)

    # --- what the manifest holds ---------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """The manifest this registry was compiled from (read-only: the indexes depend on it)."""
        return self._manifest

    @property
    def fingerprint(self) -> str:
        return self.manifest.fingerprint

    @property
    def schema_version(self) -> int:
        return self.manifest.schema_version

    @property
    def runtimes(self) -> tuple[str, ...]:
        return self._runtimes

    @property
    def catalog(self) -> Mapping[str, Provider]:
        """Every provider of the manifest, by name, in declared order."""
        return self.manifest.providers

    def _index(self, runtime: str) -> RuntimeIndex:
        try:
            return self._compiled[runtime].index
        except KeyError:
            known = ", ".join(self._runtimes)
            raise UnknownRuntime(f"runtime '{runtime}' is not in the registry (known: {known})") from None

    def arms(self, runtime: str) -> tuple[Arm, ...]:
        return self._index(runtime).runtime.arms

    def menu(self, runtime: str) -> tuple[str, ...]:
        """The runtime's menu: its arms' ids in declared order, first occurrence kept."""
        return self._index(runtime).menu

    def menu_entries(self, runtime: str) -> tuple[MenuEntry, ...]:
        index = self._index(runtime)
        return tuple(MenuEntry(model, index.menu_owners(model)[0]) for model in index.menu)

    def providers_for(self, runtime: str) -> tuple[Provider, ...]:
        """The runtime's native providers, menu and routing-only arms alike, in declared order."""
        return tuple(arm.provider for arm in self.arms(runtime))

    # --- decisions -------------------------------------------------------------------------

    def derivation(self, runtime: str, model: str, auth_env: Iterable[str] = ()) -> Derivation:
        """derive() with the step that decided and the candidates it weighed."""
        return derive(self._index(runtime), model, _auth_names(auth_env))

    def derive(self, runtime: str, model: str, auth_env: Iterable[str] = ()) -> Provider:
        """Which provider serves the model. Raises UnknownRuntime, EmptyModel, Unroutable or AmbiguousModel."""
        return self.derivation(runtime, model, auth_env).provider

    def check(self, runtime: str, model: str, auth_env: Iterable[str] = ()) -> Decision:
        """The create gate's model decision. Never raises for any model string."""
        auth = _auth_names(auth_env) if auth_env else _NO_AUTH
        if len(model) > _CACHEABLE_LENGTH or len(runtime) > _CACHEABLE_LENGTH or (auth and _too_long(auth)):
            return self._decide(runtime, model, auth)
        return self._check(runtime, model, auth)

    def _decide(self, runtime: str, model: str, auth_env: frozenset[str]) -> Decision:
        return decide(self._compiled, runtime, model, auth_env)

    def upstream(self, model: str) -> Upstream:
        """Where the platform's proxy sends a namespaced id. Raises NotNamespaced."""
        return self._upstream(model)

    def explain(self, runtime: str, model: str, auth_env: Iterable[str] = ()) -> Explanation:
        """The decision with the steps behind it, for people."""
        auth = _auth_names(auth_env)
        decision = self._decide(runtime, model, auth)
        steps = [f"model trimmed to '{decision.model}'"] if decision.model != model else []
        if decision.path in (DecisionPath.EMPTY, DecisionPath.FAIL_OPEN):  # every unknown runtime fails open
            steps.append(decision.reason)
            return Explanation(decision, tuple(steps))
        index = self._index(runtime)
        steps.append(f"native providers of '{runtime}': {', '.join(p.name for p in self.providers_for(runtime))}")
        owners = index.menu_owners(decision.model)
        if owners:
            steps.append(f"exact id on the menu, listed by: {', '.join(p.name for p in owners)}")
        else:
            steps.append("not on the menu")
            matched = index.prefix_matches(decision.model) if servable(decision.model) else ()
            steps.append(
                "patterns matching: " + (", ".join(f"{p.name} ({p.model_prefix_match})" for p in matched) or "none")
            )
        if auth:
            steps.append(f"auth env given: {', '.join(sorted(auth))}")
        try:
            derivation = derive(index, decision.model, auth)
            steps.append(f"derived {derivation.provider.name} (step: {derivation.step})")
        except DeriveError as error:
            steps.append(f"derive failed: {error}")
        steps.append(("allowed: " if decision.allowed else f"rejected ({decision.code}): ") + decision.reason)
        return Explanation(decision, tuple(steps))


class _Compiled(dict[str, DecisionIndex]):
    """Each runtime's indexes, compiled the first time the runtime is asked about.

    A one-shot command decides on one runtime; compiling every runtime first
    would cost it more than the decision. Unknown runtimes raise KeyError.
    """

    __slots__ = ("_runtimes",)

    def __init__(self, runtimes: Mapping[str, Runtime]) -> None:
        super().__init__()
        self._runtimes = runtimes

    def __missing__(self, name: str) -> DecisionIndex:
        compiled = self[name] = DecisionIndex(RuntimeIndex(self._runtimes[name]))
        return compiled


def _short_ids_cached(resolve: Callable[[str], Upstream], size: int) -> Callable[[str], Upstream]:
    """``resolve`` behind a bounded cache that ids too long to be worth keeping bypass."""
    cached = lru_cache(maxsize=size)(resolve)

    def lookup(model: str) -> Upstream:
        return resolve(model) if len(model) > _CACHEABLE_LENGTH else cached(model)

    return lookup


def _auth_names(auth_env: Iterable[str]) -> frozenset[str]:
    if isinstance(auth_env, str):
        # A lone string would become a set of its letters and quietly change the answer.
        raise TypeError("auth_env is a collection of env var names; pass [name], not a bare string")
    return auth_env if type(auth_env) is frozenset else frozenset(auth_env)


def _too_long(auth: frozenset[str]) -> bool:
    return len(auth) > 16 or sum(map(len, auth)) > _CACHEABLE_LENGTH
