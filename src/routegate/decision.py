"""The model decision: can this runtime run this model, through which provider, and who pays.

:func:`check` never raises for any model string: every outcome, allowed or
refused, is a :class:`Decision` with a stable :class:`~routegate.codes.Code`. The create gates
(:mod:`routegate.gate`) sit above this module and the :class:`~routegate.Registry`
caches it.

A cold decision (a new or hostile id) should cost little more than the RE2
match it needs, so the work is moved out of the call: each runtime's
:class:`DecisionIndex` keeps each menu id's decision once made and holds the
verdicts its other decisions share, and a refusal's reason and nearest menu
ids are computed when first read, not when the refusal is made.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from routegate.billing import PLATFORM, BillingMode, billing_mode_for
from routegate.codes import Code
from routegate.resolution import Ambiguity, Derivation, Miss, RuntimeIndex, display_id, nearest_names

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from datetime import date
    from typing import Any

    from routegate.lifecycle import LifecycleEntry
    from routegate.manifest import Provider, Runtime

__all__ = [
    "EXTERNAL_RUNTIME",
    "FOREIGN_RUNTIMES",
    "Code",
    "Decision",
    "DecisionIndex",
    "DecisionIndexes",
    "DecisionPath",
    "check",
    "on_date",
    "runtime_unsupported",
]

EXTERNAL_RUNTIME = "external"
FOREIGN_RUNTIMES = (EXTERNAL_RUNTIME, "langgraph")
"""Runtimes a workspace may use that the registry does not describe (decisions fail open)."""

_SUGGESTIONS = 3


class DecisionPath(enum.StrEnum):
    """How an allowed decision was reached."""

    EMPTY = "empty"
    FAIL_OPEN = "fail_open"
    MENU = "menu"
    ROUTE = "route"


Explain = Callable[["Decision"], str]
"""Builds a decision's reason from the decision, when the reason is first read."""
Suggest = Callable[[str], tuple[str, ...]]
"""The menu ids to suggest for a model id, when the suggestions are first read."""


def _no_suggestions(model: str) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True, slots=True)
class _Verdict:
    """Everything about a decision but its runtime and model: shared by every decision alike."""

    allowed: bool
    path: DecisionPath | None
    code: Code | None
    explain: Explain
    provider: Provider | None = None
    billing_mode: BillingMode | None = None
    required_env: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    suggest: Suggest = _no_suggestions
    dated_by: LifecycleEntry | None = None


