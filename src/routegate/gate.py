"""The create gate: every rule that admits or refuses a workspace, in one file.

* :func:`check` is the model decision of ROUTING.md section 5: can this
  runtime run this model, through which provider, and who pays.
* :func:`admit_create` and :func:`admit_model_change` are the gates of
  section 7, in order. They raise :class:`GateRefusal` with a stable code;
  the HTTP layer maps codes to statuses and nothing else.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from routegate.billing import PLATFORM, BillingMode, billing_mode_for
from routegate.errors import (
    AmbiguousModel,
    DeriveError,
    InvalidTemplate,
    RoutegateError,
    TemplateNotFound,
    UnsafeTemplateName,
)
from routegate.manifest import Provider
from routegate.resolution import RuntimeIndex, derive, display_id

if TYPE_CHECKING:
    from routegate.registry import Registry

__all__ = [
    "DEFAULT_RUNTIME",
    "EXTERNAL_RUNTIME",
    "FOREIGN_RUNTIMES",
    "Admission",
    "Code",
    "CreateRequest",
    "Decision",
    "DecisionPath",
    "GateRefusal",
    "admit_create",
    "admit_model_change",
    "catalog_provider",
    "check",
]

DEFAULT_RUNTIME = "claude-code"
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


def check(indexes: Mapping[str, RuntimeIndex], runtime: str, model: str, auth_env: frozenset[str]) -> Decision:
    """Section 5: the create gate's model decision. Never raises for any model string."""
    trimmed = model.strip()
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


# --- section 7: creating a workspace ------------------------------------------------------


