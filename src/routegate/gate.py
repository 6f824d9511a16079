"""The create gate: every rule that admits or refuses a workspace, in one file.

:func:`admit_create` runs the gates in order (template, runtime, model,
catalog); :func:`admit_model_change` runs the model gates again for a
workspace whose runtime is settled. Each raises :class:`GateRefusal` with a
stable code; the HTTP layer maps codes to statuses and nothing else. The model
decision itself lives one layer down, in :mod:`routegate.decision`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from routegate.decision import EXTERNAL_RUNTIME, Code, Decision, runtime_unsupported
from routegate.errors import InvalidTemplate, RoutegateError, TemplateNotFound, UnsafeTemplateName
from routegate.manifest import Provider
from routegate.registry import Registry
from routegate.resolution import nearest_names

__all__ = [
    "DEFAULT_RUNTIME",
    "Admission",
    "CreateRequest",
    "Filled",
    "GateRefusal",
    "TemplateLookup",
    "admit_create",
    "admit_model_change",
    "catalog_provider",
]

DEFAULT_RUNTIME = "claude-code"


@dataclass(frozen=True, slots=True)
class Filled:
    """The runtime and model a request asked for, as the gates read them: trimmed, blank as
    none, and a template's defaults where the request left them out."""

    runtime: str | None = None
    model: str | None = None


_NOTHING_FILLED = Filled()


class GateRefusal(RoutegateError):
    """A create or model change refused by one gate.

    ``code`` is stable, ``context`` is JSON-able detail for the client, and
    ``decision`` is the model decision behind a refusal of the model or its provider.
    ``filled`` is what the gates had made of the request when they refused, so that
    the decision log can say what was asked without reading the request again.
    """

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        decision: Decision | None = None,
        filled: Filled = _NOTHING_FILLED,
        **context: Any,
    ) -> None:
        self.code = code
        self.message = message
        self.decision = decision
        self.filled = filled
        self.context = context
        super().__init__(f"{code.value}: {message}")

    @property
    def runtime(self) -> str | None:
        """The runtime refused, or the one the request asked for when the refusal names none."""
        runtime: str | None = self.context.get("runtime", self.filled.runtime)
        return runtime

    @property
    def model(self) -> str | None:
        """The model as decided when a decision was made, else as asked for."""
        if self.decision is not None:
            return self.decision.model
        model: str | None = self.context.get("model", self.filled.model)
        return model


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A create request after field validation (the caller's schema checks the fields)."""

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
        return None if self.decision is None else self.decision.provider_name

    @property
    def billing_mode(self) -> str | None:
        return None if self.decision is None else self.decision.billing_value

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
) -> Admission:
    """Every create gate, in order: template, runtime, model, catalog. Raises :class:`GateRefusal`.

    Foreign runtimes are the registry's own (see :attr:`Registry.foreign_runtimes`).
    """
    filled = _fill_from_template(request, template_lookup)
    runtime = _resolve_runtime(request, filled, default_runtime)
    _require_supported_runtime(registry, request.external, runtime, filled.model)
    decision = _admit_model(registry, runtime, filled.model, request.external, request.auth_env, filled.why_missing)
    return Admission(runtime=runtime, model=filled.model, template=request.template, decision=decision)


def admit_model_change(
    registry: Registry,
    runtime: str,
    model: str | None,
    *,
    external: bool = False,
    auth_env: frozenset[str] = frozenset(),
    existing: bool = False,
    on: date | None = None,
) -> Decision | None:
    """The model gates again, for a workspace whose runtime was settled at create.

    The runtime is checked again too: a manifest published since may have dropped it,
    and a runtime the registry no longer knows must be refused, never decided fail-open.
    With ``existing`` the model is the one the workspace already runs (a replay, not a change):
    a deprecated model keeps it working; only a retired one is refused.
    """
    asked = _blank_to_none(model)
    _require_supported_runtime(registry, external, runtime, asked)
    return _admit_model(registry, runtime, asked, external, auth_env, existing=existing, on=on)


@dataclass(frozen=True, slots=True)
class _Filling:
    """The runtime and model after the template filled in what the request left out, and how it went."""

    runtime: str | None
    model: str | None
    runtime_asked: bool
    template: str | None = None
    template_problem: str = ""  # " (why the template could not be read)", or empty

    @property
    def why_missing(self) -> str:
        return f" (template '{self.template}'{self.template_problem})" if self.template_problem else ""


