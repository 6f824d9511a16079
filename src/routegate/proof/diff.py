"""What a manifest edit does to every decision and who pays (``routegate diff``).

For each runtime in either manifest, every model id has an *outcome* under OLD
and under NEW: (allowed, provider, billing mode) as ``check()`` decides it. A
runtime one manifest lacks is decided there as check() decides it: refused
(``RUNTIME_UNSUPPORTED``), or admitted by no provider when it is a foreign
runtime (fail-open). A *change class* is the set of all ids whose outcome
moves from A to B, A != B.

Menu ids are finite: each is decided directly under both manifests, and so are
the ids no pattern decides (the empty id, and one holding a control
character, each standing for all such ids). Every other id is decided by which
native patterns match it: :mod:`routegate.proof._combinations` finds one
shortest id for each combination of matching patterns that can change, RE2
confirming it, and check() decides that id for its whole combination. Anything
past the run's :class:`~routegate.proof._budget.Budget` or beyond the modelled
subset is reported in ``unproven``, never guessed.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from routegate.billing import BillingMode
from routegate.calendar import runtimes_dated
from routegate.decision import Decision
from routegate.lifecycle import UNDATED, LifecycleEntry
from routegate.manifest import Provider
from routegate.registry import Registry

if TYPE_CHECKING:
    from routegate.proof._automata import Automata
    from routegate.proof._budget import Budget, Ledger
    from routegate.templates import Template

__all__ = [
    "RISKY",
    "Change",
    "ChangeKind",
    "LifecycleChange",
    "ManifestDiff",
    "Outcome",
    "ProviderChange",
    "TemplateChange",
    "UnprovenRuntime",
    "diff",
]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What check() decides for an id: allowed or not, and if so who serves it and who pays."""

    allowed: bool
    provider: str | None = None
    billing_mode: BillingMode | None = None

    @classmethod
    def of(cls, decision: Decision) -> Outcome:
        return cls(decision.allowed, decision.provider_name, decision.billing_mode)

    @property
    def platform_billed(self) -> bool:
        return self.billing_mode is BillingMode.PLATFORM_MANAGED

    def to_dict(self) -> dict[str, Any]:
        billing = None if self.billing_mode is None else self.billing_mode.value
        return {"allowed": self.allowed, "provider": self.provider, "billing_mode": billing}

    def __str__(self) -> str:
        if not self.allowed:
            return "refused"
        if self.provider is None:
            return "allowed"
        return f"{self.provider} ({self.billing_mode})"


class ChangeKind(enum.StrEnum):
    """What a change means for a reviewer, riskiest first: a class gets the first kind that applies."""

    TO_PLATFORM = "to_platform"  # now billed to the platform's key, before not
    LOST = "lost"  # allowed before, refused now: workspaces and templates using it would wedge
    GAINED = "gained"  # refused before, or admitted by no provider (fail-open); now served by one
    FROM_PLATFORM = "from_platform"  # billing moved off the platform
    PROVIDER_CHANGED = "provider_changed"
    # Lifecycle changes (a manifest's dates, see LifecycleChange), reported apart from the route classes:
    RETIRED = "retired"  # a retirement date set, moved or dropped
    DEPRECATED = "deprecated"  # a deprecation date set, moved or dropped
    SUCCESSOR_CHANGED = "successor_changed"

    @classmethod
    def of(cls, old: Outcome, new: Outcome) -> ChangeKind:
        if new.platform_billed and not old.platform_billed:
            return cls.TO_PLATFORM
        if old.allowed and not new.allowed:
            return cls.LOST
        if new.allowed and (not old.allowed or (old.provider is None and new.provider is not None)):
            return cls.GAINED
        if old.platform_billed:
            return cls.FROM_PLATFORM
        return cls.PROVIDER_CHANGED

    @property
    def rank(self) -> int:
        return list(ChangeKind).index(self)


RISKY = frozenset({ChangeKind.TO_PLATFORM, ChangeKind.LOST})
"""The kinds that fail ``routegate diff`` unless ``--fail-on`` says otherwise."""


