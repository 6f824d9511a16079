"""Model lifecycle: the dates on which a model id is deprecated and retired, and what follows.

A manifest's ``lifecycle`` entries name a model (an exact id) or a provider
(every id it serves), optionally some runtimes (default: all), and the UTC
calendar dates. On a date an id is :attr:`Stage.ACTIVE`, :attr:`Stage.DEPRECATED`
(new workspaces are refused, existing ones keep working: the meaning Anthropic
and Azure give the word) or :attr:`Stage.RETIRED` (creates and calls refused).
The dates are facts of the manifest, so a decision on a date is as
reproducible as one without.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from routegate.errors import RoutegateError

__all__ = ["UNDATED", "InvalidLifecycleEntry", "Lifecycle", "LifecycleEntry", "Stage", "today"]

UNDATED = date.min
"""A day before every lifecycle date: ``check(..., on=UNDATED)`` decides as the routes alone do."""


def today() -> date:
    """The current UTC calendar date: the default date of every decision."""
    return datetime.now(UTC).date()


class Stage(enum.StrEnum):
    """Where a model id stands on a date."""

    ACTIVE = "active"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class InvalidLifecycleEntry(RoutegateError, ValueError):
    """A lifecycle entry that cannot mean anything: it says what was wrong and what to do."""


@dataclass(frozen=True, slots=True)
class LifecycleEntry:
    """One dated fact: ``model`` (an exact id) or ``provider`` (every id it serves) on ``runtimes`` (empty: all)."""

    model: str | None = None
    provider: str | None = None
    runtimes: tuple[str, ...] = ()
    deprecated_on: date | None = None
    retires_on: date | None = None
    successor: str | None = None

    def __post_init__(self) -> None:
        if (self.model is None) == (self.provider is None):
            raise InvalidLifecycleEntry("name exactly one of 'model' (an exact id) or 'provider' (every id it serves)")
        if self.deprecated_on is None and self.retires_on is None:
            raise InvalidLifecycleEntry("give 'deprecated_on', 'retires_on' or both (UTC dates, YYYY-MM-DD)")
        for name in ("deprecated_on", "retires_on"):
            value = getattr(self, name)
            if isinstance(value, datetime) or not (value is None or isinstance(value, date)):
                raise InvalidLifecycleEntry(f"'{name}' must be a calendar date (YYYY-MM-DD), not {value!r}")
        if self.deprecated_on and self.retires_on and self.retires_on < self.deprecated_on:
            raise InvalidLifecycleEntry(
                f"'retires_on' ({self.retires_on}) is before 'deprecated_on' ({self.deprecated_on}); "
                "a model is deprecated first: swap the dates or move 'retires_on' later"
            )
        if self.successor is not None and self.successor == self.model:
            raise InvalidLifecycleEntry(f"'{self.model}' cannot succeed itself: name the id that replaces it")

    @property
    def subject(self) -> str:
        """What the entry is about, for people: ``model 'x'`` or ``provider 'y'``."""
        return f"model '{self.model}'" if self.model is not None else f"provider '{self.provider}'"

    def covers(self, runtime: str) -> bool:
        return not self.runtimes or runtime in self.runtimes

    def stage(self, on: date) -> Stage:
        """The stage on ``on``: each date counts from its own day on."""
        if self.retires_on is not None and on >= self.retires_on:
            return Stage.RETIRED
        if self.deprecated_on is not None and on >= self.deprecated_on:
            return Stage.DEPRECATED
        return Stage.ACTIVE

    def refusal(self, runtime: str, shown_model: str, on: date) -> str:
        """Why a create (or, once retired, a call) of ``shown_model`` on ``runtime`` is refused on ``on``."""
        stage = self.stage(on)
        if stage is Stage.RETIRED:
            since, what = self.retires_on, "creates and calls are refused"
        else:
            until = f" until {self.retires_on}" if self.retires_on else ""
            since, what = self.deprecated_on, f"new workspaces are refused; existing ones keep working{until}"
        move = f"use its successor '{self.successor}'" if self.successor else "pick another id from the menu"
        scope = "" if self.model is not None else f" (served by {self.subject})"
        dated = f"'{shown_model}'{scope} is {stage.value} on '{runtime}' since {since} (decided for {on})"
        return f"{dated}: {what}; {move}"

    def dates(self) -> tuple[date, ...]:
        """The entry's dates, earliest first."""
        return tuple(d for d in (self.deprecated_on, self.retires_on) if d is not None)

    def to_data(self) -> dict[str, object]:
        """The entry as canonical JSON-able data: dates as ISO strings, unset fields left out."""
        data: dict[str, object] = {}
        for name in ("model", "provider", "deprecated_on", "retires_on", "successor"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value.isoformat() if isinstance(value, date) else value
        if self.runtimes:
            data["runtimes"] = list(self.runtimes)
        return data

    @classmethod
    def from_data(cls, data: dict[str, object]) -> LifecycleEntry:
        """The inverse of :meth:`to_data`."""

        def day(name: str) -> date | None:
            value = data.get(name)
            return None if value is None else date.fromisoformat(str(value))

        runtimes = data.get("runtimes") or ()
        return cls(
            model=_text(data.get("model")),
            provider=_text(data.get("provider")),
            runtimes=tuple(str(r) for r in runtimes) if isinstance(runtimes, list | tuple) else (),
            deprecated_on=day("deprecated_on"),
            retires_on=day("retires_on"),
            successor=_text(data.get("successor")),
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class Lifecycle:
    """A manifest's lifecycle entries, indexed for decisions: which entry governs an id on a runtime.

    An entry naming the model exactly governs before one naming its provider;
    among equals, the first declared wins (the load rules keep them apart).
    """

    __slots__ = ("_by_model", "_by_provider", "entries")

    def __init__(self, entries: Iterable[LifecycleEntry] = ()) -> None:
        self.entries = tuple(entries)
        self._by_model: dict[str, list[LifecycleEntry]] = {}
        self._by_provider: dict[str, list[LifecycleEntry]] = {}
        for entry in self.entries:
            if entry.model is not None:
                self._by_model.setdefault(entry.model, []).append(entry)
            elif entry.provider is not None:
                self._by_provider.setdefault(entry.provider, []).append(entry)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def governing(self, runtime: str, model: str, provider: str | None) -> LifecycleEntry | None:
        """The entry that dates ``model`` as ``provider`` serves it on ``runtime``, or None."""
        for entry in self._by_model.get(model, ()):
            if entry.covers(runtime):
                return entry
        if provider is not None:
            for entry in self._by_provider.get(provider, ()):
                if entry.covers(runtime):
                    return entry
        return None