def _fill_from_template(request: CreateRequest, template_lookup: TemplateLookup) -> _Filling:
    """A named template must lie inside the templates root, even when the request leaves it
    nothing to fill in (the name is stored); it fills in what the request left out."""
    runtime = _blank_to_none(request.runtime)
    model = _blank_to_none(request.model)
    runtime_asked = request.runtime is not None
    if request.template is None:
        return _Filling(runtime, model, runtime_asked)
    asked = Filled(runtime, model)
    problem = ""
    try:
        template_runtime, template_model = template_lookup(request.template)
    except UnsafeTemplateName as error:
        raise GateRefusal(Code.INVALID_TEMPLATE, str(error), filled=asked, template=request.template) from None
    except (InvalidTemplate, TemplateNotFound) as error:
        template_runtime = template_model = None
        problem = f" ({error})"
    if runtime is not None and model is not None:
        if problem:
            # Nothing to fill in, but a name that does not resolve must not be stored.
            raise GateRefusal(
                Code.INVALID_TEMPLATE,
                f"template '{request.template}' cannot be used{problem}; "
                "name a template under the templates root, or leave it out",
                filled=asked,
                template=request.template,
            )
        return _Filling(runtime, model, runtime_asked)
    return _Filling(
        runtime or _blank_to_none(template_runtime),
        model or _blank_to_none(template_model),
        runtime_asked=True,
        template=request.template,
        template_problem=problem,
    )


def _resolve_runtime(request: CreateRequest, filled: _Filling, default_runtime: str) -> str:
    """A runtime asked for (directly or by template) must resolve: never fall back silently.
    Nothing asked for: external workspaces get ``external``, others the default."""
    if filled.runtime is not None:
        return filled.runtime
    if filled.runtime_asked:
        where = (
            f"template '{request.template}'{filled.template_problem}" if request.template is not None else "the request"
        )
        raise GateRefusal(
            Code.RUNTIME_UNRESOLVED,
            f"a runtime was asked for through {where} but none could be resolved; "
            "name a runtime, or a template whose config.yaml sets one",
            filled=Filled(model=filled.model),
            template=request.template,
        )
    return EXTERNAL_RUNTIME if request.external else default_runtime


def _require_supported_runtime(registry: Registry, external: bool, runtime: str, model: str | None) -> None:
    """The runtime must be supported (see :meth:`Registry.supports`) and match the workspace's kind."""
    asked = Filled(runtime, model)
    if not registry.supports(runtime):
        known = registry.known_runtimes
        raise GateRefusal(
            Code.RUNTIME_UNSUPPORTED,
            runtime_unsupported(runtime, nearest_names(runtime, known)),
            filled=asked,
            runtime=runtime,
            supported=sorted(known),
        )
    if external != (runtime == EXTERNAL_RUNTIME):
        wanted = (
            "external workspaces need runtime 'external'"
            if external
            else "runtime 'external' is only for external workspaces (set external: true)"
        )
        raise GateRefusal(Code.RUNTIME_UNSUPPORTED, wanted, filled=asked, runtime=runtime)


def _admit_model(
    registry: Registry,
    runtime: str,
    model: str | None,
    external: bool,
    auth_env: frozenset[str],
    why_missing: str = "",
    *,
    existing: bool = False,
    on: date | None = None,
) -> Decision | None:
    """The model gates: a model is required, the decision must allow it, its provider must exist."""
    if model is None:
        _require_model(runtime, external, why_missing)
        return None
    decision = _require_allowed(registry, runtime, model, auth_env, existing=existing, on=on)
    if decision.provider is not None:
        catalog_provider(registry, decision.provider.name, runtime=runtime, model=decision.model, decision=decision)
    return decision


def _require_model(runtime: str, external: bool, why_missing: str) -> None:
    """There is no platform default model: only external workspaces may go without one."""
    if not external:
        raise GateRefusal(
            Code.MODEL_REQUIRED,
            f"a model is required for runtime '{runtime}'{why_missing}; there is no platform default. "
            f"Pick one from its menu (GET /registry/runtimes/{runtime})",
            runtime=runtime,
        )


def _require_allowed(
    registry: Registry, runtime: str, model: str, auth_env: frozenset[str], *, existing: bool, on: date | None
) -> Decision:
    """The model decision must allow the model (or, for a workspace's own model, keep it working);
    a refusal carries its code and the decision."""
    decision = registry.check(runtime, model, auth_env, on=on)
    if not (decision.admits_existing if existing else decision.allowed):
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
    return decision


def catalog_provider(registry: Registry, name: str, *, decision: Decision | None = None, **context: Any) -> Provider:
    """The provider a workspace routes through must be in the catalog.

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
    """An optional text field as the gates read it: surrounding spaces dropped, blank as none."""
    if value is None:
        return None
    value = value.strip()
    return value or None