class Decision:
    """The answer to check(): allowed or not, why, and who serves and pays.

    Compared and hashed by its fields like a frozen dataclass, and as
    immutable: every field is a read-only property. ``reason`` and
    ``suggestions`` are computed when first read, then kept.
    """

    __slots__ = ("_model", "_reason", "_runtime", "_suggestions", "_verdict")
    __match_args__ = (
        "runtime",
        "model",
        "allowed",
        "path",
        "code",
        "reason",
        "provider",
        "billing_mode",
        "required_env",
        "candidates",
        "suggestions",
    )
    """The fields in constructor order: what a decision is compared, hashed and shown by."""
    _runtime: str
    _model: str
    _verdict: _Verdict
    _reason: str | None
    _suggestions: tuple[str, ...] | None

    def __init__(
        self,
        runtime: str,
        model: str,
        allowed: bool,
        path: DecisionPath | None,
        code: Code | None,
        reason: str,
        provider: Provider | None = None,
        billing_mode: BillingMode | None = None,
        required_env: tuple[str, ...] = (),
        candidates: tuple[str, ...] = (),
        suggestions: tuple[str, ...] = (),
    ) -> None:
        self._runtime = runtime
        self._model = model
        self._verdict = _Verdict(allowed, path, code, _said(reason), provider, billing_mode, required_env, candidates)
        self._reason = reason
        self._suggestions = suggestions

    @property
    def runtime(self) -> str:
        return self._runtime

    @property
    def model(self) -> str:
        """The model id as decided: trimmed."""
        return self._model

    @property
    def allowed(self) -> bool:
        return self._verdict.allowed

    @property
    def path(self) -> DecisionPath | None:
        return self._verdict.path

    @property
    def code(self) -> Code | None:
        return self._verdict.code

    @property
    def provider(self) -> Provider | None:
        return self._verdict.provider

    @property
    def billing_mode(self) -> BillingMode | None:
        return self._verdict.billing_mode

    @property
    def provider_name(self) -> str | None:
        """Who serves the model, as the decision log, workspace rows and the API name it; None: nothing routes."""
        provider = self._verdict.provider
        return None if provider is None else provider.name

    @property
    def billing_value(self) -> str | None:
        """Who pays, as the decision log, workspace rows and the API spell it; None: nothing routes."""
        billing = self._verdict.billing_mode
        return None if billing is None else billing.value

    @property
    def required_env(self) -> tuple[str, ...]:
        return self._verdict.required_env

    @property
    def candidates(self) -> tuple[str, ...]:
        return self._verdict.candidates

    @property
    def successor(self) -> str | None:
        """For a model refused for its lifecycle, the id to move to (when the manifest names one)."""
        entry = self._verdict.dated_by
        return None if entry is None else entry.successor

    @property
    def admits_existing(self) -> bool:
        """Whether an existing workspace on this model keeps working (its calls admitted): a deprecated
        model is refused for new workspaces only."""
        return self._verdict.allowed or self._verdict.code is Code.MODEL_DEPRECATED

    @property
    def reason(self) -> str:
        """Why, in words a person can act on."""
        reason = self._reason
        if reason is None:
            reason = self._reason = self._verdict.explain(self)
        return reason

    @property
    def suggestions(self) -> tuple[str, ...]:
        """For an unregistered model, the menu ids most like it."""
        suggestions = self._suggestions
        if suggestions is None:
            suggestions = self._suggestions = self._verdict.suggest(self._model)
        return suggestions

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(_FIELDS, self._fields(), strict=True))
        return f"Decision({shown})"

    def __reduce__(self) -> tuple[type[Decision], tuple[Any, ...]]:
        return Decision, self._fields()

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by ``routegate check --json`` and ``POST /registry/check``."""
        verdict = self._verdict
        return {
            "runtime": self._runtime,
            "model": self._model,
            "allowed": verdict.allowed,
            "path": None if verdict.path is None else verdict.path.value,
            "code": None if verdict.code is None else verdict.code.value,
            "reason": self.reason,
            "provider": self.provider_name,
            "billing_mode": self.billing_value,
            "required_env": list(verdict.required_env),
            "candidates": list(verdict.candidates),
            "suggestions": list(self.suggestions),
        }


_FIELDS = Decision.__match_args__
_new_decision = object.__new__


def _decided(runtime: str, model: str, verdict: _Verdict) -> Decision:
    """A decision without running ``__init__``: its reason and suggestions come from the verdict on demand."""
    decision: Decision = _new_decision(Decision)
    decision._runtime = runtime
    decision._model = model
    decision._verdict = verdict
    decision._reason = decision._suggestions = None  # None: not read yet
    return decision


def _said(reason: str) -> Explain:
    return lambda _decision: reason


def _unregistered_reason(why: Explain) -> Explain:
    def explain(decision: Decision) -> str:
        nearest = decision.suggestions
        hint = f" Nearest menu ids: {', '.join(nearest)}." if nearest else ""
        return f"{why(decision)}.{hint} Pick a menu id, or an id a native BYOK provider's pattern accepts."

    return explain


def _missed(miss: Miss) -> Explain:
    return lambda decision: miss.message(decision.runtime, decision.model)


def _ambiguous(ambiguity: Ambiguity) -> Explain:
    return lambda decision: ambiguity.message(decision.runtime, decision.model)


def _platform_off_menu(decision: Decision) -> str:
    # G2: platform billing only for ids listed exactly on the menu.
    return (
        f"'{display_id(decision.model)}' would be billed to the platform's key but is not on the "
        f"'{decision.runtime}' menu; platform-billed models must be listed there exactly"
    )


def _fail_open(decision: Decision) -> str:
    return f"runtime '{decision.runtime}' is not in the registry, which cannot speak for it"


_EMPTY = _Verdict(True, DecisionPath.EMPTY, None, _said("no model given: the MODEL_REQUIRED gate decides"))
_FAIL_OPEN = _Verdict(True, DecisionPath.FAIL_OPEN, None, _fail_open)


class DecisionIndex:
    """One runtime's decisions: its menu ids decided once each, when first asked, and the verdicts other ids share.

    A first decision on a runtime of thousands of menu ids pays for one of them, not for all.
    """

    __slots__ = (
        "_menu",
        "_menu_choices",
        "_menu_without_auth",
        "_no_match",
        "_platform_off_menu",
        "_routed",
        "_unservable",
        "index",
    )

    def __init__(self, index: RuntimeIndex) -> None:
        self.index = index
        self._no_match = self._unregistered(_missed(Miss.NO_MATCH))
        self._unservable = self._unregistered(_missed(Miss.UNSERVABLE))
        self._platform_off_menu = self._unregistered(_platform_off_menu)
        self._routed = {
            arm.provider.name: self._by_pattern(arm.provider, (arm.provider.name,)) for arm in index.runtime.arms
        }
        self._menu_choices: dict[str, dict[str, Decision]] = {}
        """Menu ids decided so far, for each provider that lists them (the auth env names pick among several)."""
        self._menu_without_auth: dict[str, Decision] = {}
        """Menu ids decided so far without auth env names (the usual call): one answer each."""
        self._menu: dict[str, Decision] = {}
        """Menu ids decided so far that one arm lists: one answer whatever the auth env names."""

    def _unregistered(self, why: Explain) -> _Verdict:
        return _Verdict(
            False,
            None,
            Code.UNREGISTERED_MODEL_FOR_RUNTIME,
            _unregistered_reason(why),
            suggest=lambda model: self.index.nearest(model, _SUGGESTIONS),
        )

    def _by_pattern(self, provider: Provider, candidates: tuple[str, ...]) -> _Verdict:
        """An id off the menu that ``provider``'s pattern routes: allowed, unless the platform would pay (G2)."""
        if provider.name == PLATFORM:
            return self._platform_off_menu
        return _allowed(self.index.runtime.name, provider, False, candidates)

    def decide(self, model: str, auth_env: frozenset[str]) -> Decision:
        """check() for a trimmed, non-empty id on this runtime."""
        known = (self._menu if auth_env else self._menu_without_auth).get(model)
        if known is not None:
            return known
        found = self.index.resolve(model, auth_env)
        if found is Miss.NO_MATCH:  # the commonest refusal first
            verdict = self._no_match
        elif isinstance(found, Derivation):
            owners = self.index.menu_owners(model)
            if owners:
                return self._listed(model, owners, found.provider, auth_env)
            if len(found.candidates) == 1:
                verdict = self._routed[found.provider.name]
            else:
                verdict = self._by_pattern(found.provider, found.candidates)
        elif isinstance(found, Ambiguity):
            verdict = _Verdict(False, None, Code.AMBIGUOUS_MODEL_FOR_RUNTIME, _ambiguous(found), candidates=found.tied)
        else:
            verdict = self._unservable
        return _decided(self.index.runtime.name, model, verdict)

    def _listed(
        self, model: str, owners: tuple[Provider, ...], provider: Provider, auth_env: frozenset[str]
    ) -> Decision:
        """The decision for a menu id ``provider`` serves, made the first time and kept for the next."""
        choices = self._menu_choices.setdefault(model, {})
        decision = choices.get(provider.name)
        if decision is None:
            runtime = self.index.runtime.name
            verdict = _allowed(runtime, provider, True, _names(owners))
            decision = choices[provider.name] = _decided(runtime, model, verdict)
        if not auth_env:
            self._menu_without_auth[model] = decision
        if len(owners) == 1:
            self._menu[model] = self._menu_without_auth[model] = decision
        return decision