@dataclass(frozen=True, slots=True)
class Change:
    """One change class: every id of ``runtime`` whose outcome is ``old`` under OLD and ``new`` under NEW.

    ``ids`` lists every menu id in the class; ``by_pattern`` says the class
    also holds ids on neither menu. ``witness`` is one id
    of the class, confirmed by check() under both manifests.
    """

    runtime: str
    kind: ChangeKind
    witness: str
    ids: tuple[str, ...]
    by_pattern: bool
    old: Outcome
    new: Outcome

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "kind": self.kind.value,
            "witness": self.witness,
            "ids": list(self.ids),
            "by_pattern": self.by_pattern,
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class LifecycleChange:
    """A dated model or provider whose governing entry's dates or successor differ on ``runtimes``.

    ``old`` and ``new`` are the entries that date it there under each manifest (None: undated).
    """

    kind: ChangeKind
    old: LifecycleEntry | None
    new: LifecycleEntry | None
    runtimes: tuple[str, ...]

    @property
    def entry(self) -> LifecycleEntry:
        entry = self.new if self.new is not None else self.old
        assert entry is not None, "a change has an entry on one side at least"
        return entry

    def __str__(self) -> str:
        return f"{self.entry.subject} on {', '.join(self.runtimes)}: {_dated(self.old)} -> {_dated(self.new)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "runtimes": list(self.runtimes),
            "old": None if self.old is None else self.old.to_data(),
            "new": None if self.new is None else self.new.to_data(),
        }


def _dated(entry: LifecycleEntry | None) -> str:
    if entry is None:
        return "undated"
    data = entry.to_data()
    return ", ".join(f"{k} {data[k]}" for k in ("deprecated_on", "retires_on", "successor") if k in data)


def _lifecycle_changes(old: Registry, new: Registry) -> tuple[LifecycleChange, ...]:
    """Per runtime, the entry dating each model or provider under OLD and under NEW; the first field
    that differs names the kind, and the runtimes where the same two entries differ are one change."""
    before, after = _governing_entries(old), _governing_entries(new)
    grouped: dict[tuple[ChangeKind, LifecycleEntry | None, LifecycleEntry | None], list[str]] = {}
    for key in dict.fromkeys((*before, *after)):
        was, now = before.get(key), after.get(key)
        for kind, field in (
            (ChangeKind.RETIRED, "retires_on"),
            (ChangeKind.DEPRECATED, "deprecated_on"),
            (ChangeKind.SUCCESSOR_CHANGED, "successor"),
        ):
            if getattr(was, field, None) != getattr(now, field, None):
                grouped.setdefault((kind, was, now), []).append(key[1])
                break
    return tuple(LifecycleChange(kind, was, now, tuple(runtimes)) for (kind, was, now), runtimes in grouped.items())


def _governing_entries(registry: Registry) -> dict[tuple[str, str], LifecycleEntry]:
    """(what an entry dates, runtime) -> the entry that dates it there (the first declared)."""
    found: dict[tuple[str, str], LifecycleEntry] = {}
    for entry in registry.lifecycle.entries:
        for runtime in runtimes_dated(registry, entry):
            found.setdefault((entry.subject, runtime), entry)
    return found


@dataclass(frozen=True, slots=True)
class ProviderChange:
    """A catalog entry in both manifests whose fields differ (manifest field names)."""

    name: str
    fields: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "fields": list(self.fields)}


