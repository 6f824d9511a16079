"""The Registry: a validated manifest compiled for fast, exact decisions.

Build one per manifest and share it: it is immutable, and its caches are
bounded so that hostile model ids cannot grow memory.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial

from routegate.billing import BillingMode, billing_mode_for
from routegate.decision import (
    FOREIGN_RUNTIMES,
    Code,
    Decision,
    DecisionIndexes,
    DecisionPath,
    on_date,
    runtime_unsupported,
)
from routegate.decision import check as decide
from routegate.errors import DeriveError, InvalidManifest, UnknownRuntime
from routegate.manifest import Arm, Manifest, Provider, load_manifest, parse_manifest
from routegate.resolution import (
    Derivation,
    RuntimeIndex,
    Upstream,
    UpstreamIndex,
    derive,
    display_id,
    nearest_names,
    servable,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from datetime import date
    from os import PathLike

    from routegate.lifecycle import Lifecycle

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

    __slots__ = ("_check", "_compiled", "_lifecycle", "_manifest", "_runtimes", "_upstream")

    def __init__(
        self,
        manifest: Manifest,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        foreign_runtimes: Collection[str] = FOREIGN_RUNTIMES,
    ) -> None:
        """``foreign_runtimes`` are runtimes the registry does not describe: check() fails open
        for them and refuses every other runtime it does not know.

        Raises :class:`InvalidManifest` when a lifecycle entry dates an id no runtime admits, or
        names a successor that would not route with the same payer (those rules take decisions).
        """
        self._manifest = manifest
        self._runtimes = tuple(manifest.runtimes)
        self._compiled = DecisionIndexes(manifest.runtimes, foreign_runtimes)
        self._lifecycle: Lifecycle | None = None
        if manifest.lifecycle:  # the lifecycle modules load only for a manifest that dates something
            from routegate._lifecycle_rules import lifecycle_problems
            from routegate.lifecycle import Lifecycle

            self._lifecycle = Lifecycle(manifest.lifecycle)
            problems = lifecycle_problems(manifest, self._compiled, self._lifecycle)
            if problems:
                raise InvalidManifest(problems, source=manifest.source)
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
        foreign_runtimes: Collection[str] = FOREIGN_RUNTIMES,
    ) -> Registry:
        """Load and validate a manifest file; the bundled reference registry when ``path`` is None."""
        return cls(load_manifest(path), cache_size=cache_size, foreign_runtimes=foreign_runtimes)

    @classmethod
    def from_yaml(
        cls,
        text: str,
        *,
        source: str = "manifest",
        cache_size: int = DEFAULT_CACHE_SIZE,
        foreign_runtimes: Collection[str] = FOREIGN_RUNTIMES,
    ) -> Registry:
        return cls(parse_manifest(text, source=source), cache_size=cache_size, foreign_runtimes=foreign_runtimes)

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
    def foreign_runtimes(self) -> tuple[str, ...]:
        """Runtimes the registry does not describe but check() admits (it fails open for them)."""
        return self._compiled.foreign

    @property
    def known_runtimes(self) -> tuple[str, ...]:
        """Every runtime a workspace may use: the registry's, then the foreign ones."""
        return self._compiled.known

    def supports(self, runtime: str) -> bool:
        """Whether a workspace may use ``runtime``: the registry describes it, or it is foreign."""
        return self._compiled.supports(runtime)

    @property
    def catalog(self) -> Mapping[str, Provider]:
        """Every provider of the manifest, by name, in declared order."""
        return self.manifest.providers

    def _index(self, runtime: str) -> RuntimeIndex:
        compiled = self._compiled.get(runtime)
        if compiled is not None:
            return compiled.index
        shown = display_id(runtime)
        if runtime in self._compiled.foreign:
            raise UnknownRuntime(
                f"runtime '{shown}' is foreign: the registry does not describe it, so it names no "
                "provider or menu for it (check() admits any model there)"
            )
        nearest = nearest_names(runtime, self._compiled.known)
        raise UnknownRuntime(runtime_unsupported(runtime, nearest), nearest=nearest)

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

    @property
    def lifecycle(self) -> Lifecycle:
        """The manifest's dated facts, indexed (empty when it dates nothing)."""
        from routegate.lifecycle import Lifecycle

        return self._lifecycle or Lifecycle()

    def check(self, runtime: str, model: str, auth_env: Iterable[str] = (), on: date | None = None) -> Decision:
        """The create gate's model decision on the UTC date ``on`` (default: today). Never raises for any model string.

        ``on`` is not keyword-only: a keyword-only parameter costs every call, dated or not, a few percent.

        A deprecated model is refused ``MODEL_DEPRECATED`` but keeps its provider and payer, so a
        call gate can go on serving existing workspaces (:attr:`Decision.admits_existing`).
        """
        auth = _auth_names(auth_env) if auth_env else _NO_AUTH
        if len(model) > _CACHEABLE_LENGTH or len(runtime) > _CACHEABLE_LENGTH or (auth and _too_long(auth)):
            return self._dated(self._decide(runtime, model, auth), on)
        if self._lifecycle is None:  # the undated path: the cached decision as it is
            return self._check(runtime, model, auth)
        return self._dated(self._check(runtime, model, auth), on)

    def _dated(self, decision: Decision, on: date | None) -> Decision:
        if self._lifecycle is None or not decision.allowed or decision.provider is None:
            return decision
        entry = self._lifecycle.governing(decision.runtime, decision.model, decision.provider.name)
        if entry is None:
            return decision
        from routegate.lifecycle import today

        return on_date(decision, entry, today() if on is None else on)

    def _decide(self, runtime: str, model: str, auth_env: frozenset[str]) -> Decision:
        return decide(self._compiled, runtime, model, auth_env)

    def upstream(self, model: str) -> Upstream:
        """Where the platform's proxy sends a namespaced id. Raises NotNamespaced."""
        return self._upstream(model)

    def explain(self, runtime: str, model: str, auth_env: Iterable[str] = (), *, on: date | None = None) -> Explanation:
        """The decision (on the UTC date ``on``, default today) with the steps behind it, for people."""
        auth = _auth_names(auth_env)
        decision = self._dated(self._decide(runtime, model, auth), on)
        steps = [f"model trimmed to '{decision.model}'"] if decision.model != model else []
        if decision.path in (DecisionPath.EMPTY, DecisionPath.FAIL_OPEN) or decision.code is Code.RUNTIME_UNSUPPORTED:
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
