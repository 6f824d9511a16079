"""Template drift: the models a template offers that its runtime cannot route.

Drift is every offered id that check() refuses, plus every id marked
``provider: platform`` that is not on the runtime's platform arm.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from routegate.billing import PLATFORM
from routegate.decision import Code, Decision
from routegate.registry import Registry
from routegate.templates import Template

__all__ = ["Residual", "TemplateDrift", "drift"]

NOT_ON_PLATFORM_ARM = "NOT_ON_PLATFORM_ARM"


@dataclass(frozen=True, slots=True)
class Residual:
    """An offered id that does not route, with the refusal code and reason."""

    id: str
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class TemplateDrift:
    template: Template
    offered: int
    residual: tuple[Residual, ...]
    default_routable: bool | None
    runtime_known: bool
    decisions: Mapping[str, Decision] = field(default_factory=lambda: MappingProxyType({}))
    """check()'s decision for each offered id and the default model, where the runtime is the registry's."""

    @property
    def routable(self) -> int:
        return self.offered - len(self.residual)

    def to_dict(self) -> dict[str, object]:
        t = self.template
        return {
            "template": t.name,
            "path": str(t.path),
            "runtime": t.runtime,
            "runtime_known": self.runtime_known,
            "offered": self.offered,
            "routable": self.routable,
            "residual": [{"id": r.id, "code": r.code, "reason": r.reason} for r in self.residual],
            "default_model": t.default_model,
            "default_routable": self.default_routable,
        }


def drift(
    registry: Registry, template: Template, foreign_runtimes: Collection[str] | None = None, *, on: date | None = None
) -> TemplateDrift:
    """Measure one template against the registry, as the create gate would judge its models on ``on`` (default today).

    An id deprecated or retired by then is residual with ``MODEL_DEPRECATED`` or ``MODEL_RETIRED``,
    naming its successor: the create gate would refuse it to a new workspace.

    A template whose runtime is missing or unknown routes nothing: every offered
    id is residual (RUNTIME_UNRESOLVED or RUNTIME_UNSUPPORTED), so a misspelt
    runtime can never pass as "no drift". A foreign runtime (the registry cannot
    speak for it) fails open, as at create time.
    """
    runtime = template.runtime
    known = runtime in registry.runtimes
    foreign = registry.foreign_runtimes if foreign_runtimes is None else foreign_runtimes
    if runtime is None or not (known or runtime in foreign):
        code, reason = _unusable_runtime(template, runtime)
        refused = tuple(Residual(offer.id, code, reason) for offer in template.offered)
        default_routable = None if template.default_model is None else False
        return TemplateDrift(template, len(template.offered), refused, default_routable, False)

    arms = registry.arms(runtime) if known else ()
    platform_ids = frozenset(model for arm in arms if arm.provider.name == PLATFORM for model in arm.models)
    residual = []
    decisions: dict[str, Decision] = {}
    for offer in template.offered:
        decision = decisions[offer.id] = registry.check(runtime, offer.id, on=on)
        if not decision.allowed:
            assert decision.code is not None
            residual.append(Residual(offer.id, decision.code.value, decision.reason))
        elif offer.provider == PLATFORM and known and offer.id not in platform_ids:
            residual.append(
                Residual(
                    offer.id,
                    NOT_ON_PLATFORM_ARM,
                    f"marked provider: platform, but '{runtime}' has no platform arm listing it; "
                    "the platform would not serve it",
                )
            )
    default_routable = None
    if template.default_model is not None:
        default = decisions[template.default_model] = registry.check(runtime, template.default_model, on=on)
        default_routable = default.allowed
    return TemplateDrift(
        template,
        len(template.offered),
        tuple(residual),
        default_routable,
        known,
        MappingProxyType(decisions if known else {}),
    )


def _unusable_runtime(template: Template, runtime: str | None) -> tuple[str, str]:
    """The create gate's code and reason for a template whose runtime cannot be used."""
    if runtime is None:
        return Code.RUNTIME_UNRESOLVED.value, f"template '{template.name}' names no runtime"
    return (
        Code.RUNTIME_UNSUPPORTED.value,
        f"template '{template.name}' names runtime '{runtime}', which is neither in the registry nor foreign",
    )