@dataclass(frozen=True, slots=True)
class TemplateChange:
    """A model a template offers whose decision changes."""

    template: str
    runtime: str
    id: str
    kind: ChangeKind
    old: Outcome
    new: Outcome

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "runtime": self.runtime,
            "id": self.id,
            "kind": self.kind.value,
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class UnprovenRuntime:
    """Part of a runtime's ids the automata could not decide exactly, and why."""

    runtime: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ManifestDiff:
    """Everything a manifest edit changes, proven over every model id where ``proven``."""

    old_fingerprint: str
    new_fingerprint: str
    unproven: tuple[UnprovenRuntime, ...]
    runtimes_added: tuple[str, ...]
    runtimes_removed: tuple[str, ...]
    providers_added: tuple[str, ...]
    providers_removed: tuple[str, ...]
    providers_changed: tuple[ProviderChange, ...]
    changes: tuple[Change, ...]
    templates: tuple[TemplateChange, ...] = ()
    lifecycle: tuple[LifecycleChange, ...] = ()
    """Changes of the dates, apart from the route classes (which compare decisions as if undated)."""

    @property
    def proven(self) -> bool:
        return not self.unproven

    def failed(self, fail_on: Collection[ChangeKind] = RISKY, *, strict: bool = False) -> bool:
        """A change (or template change) of a kind in ``fail_on``; with ``strict``, anything unproven too."""
        kinds = {c.kind for c in self.changes} | {t.kind for t in self.templates} | {c.kind for c in self.lifecycle}
        return not kinds.isdisjoint(fail_on) or (strict and not self.proven)

    def to_markdown(self) -> str:
        """A table of the change classes, riskiest first, ready for a pull-request comment."""
        risky = sum(c.kind in RISKY for c in self.changes)
        lines = [
            f"#### routegate diff `{self.old_fingerprint}` -> `{self.new_fingerprint}`",
            "",
            f"{len(self.changes)} change class(es), {risky} risky; "
            + ("proven over every model id." if self.proven else "**not proven**: see below."),
        ]
        if self.changes:
            lines += ["", "| runtime | kind | witness | before | after | menu ids |", "|---|---|---|---|---|---|"]
            for c in sorted(self.changes, key=lambda c: (c.kind.rank, c.runtime, c.witness)):
                ids = ", ".join(_code(i) for i in c.ids) + (
                    " and ids beyond the menus" if c.ids and c.by_pattern else ""
                )
                lines.append(f"| {c.runtime} | **{c.kind}** | {_code(c.witness)} | {c.old} | {c.new} | {ids or '-'} |")
        if self.templates:
            lines += ["", "| template | model | kind | before | after |", "|---|---|---|---|---|"]
            lines += [f"| {t.template} | {_code(t.id)} | **{t.kind}** | {t.old} | {t.new} |" for t in self.templates]
        lines += [f"- **{c.kind}**: {_cell(str(c))}" for c in self.lifecycle]
        lines += [f"- unproven, runtime {u.runtime}: {_cell(u.reason)}" for u in self.unproven]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_fingerprint": self.old_fingerprint,
            "new_fingerprint": self.new_fingerprint,
            "proven": self.proven,
            "unproven": [u.to_dict() for u in self.unproven],
            "runtimes": {"added": list(self.runtimes_added), "removed": list(self.runtimes_removed)},
            "providers": {
                "added": list(self.providers_added),
                "removed": list(self.providers_removed),
                "changed": [p.to_dict() for p in self.providers_changed],
            },
            "changes": [c.to_dict() for c in self.changes],
            "templates": [t.to_dict() for t in self.templates],
            "lifecycle": [c.to_dict() for c in self.lifecycle],
        }


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell: GitHub splits cells at every unescaped '|'."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(model: str) -> str:
    """A model id as inline code, fenced by more backticks than any run it holds."""
    fence = "`" * (max((len(run) for run in re.findall("`+", model)), default=0) + 1)
    return f"{fence} {_cell(model)} {fence}"


def diff(
    old: Registry,
    new: Registry,
    auth_env: Iterable[str] = (),
    *,
    budget: Budget | None = None,
    templates: Iterable[Template] = (),
) -> ManifestDiff:
    """Every change class of every runtime in either manifest, each with a confirmed witness.

    ``budget`` bounds the whole diff (default: the prover's), each runtime whose patterns change getting
    a fair share of it; past its share, a runtime is unproven.
    """
    from routegate.proof._automata import Automata  # deferred: only a diff needs the automata
    from routegate.proof._budget import DEFAULT_BUDGET, Ledger
    from routegate.proof._combinations import split_natives

    if isinstance(auth_env, str):
        raise TypeError("auth_env is a collection of env var names; pass [name], not a bare string")
    auth = frozenset(auth_env)
    runtimes = dict.fromkeys((*old.runtimes, *new.runtimes))
    splits = {runtime: split_natives(_natives(old, runtime), _natives(new, runtime), auth) for runtime in runtimes}
    ledger = Ledger(budget or DEFAULT_BUDGET, sum(bool(changed) for changed, _ in splits.values()))
    automata = Automata()
    changes: list[Change] = []
    unproven: list[UnprovenRuntime] = []
    for runtime, split in splits.items():
        review = _RuntimeReview(old, new, runtime, auth, automata, ledger)
        changes.extend(review.changes(*split))
        unproven.extend(UnprovenRuntime(runtime, reason) for reason in review.unproven)
    old_catalog, new_catalog = old.catalog, new.catalog
    return ManifestDiff(
        old.fingerprint,
        new.fingerprint,
        tuple(unproven),
        tuple(r for r in new.runtimes if r not in old.runtimes),
        tuple(r for r in old.runtimes if r not in new.runtimes),
        tuple(p for p in new_catalog if p not in old_catalog),
        tuple(p for p in old_catalog if p not in new_catalog),
        _provider_changes(old, new),
        tuple(changes),
        _template_changes(old, new, templates, auth),
        _lifecycle_changes(old, new),
    )


def _provider_changes(old: Registry, new: Registry) -> tuple[ProviderChange, ...]:
    """Field by field, in the manifest's own names (its canonical data)."""
    before = {entry["name"]: entry for entry in old.manifest.to_data()["providers"]}
    changed = []
    for entry in new.manifest.to_data()["providers"]:
        previous = before.get(entry["name"])
        if previous is not None and previous != entry:
            changed.append(ProviderChange(entry["name"], tuple(k for k in entry if entry[k] != previous.get(k))))
    return tuple(changed)