def _names(providers: tuple[Provider, ...]) -> tuple[str, ...]:
    return tuple(p.name for p in providers)


def _allowed(runtime: str, provider: Provider, on_menu: bool, candidates: tuple[str, ...]) -> _Verdict:
    billing = billing_mode_for(provider.name)
    where = f"on the '{runtime}' menu" if on_menu else f"routed by {provider.name}'s pattern"
    return _Verdict(
        True,
        DecisionPath.MENU if on_menu else DecisionPath.ROUTE,
        None,
        _said(f"{where}; served by {provider.name}, billed {billing.value}"),
        provider,
        billing,
        provider.auth_env,
        candidates,
    )


class DecisionIndexes:
    """Every runtime's :class:`DecisionIndex`, each compiled the first time the runtime is asked about,
    and the foreign runtimes, where decisions fail open.

    A one-shot command decides on one runtime; compiling every runtime first
    would cost it more than the decision.
    """

    __slots__ = ("_compiled", "_runtimes", "foreign", "known")

    def __init__(self, runtimes: Mapping[str, Runtime], foreign: Collection[str] = FOREIGN_RUNTIMES) -> None:
        self._runtimes = runtimes
        self._compiled: dict[str, DecisionIndex] = {}
        self.foreign = tuple(dict.fromkeys(name for name in foreign if name not in runtimes))
        """Runtimes the registry does not describe but admits any model on (minus its own runtimes)."""
        self.known = (*runtimes, *self.foreign)
        """Every runtime a decision may name: the registry's, then the foreign ones."""

    def supports(self, runtime: str) -> bool:
        """The runtime-supported rule: a workspace may use a runtime the registry describes, or a foreign one."""
        return runtime in self._runtimes or runtime in self.foreign

    def get(self, runtime: str) -> DecisionIndex | None:
        """The runtime's index, or None when the registry does not describe it."""
        try:
            return self._compiled[runtime]
        except KeyError:
            described = self._runtimes.get(runtime)
            if described is None:
                return None
            compiled = self._compiled[runtime] = DecisionIndex(RuntimeIndex(described))
            return compiled


