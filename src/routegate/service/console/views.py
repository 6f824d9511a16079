"""What the console's pages show, computed from the core's objects: plain immutable values for the templates.

Nothing here renders or reads a request; each builder takes the registry (and
the templates) a page was asked for and returns what its template loops over.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from routegate.billing import BillingMode, billing_mode_for
from routegate.codes import Code
from routegate.decision import Decision
from routegate.drift import TemplateDrift, drift
from routegate.manifest import Provider
from routegate.registry import Registry
from routegate.templates import Template

__all__ = [
    "BILLING_LABELS",
    "ArmKind",
    "ArmView",
    "Cell",
    "DriftCard",
    "DriftSummary",
    "LookupRow",
    "ProviderRow",
    "ResidualGroup",
    "RuntimeView",
    "TemplateOption",
    "choosing_env",
    "drift_cards",
    "lookup_rows",
    "provider_env_json",
    "provider_rows",
    "runtime_view",
    "template_options",
]

BILLING_LABELS = {BillingMode.PLATFORM_MANAGED: "Platform-managed", BillingMode.BYOK: "BYOK"}
"""How people read each billing mode: the console never shows the raw value (pages and script alike)."""


class ArmKind(enum.StrEnum):
    """How a runtime uses a provider, as the registry matrix shows it."""

    MENU = "menu"
    ROUTING = "routing"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ArmView:
    provider: Provider
    models: tuple[str, ...]

    @property
    def billing(self) -> BillingMode:
        return billing_mode_for(self.provider.name)


@dataclass(frozen=True, slots=True)
class RuntimeView:
    name: str
    menu_arms: tuple[ArmView, ...]
    routing_arms: tuple[ArmView, ...]


def runtime_view(registry: Registry, runtime: str) -> RuntimeView:
    """A runtime's menu grouped by the provider that lists each id, and its routing-only providers."""
    arms = registry.arms(runtime)
    return RuntimeView(
        runtime,
        tuple(ArmView(a.provider, a.models) for a in arms if not a.routing_only),
        tuple(ArmView(a.provider, a.models) for a in arms if a.routing_only),
    )


@dataclass(frozen=True, slots=True)
class TemplateOption:
    """A template as the create page offers it; ``default_routes`` is None when it sets no default model."""

    name: str
    runtime: str | None
    default_model: str | None
    runtime_known: bool
    default_routes: bool | None


def template_options(registry: Registry, templates: Iterable[Template]) -> tuple[TemplateOption, ...]:
    options = []
    for template in templates:
        measured = drift(registry, template)
        options.append(
            TemplateOption(
                template.name,
                template.runtime,
                template.default_model,
                measured.runtime_known,
                measured.default_routable,
            )
        )
    return tuple(options)


@dataclass(frozen=True, slots=True)
class Cell:
    runtime: str
    kind: ArmKind
    count: int = 0


@dataclass(frozen=True, slots=True)
class ProviderRow:
    provider: Provider
    cells: tuple[Cell, ...]


def provider_rows(registry: Registry) -> tuple[ProviderRow, ...]:
    """One row per catalog provider: how each runtime uses it."""
    arms_by_runtime = {rt: {arm.provider.name: arm for arm in registry.arms(rt)} for rt in registry.runtimes}
    rows = []
    for provider in registry.catalog.values():
        cells = []
        for runtime in registry.runtimes:
            arm = arms_by_runtime[runtime].get(provider.name)
            if arm is None:
                cells.append(Cell(runtime, ArmKind.NONE))
            elif arm.routing_only:
                cells.append(Cell(runtime, ArmKind.ROUTING))
            else:
                cells.append(Cell(runtime, ArmKind.MENU, len(arm.models)))
        rows.append(ProviderRow(provider, tuple(cells)))
    return tuple(rows)


def provider_env_json(registry: Registry) -> str:
    """Each provider's auth env names as JSON, for the page script that explains a choice among candidates."""
    return json.dumps({name: list(p.auth_env) for name, p in registry.catalog.items()}, separators=(",", ":"))


def choosing_env(candidates: Sequence[Provider]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """For each candidate provider, the auth env names that would choose it: those no other candidate accepts."""
    chosen = []
    for provider in candidates:
        others = {name for other in candidates if other is not provider for name in other.auth_env}
        chosen.append((provider.name, tuple(name for name in provider.auth_env if name not in others)))
    return tuple(chosen)


@dataclass(frozen=True, slots=True)
class LookupRow:
    """One runtime's decision on the looked-up id; ``choices`` explain a decision among several providers."""

    runtime: str
    decision: Decision
    choices: tuple[tuple[str, tuple[str, ...]], ...]


def lookup_rows(registry: Registry, model: str) -> tuple[LookupRow, ...]:
    """``Registry.check`` for every runtime of the registry, in declared order."""
    rows = []
    for runtime in registry.runtimes:
        decision = registry.check(runtime, model)
        candidates = [registry.catalog[name] for name in decision.candidates if name in registry.catalog]
        choices = choosing_env(candidates) if len(candidates) > 1 else ()
        rows.append(LookupRow(runtime, decision, choices))
    return tuple(rows)


@dataclass(frozen=True, slots=True)
class ResidualGroup:
    """Residual ids refused for one reason: the reason is said once, then the ids."""

    code: str
    reason: str
    ids: tuple[str, ...]


_GROUP_REASONS = {code.value: code.row.console_group for code in Code if code.row.console_group is not None}
"""Said once for a group whose ids were refused with reasons that differ only by the id itself
(each code's wording is in the table of codes, :mod:`routegate.codes`)."""


@dataclass(frozen=True, slots=True)
class DriftCard:
    report: TemplateDrift
    groups: tuple[ResidualGroup, ...]

    @property
    def broken(self) -> bool:
        """Anything an operator must fix: a residual id, or a default model that does not route."""
        return bool(self.report.residual) or self.report.default_routable is False


@dataclass(frozen=True, slots=True)
class DriftSummary:
    templates: int
    broken: int
    residual: int
    defaults_not_routing: int


def _groups(report: TemplateDrift) -> tuple[ResidualGroup, ...]:
    by_reason: dict[tuple[str, str], list[str]] = {}
    for residual in report.residual:
        shared = _GROUP_REASONS.get(residual.code)
        reason = residual.reason if shared is None else shared.format(runtime=report.template.runtime)
        by_reason.setdefault((residual.code, reason), []).append(residual.id)
    return tuple(ResidualGroup(code, reason, tuple(ids)) for (code, reason), ids in by_reason.items())


def drift_cards(registry: Registry, templates: Iterable[Template]) -> tuple[tuple[DriftCard, ...], DriftSummary]:
    """Each template's drift, broken ones first (most residual ids first), and a summary of them all."""
    cards = [DriftCard(report, _groups(report)) for report in (drift(registry, t) for t in templates)]
    cards.sort(key=lambda c: (not c.broken, c.report.default_routable is not False, -len(c.report.residual)))
    summary = DriftSummary(
        templates=len(cards),
        broken=sum(card.broken for card in cards),
        residual=sum(len(card.report.residual) for card in cards),
        defaults_not_routing=sum(card.report.default_routable is False for card in cards),
    )
    return tuple(cards), summary