def _template_changes(
    old: Registry, new: Registry, templates: Iterable[Template], auth: frozenset[str]
) -> tuple[TemplateChange, ...]:
    found = []
    for template in templates:
        if template.runtime is None:
            continue  # routes nothing under either manifest
        offered = [m.id for m in template.offered]
        if template.default_model is not None:
            offered.append(template.default_model)
        for model in dict.fromkeys(offered):
            before = Outcome.of(old.check(template.runtime, model, auth, on=UNDATED))
            after = Outcome.of(new.check(template.runtime, model, auth, on=UNDATED))
            if before != after:
                kind = ChangeKind.of(before, after)
                found.append(TemplateChange(template.name, template.runtime, model, kind, before, after))
    return tuple(found)


_UNPATTERNED = ("", "\x00")
"""Ids no pattern decides, one for each kind: the empty id (as every blank one) and an unservable one.

check() answers every id of a kind alike on a runtime of the manifest (empty: allowed, for the
MODEL_REQUIRED gate; a control character: refused), and alike on a runtime it lacks.
"""


def _menu(registry: Registry, runtime: str) -> tuple[str, ...]:
    return registry.menu(runtime) if runtime in registry.runtimes else ()


def _natives(registry: Registry, runtime: str) -> tuple[Provider, ...]:
    return registry.providers_for(runtime) if runtime in registry.runtimes else ()


@dataclass(slots=True)
class _Class:
    """A change class as it is collected: its menu ids and a witness beyond the menus."""

    ids: list[str]
    pattern_witness: str | None = None


class _RuntimeReview:
    """The change classes of one runtime in either manifest (a manifest lacking it decides as check() does)."""

    __slots__ = ("_auth", "_automata", "_classes", "_ledger", "_new", "_old", "_runtime", "unproven")

    def __init__(
        self, old: Registry, new: Registry, runtime: str, auth: frozenset[str], automata: Automata, ledger: Ledger
    ) -> None:
        self._old, self._new, self._runtime, self._auth = old, new, runtime, auth
        self._automata, self._ledger = automata, ledger
        self._classes: dict[tuple[Outcome, Outcome], _Class] = {}
        self.unproven: list[str] = []

    def _outcomes(self, model: str) -> tuple[Outcome, Outcome]:
        return (
            Outcome.of(self._old.check(self._runtime, model, self._auth, on=UNDATED)),
            Outcome.of(self._new.check(self._runtime, model, self._auth, on=UNDATED)),
        )

    def changes(self, changed: list[str], unchanged: list[str]) -> list[Change]:
        """The classes, given the native patterns that can change an outcome and those that cannot."""
        from routegate.proof._budget import NotProven

        menu = dict.fromkeys((*_menu(self._old, self._runtime), *_menu(self._new, self._runtime)))
        for model in menu:
            before, after = self._outcomes(model)
            if before != after:
                self._classes.setdefault((before, after), _Class([])).ids.append(model)
        try:
            self._pattern_changes(frozenset(menu), changed, unchanged)
        except NotProven as error:
            self.unproven.append(f"ids beyond the menus: {error}")
        for model in _UNPATTERNED:  # last, so a class's witness is a readable id where it has one
            self._record(model, *self._outcomes(model))
        changes = [
            Change(
                self._runtime,
                ChangeKind.of(before, after),
                collected.ids[0] if collected.ids else str(collected.pattern_witness),
                tuple(collected.ids),
                collected.pattern_witness is not None,
                before,
                after,
            )
            for (before, after), collected in self._classes.items()
        ]
        return sorted(changes, key=lambda c: (c.kind.rank, c.witness))

    def _pattern_changes(self, menu: frozenset[str], changed: list[str], unchanged: list[str]) -> None:
        """The classes of ids on neither menu, from the automata of the patterns that can change them."""
        from routegate.proof._combinations import witnesses

        if not changed:
            return
        # A runtime one manifest lacks decides every id alike there, so ids no pattern matches may change too.
        one_sided = (self._runtime in self._old.runtimes) != (self._runtime in self._new.runtimes)
        meter = self._ledger.meter(f"runtime {self._runtime!r}")
        for witness in witnesses(self._automata, meter, changed, unchanged, menu, one_sided=one_sided):
            self._record(witness, *self._outcomes(witness))

    def _record(self, witness: str, before: Outcome, after: Outcome) -> None:
        """An id beyond the menus, in its class (the first one recorded is the class's witness)."""
        if before != after:
            collected = self._classes.setdefault((before, after), _Class([]))
            if collected.pattern_witness is None:
                collected.pattern_witness = witness
