"""Workspaces a page at a time: the page cursor, a row as the API shows it, and the console's listing.

A row is shown as its table defines it: every column but the internal sequence
key, so the API's view of a workspace and the table cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    and_,
    column,
    false,
    func,
    inspect,
    or_,
    select,
    table,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from routegate.calendar import DatedRows

from .db import NAME_TRIGRAMS, Workspace, iso_utc

__all__ = [
    "COUNT_CAP",
    "CURSOR",
    "Listing",
    "Matching",
    "cursor_of",
    "dated_filter",
    "dated_workspaces",
    "seq_of",
    "workspace_dict",
    "workspace_view",
]

COUNT_CAP = 10_000
"""How far a listing counts the rows that match: past it, "more than 10,000" is all a page says."""


def _same(value: Any) -> Any:
    return value


def _shown_as(column: Column[Any]) -> Callable[[Any], Any]:
    """How the API shows a column's value: moments as ISO text, JSON lists as fresh lists."""
    if isinstance(column.type, DateTime):
        return iso_utc
    if isinstance(column.type, JSON):
        return list
    return _same


# What the API shows of a workspace: every column of its table but the internal sequence key.
_SHOWN = tuple((column.key, _shown_as(column)) for column in inspect(Workspace).columns if not column.primary_key)


def workspace_view(value_of: Callable[[str], Any]) -> dict[str, Any]:
    """A workspace as the API shows it, each column's value read with ``value_of`` (a row dict's ``__getitem__``)."""
    return {key: show(value_of(key)) for key, show in _SHOWN}


def workspace_dict(ws: Workspace) -> dict[str, Any]:
    """A stored workspace as the API shows it."""
    return workspace_view(partial(getattr, ws))


CURSOR = re.compile(r"[0-9]{1,18}")
"""A page cursor as the API and the console spell it: the ``seq`` of a row the page showed, in decimal."""

_TRIGRAMS = table(NAME_TRIGRAMS, column("rowid", Integer), column("name", String))  # the SQLite FTS5 table


def dated_filter(rows: DatedRows) -> ColumnElement[bool]:
    """The rows ``rows`` reaches, one equality term per pair, so that both databases read each pair
    from the (runtime, model) or (runtime, provider) index (SQLite's multi-index OR, PostgreSQL's
    bitmap OR) rather than walk the table in key order."""
    reached = [and_(Workspace.runtime == runtime, Workspace.model == model) for runtime, model in sorted(rows.models)]
    for runtime, provider in sorted(rows.providers):
        exempt = sorted(model for on, model in rows.exempt if on == runtime)
        term = and_(Workspace.runtime == runtime, Workspace.provider == provider, Workspace.model.is_not(None))
        reached.append(and_(term, Workspace.model.not_in(exempt)) if exempt else term)
    return or_(*reached) if reached else false()


def dated_workspaces(session: Session, rows: DatedRows, *, listed: int) -> tuple[int, list[str]]:
    """How many stored workspaces ``rows`` reaches (counted up to :data:`COUNT_CAP` + 1) and the ids
    of the ``listed`` newest, read from the lifecycle indexes."""
    if not rows:
        return 0, []
    reached = dated_filter(rows)
    counted = select(Workspace.seq).where(reached).limit(COUNT_CAP + 1).subquery()
    count = session.scalar(select(func.count()).select_from(counted)) or 0
    newest = select(Workspace.id).where(reached).order_by(Workspace.seq.desc()).limit(listed)
    return count, list(session.scalars(newest))


def cursor_of(seq: int) -> str:
    return str(seq)


def seq_of(cursor: str) -> int:
    """The row a cursor names; a ValueError when it is not a cursor."""
    if CURSOR.fullmatch(cursor) is None:
        raise ValueError(f"{cursor[:20]!r} is not a page cursor")
    return int(cursor)


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of the console's list, newest first, and the cursors of the pages either side."""

    items: list[dict[str, Any]]
    newer: str | None  # ``newer_than`` of the page before this one; None when nothing is newer
    older: str | None  # ``older_than`` of the page after this one; None when nothing is older
    matching: int  # the rows that match, counted up to COUNT_CAP + 1

    @property
    def capped(self) -> bool:
        return self.matching > COUNT_CAP


@dataclass(frozen=True, slots=True)
class Matching:
    """The rows a listing reads and the key that orders them.

    The key is the workspace's ``seq`` or, when SQLite searches names, the FTS5 table's
    rowid (the same number), so that the index hands rows over in the page's order and
    a page stops reading after ``limit`` rows. Every query bounds the key on one side or
    both: even the first page is a range over an index, never a scan of the table.
    ``keys`` are the matching keys alone, for counting when no filter needs the rows:
    a search counted on the FTS5 table reads nothing of the workspace table.
    """

    rows: Select[Workspace]
    key: ColumnElement[int] | InstrumentedAttribute[int]
    keys: Select[int]

    @classmethod
    def of(cls, dialect: str, name_contains: str | None) -> Matching:
        rows = select(Workspace)
        if name_contains is None:
            return cls(rows, Workspace.seq, select(Workspace.seq))
        if dialect == "sqlite":
            phrase = '"' + name_contains.replace('"', '""') + '"'  # one literal string, no FTS5 query syntax
            match = _TRIGRAMS.c.name.match(phrase)
            found = rows.join(_TRIGRAMS, _TRIGRAMS.c.rowid == Workspace.seq).where(match)
            return cls(found, _TRIGRAMS.c.rowid, select(_TRIGRAMS.c.rowid).where(match))
        contains = Workspace.name.icontains(name_contains, autoescape=True)
        return cls(rows.where(contains), Workspace.seq, select(Workspace.seq).where(contains))

    def page(
        self,
        session: Session,
        filters: Sequence[ColumnElement[bool]],
        limit: int,
        older_than: str | None,
        newer_than: str | None,
    ) -> Listing:
        rows, key = self.rows.where(*filters), self.key
        if newer_than is not None:
            found = list(session.scalars(rows.where(key > seq_of(newer_than)).order_by(key).limit(limit + 1)))
            shown = found[:limit][::-1]
            newer = cursor_of(shown[0].seq) if len(found) > limit else None
            older = cursor_of(shown[-1].seq) if shown and self._any(session, rows.where(key < shown[-1].seq)) else None
        else:
            bound = key > 0 if older_than is None else key < seq_of(older_than)
            found = list(session.scalars(rows.where(bound).order_by(key.desc()).limit(limit + 1)))
            shown = found[:limit]
            older = cursor_of(shown[-1].seq) if len(found) > limit else None
            newer = None
            if older_than is not None and shown and self._any(session, rows.where(key > shown[0].seq)):
                newer = cursor_of(shown[0].seq)
        keys = rows.with_only_columns(key) if filters else self.keys
        counted = keys.where(key > 0).limit(COUNT_CAP + 1).subquery()
        matching = session.scalar(select(func.count()).select_from(counted)) or 0
        return Listing([workspace_dict(ws) for ws in shown], newer, older, matching)

    @staticmethod
    def _any(session: Session, rows: Select[Workspace]) -> bool:
        return bool(session.scalar(select(rows.exists())))