def check(indexes: DecisionIndexes, runtime: str, model: str, auth_env: frozenset[str]) -> Decision:
    """The create gate's model decision. Never raises for any model string.

    A runtime that is neither in the registry nor foreign is refused before the
    model is looked at: a misspelt runtime must not fail open.
    """
    trimmed = model.strip()
    index = indexes.get(runtime)
    if index is None:
        if not indexes.supports(runtime):
            return _decided(runtime, trimmed, _unsupported_runtime(runtime, indexes.known))
        return _decided(runtime, trimmed, _FAIL_OPEN if trimmed else _EMPTY)
    if not trimmed:
        return _decided(runtime, trimmed, _EMPTY)
    return index.decide(trimmed, auth_env)


def on_date(decision: Decision, entry: LifecycleEntry, on: date) -> Decision:
    """``decision`` (an allowed one) as the create gate sees it on ``on`` under the lifecycle ``entry``.

    A deprecated model keeps its provider, payer and env names, so the call gate can go on
    admitting an existing workspace's calls (:attr:`Decision.admits_existing`); a retired one keeps none.
    """
    from routegate.lifecycle import Stage  # only a manifest that dates something gets here

    stage = entry.stage(on)
    if stage is Stage.ACTIVE:
        return decision
    verdict = decision._verdict
    if stage is Stage.DEPRECATED:
        dated = replace(verdict, allowed=False, path=None, code=Code.MODEL_DEPRECATED, dated_by=entry)
    else:
        dated = _Verdict(False, None, Code.MODEL_RETIRED, _said(""), candidates=verdict.candidates, dated_by=entry)

    def explain(refused: Decision) -> str:
        return entry.refusal(refused.runtime, display_id(refused.model), on)

    return _decided(decision.runtime, decision.model, replace(dated, explain=explain))


def runtime_unsupported(runtime: str, nearest: Iterable[str]) -> str:
    """The refusal of a runtime :meth:`DecisionIndexes.supports` rejects, in the one wording
    check(), the create gate and the registry's lookups share."""
    return (
        f"runtime '{display_id(runtime)}' is neither in the registry nor a foreign runtime. "
        f"Nearest runtimes: {', '.join(nearest)}."
    )


def _unsupported_runtime(runtime: str, known: tuple[str, ...]) -> _Verdict:
    def explain(decision: Decision) -> str:
        return runtime_unsupported(runtime, decision.suggestions)

    return _Verdict(
        False,
        None,
        Code.RUNTIME_UNSUPPORTED,
        explain,
        suggest=lambda _model: nearest_names(runtime, known, _SUGGESTIONS),
    )