class GateRefusal(RoutegateError):
    """A create or model change refused by one gate.

    ``code`` is stable, ``context`` is JSON-able detail for the client, and
    ``decision`` is the model decision behind a gate-7 or gate-8 refusal.
    """

    def __init__(self, code: Code, message: str, *, decision: Decision | None = None, **context: Any) -> None:
        self.code = code
        self.message = message
        self.decision = decision
        self.context = context
        super().__init__(f"{code.value}: {message}")


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A create request after field validation (gate 1 belongs to the caller's schema)."""

    name: str
    runtime: str | None = None
    template: str | None = None
    model: str | None = None
    external: bool = False
    auth_env: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Admission:
    """What the gates admitted: the resolved runtime and model, and the decision behind them."""

    runtime: str
    model: str | None
    template: str | None
    decision: Decision | None

    @property
    def provider(self) -> str | None:
        return None if self.decision is None or self.decision.provider is None else self.decision.provider.name

    @property
    def billing_mode(self) -> str | None:
        return None if self.decision is None or self.decision.billing_mode is None else self.decision.billing_mode.value

    @property
    def required_env(self) -> tuple[str, ...]:
        return () if self.decision is None else self.decision.required_env


TemplateLookup = Callable[[str], "tuple[str | None, str | None]"]
"""name -> (runtime, default model) of a template; raises UnsafeTemplateName, InvalidTemplate or TemplateNotFound."""


def admit_create(
    registry: Registry,
    request: CreateRequest,
    *,
    template_lookup: TemplateLookup,
    default_runtime: str = DEFAULT_RUNTIME,
    foreign_runtimes: Collection[str] = FOREIGN_RUNTIMES,
) -> Admission:
    """Gates 2 to 8 of section 7, in order. Raises :class:`GateRefusal`."""
    runtime = _blank_to_none(request.runtime)
    model = _blank_to_none(request.model)
    runtime_asked = request.runtime is not None
    template_problem = ""

    # Gate 2: a named template must lie inside the templates root, even when the request
    # leaves it nothing to fill in (the name is stored); it fills in what the request left out.
    if request.template is not None:
        try:
            template_runtime, template_model = template_lookup(request.template)
        except UnsafeTemplateName as error:
            raise GateRefusal(Code.INVALID_TEMPLATE, str(error), template=request.template) from None
        except (InvalidTemplate, TemplateNotFound) as error:
            template_runtime = template_model = None
            template_problem = f" ({error})"
        if runtime is None or model is None:
            runtime_asked = True
            runtime = runtime or _blank_to_none(template_runtime)
            model = model or _blank_to_none(template_model)
        elif template_problem:
            # Nothing to fill in, but a name that does not resolve must not be stored.
            raise GateRefusal(
                Code.INVALID_TEMPLATE,
                f"template '{request.template}' cannot be used{template_problem}; "
                "name a template under the templates root, or leave it out",
                template=request.template,
            )

    # Gate 3: asked for a runtime, got none. Never fall back silently.
    if runtime_asked and runtime is None:
        where = f"template '{request.template}'{template_problem}" if request.template is not None else "the request"
        raise GateRefusal(
            Code.RUNTIME_UNRESOLVED,
            f"a runtime was asked for through {where} but none could be resolved; "
            "name a runtime, or a template whose config.yaml sets one",
            template=request.template,
        )

    # Gate 4: the default runtime.
    if runtime is None:
        runtime = EXTERNAL_RUNTIME if request.external else default_runtime

    # Gate 5: the runtime must exist, and match the workspace's kind.
    known = set(registry.runtimes) | set(foreign_runtimes)
    if runtime not in known:
        raise GateRefusal(
            Code.RUNTIME_UNSUPPORTED,
            f"runtime '{display_id(runtime)}' is not supported; use one of: {', '.join(sorted(known))}",
            runtime=runtime,
            supported=sorted(known),
        )
    if request.external != (runtime == EXTERNAL_RUNTIME):
        wanted = (
            "external workspaces need runtime 'external'"
            if request.external
            else ("runtime 'external' is only for external workspaces (set external: true)")
        )
        raise GateRefusal(Code.RUNTIME_UNSUPPORTED, wanted, runtime=runtime)

    why_missing = f" (template '{request.template}'{template_problem})" if template_problem else ""
    decision = _admit_model(registry, runtime, model, request.external, request.auth_env, why_missing)
    return Admission(runtime=runtime, model=model, template=request.template, decision=decision)


def admit_model_change(
    registry: Registry,
    runtime: str,
    model: str | None,
    *,
    external: bool = False,
    auth_env: frozenset[str] = frozenset(),
) -> Decision | None:
    """Gates 6 to 8 again, for a workspace whose runtime is already settled."""
    return _admit_model(registry, runtime, _blank_to_none(model), external, auth_env)


def _admit_model(
    registry: Registry,
    runtime: str,
    model: str | None,
    external: bool,
    auth_env: frozenset[str],
    why_missing: str = "",
) -> Decision | None:
    # Gate 6: there is no platform default model.
    if model is None:
        if external:
            return None
        raise GateRefusal(
            Code.MODEL_REQUIRED,
            f"a model is required for runtime '{runtime}'{why_missing}; there is no platform default. "
            f"Pick one from its menu (GET /registry/runtimes/{runtime})",
            runtime=runtime,
        )
    # Gate 7: the model decision.
    decision = registry.check(runtime, model, auth_env)
    if not decision.allowed:
        assert decision.code is not None
        raise GateRefusal(
            decision.code,
            decision.reason,
            runtime=runtime,
            model=decision.model,
            candidates=list(decision.candidates),
            suggestions=list(decision.suggestions),
            decision=decision,
        )
    # Gate 8: a merged or hand-built registry could derive a provider its catalog lacks.
    if decision.provider is not None:
        catalog_provider(registry, decision.provider.name, runtime=runtime, model=decision.model, decision=decision)
    return decision


def catalog_provider(registry: Registry, name: str, *, decision: Decision | None = None, **context: Any) -> Provider:
    """Gate 8: the provider a workspace routes through must be in the catalog.

    Checked at create and model change, and again when a runtime asks how to boot:
    a reloaded manifest may have dropped the provider a workspace was created with.
    """
    provider = registry.catalog.get(name)
    if provider is None:
        raise GateRefusal(
            Code.DERIVED_PROVIDER_NOT_IN_REGISTRY,
            f"provider '{name}' is not in the registry's provider catalog; fix the manifest, or change "
            "the workspace's model so that it routes through a provider the catalog has",
            decision=decision,
            provider=name,
            **context,
        )
    return provider


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None
