"""The model decision: can this runtime run this model, through which provider, and who pays.

:func:`check` never raises for any model string: every outcome, allowed or
refused, is a :class:`Decision` with a stable :class:`Code`. The create gates
(:mod:`routegate.gate`) sit above this module and the :class:`~routegate.Registry`
caches it.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from routegate.billing import PLATFORM, BillingMode, billing_mode_for
from routegate.errors import AmbiguousModel, DeriveError
from routegate.manifest import Provider
from routegate.resolution import RuntimeIndex, derive, display_id, nearest_names

__all__ = ["EXTERNAL_RUNTIME", "FOREIGN_RUNTIMES", "Code", "Decision", "DecisionPath", "check"]

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


class Code(enum.StrEnum):
    """Refusal codes, stable across CLI, HTTP and the decision log."""

    UNREGISTERED_MODEL_FOR_RUNTIME = "UNREGISTERED_MODEL_FOR_RUNTIME"
    AMBIGUOUS_MODEL_FOR_RUNTIME = "AMBIGUOUS_MODEL_FOR_RUNTIME"
    INVALID_TEMPLATE = "INVALID_TEMPLATE"
    RUNTIME_UNRESOLVED = "RUNTIME_UNRESOLVED"
    RUNTIME_UNSUPPORTED = "RUNTIME_UNSUPPORTED"
    MODEL_REQUIRED = "MODEL_REQUIRED"
    DERIVED_PROVIDER_NOT_IN_REGISTRY = "DERIVED_PROVIDER_NOT_IN_REGISTRY"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to check(): allowed or not, why, and who serves and pays."""

    runtime: str
    model: str
    allowed: bool
    path: DecisionPath | None
    code: Code | None
    reason: str
    provider: Provider | None = None
    billing_mode: BillingMode | None = None
    required_env: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by ``routegate check --json`` and ``POST /registry/check``."""
        return {
            "runtime": self.runtime,
            "model": self.model,
            "allowed": self.allowed,
            "path": None if self.path is None else self.path.value,
            "code": None if self.code is None else self.code.value,
            "reason": self.reason,
            "provider": None if self.provider is None else self.provider.name,
            "billing_mode": None if self.billing_mode is None else self.billing_mode.value,
            "required_env": list(self.required_env),
            "candidates": list(self.candidates),
            "suggestions": list(self.suggestions),
        }


def check(
    indexes: Mapping[str, RuntimeIndex],
    runtime: str,
    model: str,
    auth_env: frozenset[str],
    foreign_runtimes: Collection[str] = FOREIGN_RUNTIMES,
) -> Decision:
    """The create gate's model decision. Never raises for any model string.

    A runtime that is neither in the registry nor foreign is refused before the
    model is looked at: a misspelt runtime must not fail open.
    """
    trimmed = model.strip()
    if runtime not in indexes and runtime not in foreign_runtimes:
        return _unsupported_runtime(runtime, trimmed, (*indexes, *foreign_runtimes))
    if not trimmed:
        return Decision(
            runtime, trimmed, True, DecisionPath.EMPTY, None, "no model given: the MODEL_REQUIRED gate decides"
        )
    index = indexes.get(runtime)
    if index is None:
        return Decision(
            runtime,
            trimmed,
            True,
            DecisionPath.FAIL_OPEN,
            None,
            f"runtime '{runtime}' is not in the registry, which cannot speak for it",
        )
    try:
        derivation = derive(index, trimmed, auth_env)
    except AmbiguousModel as error:
        return Decision(
            runtime,
            trimmed,
            False,
            None,
            Code.AMBIGUOUS_MODEL_FOR_RUNTIME,
            str(error),
            candidates=error.candidates,
        )
    except DeriveError as error:
        return _unregistered(index, trimmed, str(error))

    provider = derivation.provider
    on_menu = trimmed in index.menu_ids
    if provider.name == PLATFORM and not on_menu:
        # G2: platform billing only for ids listed exactly on the menu.
        return _unregistered(
            index,
            trimmed,
            f"'{display_id(trimmed)}' would be billed to the platform's key but is not on the "
            f"'{runtime}' menu; platform-billed models must be listed there exactly",
        )
    billing = billing_mode_for(provider.name)
    where = f"on the '{runtime}' menu" if on_menu else f"routed by {provider.name}'s pattern"
    return Decision(
        runtime,
        trimmed,
        True,
        DecisionPath.MENU if on_menu else DecisionPath.ROUTE,
        None,
        f"{where}; served by {provider.name}, billed {billing.value}",
        provider=provider,
        billing_mode=billing,
        required_env=provider.auth_env,
        candidates=derivation.candidates,
    )


def _unsupported_runtime(runtime: str, model: str, known: tuple[str, ...]) -> Decision:
    nearest = nearest_names(runtime, known, _SUGGESTIONS)
    return Decision(
        runtime,
        model,
        False,
        None,
        Code.RUNTIME_UNSUPPORTED,
        f"runtime '{display_id(runtime)}' is neither in the registry nor a foreign runtime. "
        f"Nearest runtimes: {', '.join(nearest)}.",
        suggestions=nearest,
    )


def _unregistered(index: RuntimeIndex, model: str, why: str) -> Decision:
    nearest = index.nearest(model, _SUGGESTIONS)
    hint = f" Nearest menu ids: {', '.join(nearest)}." if nearest else ""
    return Decision(
        index.runtime.name,
        model,
        False,
        None,
        Code.UNREGISTERED_MODEL_FOR_RUNTIME,
        f"{why}.{hint} Pick a menu id, or an id a native BYOK provider's pattern accepts.",
        suggestions=nearest,
    )
