"""Workspaces, decisions and idempotency keys in the database.

A workspace name taken under the same parent gets " (2)", " (3)", ...: the
unique index on (parent-or-root, name) decides who got a name. A create first
inserts the name as asked (names are rarely taken, so it reads nothing first);
only when the index refuses it does it read the taken names, choose the lowest
free one and try again. Reading only chooses the candidate; the index makes
the decision, so concurrent creates stay correct on SQLite and PostgreSQL alike.
The inserts are compiled by SQLAlchemy from the ORM's own tables and run as
the driver's statements (:class:`.db.RowInsert`); their columns and the API's
view of a workspace are derived from the tables. Idempotency keys work the way
names do: the key's row is inserted in the write's own transaction, and its
primary key decides which of several concurrent requests with one key writes
(see :mod:`.idempotency`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    Select,
    String,
    column,
    delete,
    exists,
    func,
    inspect,
    select,
    table,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from routegate.decision import Decision
from routegate.gate import Admission, GateRefusal
from routegate.publishing import StoredWorkspace

from .call_tokens import revoke_workspace_tokens
from .db import (
    NAME_TRIGRAMS,
    Action,
    Database,
    DecisionRecord,
    IdempotencyKey,
    RowInsert,
    Workspace,
    active_version_for_write,
    iso_utc,
    new_id,
    parent_key,
    utcnow,
)
from .http_errors import ServiceCode, ServiceError
from .idempotency import KEY_HEADER, KEY_LIFETIME, Answer, KeyedRequest

__all__ = [
    "CURSOR",
    "DecisionOutdated",
    "Listing",
    "Refusal",
    "Store",
    "cursor_of",
    "decision_dict",
    "decisions_high_water",
    "seq_of",
    "stored_workspaces",
    "workspace_dict",
]

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAX_ATTEMPTS = 64  # lost races on one name before giving up with 409


class _KeyTaken(Exception):
    """Another request inserted this idempotency key first; its answer is in the database."""


class DecisionOutdated(Exception):
    """The manifest version a create or model change was decided under is no longer active.

    Raised inside the write's transaction, which rolls back: the caller decides again
    under ``active`` (the version the row would have committed under) and writes again.
    """

    def __init__(self, decided: int, active: int | None) -> None:
        self.decided = decided
        self.active = active
        super().__init__(f"decided under manifest version {decided}, but version {active} is active")


def _still_active(connection: Connection, decided: int) -> None:
    """Raise DecisionOutdated unless ``decided`` is the active version, and stays so until the transaction ends."""
    active = active_version_for_write(connection)
    if active != decided:
        raise DecisionOutdated(decided, active)


@dataclass(frozen=True, slots=True)
class Refusal:
    """What the decision log keeps of a refused create or model change: what was known when it was refused."""

    action: Action
    code: str
    reason: str
    runtime: str | None
    model: str | None
    template: str | None = None
    candidates: tuple[str, ...] = ()
    workspace_id: str | None = None

    @classmethod
    def of(
        cls,
        action: Action,
        refusal: GateRefusal | ServiceError,
        *,
        runtime: str | None,
        model: str | None,
        template: str | None = None,
        workspace_id: str | None = None,
    ) -> Refusal:
        """A gate's or the store's refusal; the decision behind a gate-7/8 refusal knows the model best."""
        decision = refusal.decision if isinstance(refusal, GateRefusal) else None
        context = refusal.context
        candidates = decision.candidates if decision is not None else tuple(context.get("candidates", ()))
        return cls(
            action=action,
            code=str(refusal.code),
            reason=refusal.message,
            runtime=context.get("runtime", runtime),
            model=decision.model if decision is not None else context.get("model", model),
            template=context.get("template", template),
            candidates=tuple(candidates),
            workspace_id=workspace_id,
        )


_INSERT_WORKSPACE = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
_INSERT_DECISION = RowInsert(DecisionRecord.__table__)  # type: ignore[arg-type]
_INSERT_KEY = RowInsert(IdempotencyKey.__table__)  # type: ignore[arg-type]


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


def _shown(value_of: Callable[[str], Any]) -> dict[str, Any]:
    return {key: show(value_of(key)) for key, show in _SHOWN}


def workspace_dict(ws: Workspace) -> dict[str, Any]:
    """A stored workspace as the API shows it."""
    return _shown(partial(getattr, ws))


def decision_dict(record: DecisionRecord) -> dict[str, Any]:
    return {
        "id": record.seq,
        "action": record.action,
        "admitted": record.admitted,
        "code": record.code,
        "reason": record.reason,
        "workspace_id": record.workspace_id,
        "runtime": record.runtime,
        "model": record.model,
        "provider": record.provider,
        "billing_mode": record.billing_mode,
        "path": record.path,
        "template": record.template,
        "candidates": list(record.candidates),
        "manifest_fingerprint": record.manifest_fingerprint,
        "manifest_version": record.manifest_version,
        "created_at": iso_utc(record.created_at),
    }


def _admitted(
    action: Action,
    decision: Decision | None,
    *,
    workspace_id: str,
    runtime: str,
    model: str | None,
    fingerprint: str,
    manifest_version: int,
    created_at: datetime,
    template: str | None = None,
) -> dict[str, Any]:
    """The decision log's row for an admitted create or model change."""
    if decision is None:  # an external workspace without a model: nothing to route or bill
        reason, provider, billing, path = "external workspace without a model: nothing to route", None, None, None
    else:
        reason = decision.reason
        provider = None if decision.provider is None else decision.provider.name
        billing = None if decision.billing_mode is None else decision.billing_mode.value
        path = None if decision.path is None else decision.path.value
    return {
        "action": action,
        "admitted": True,
        "code": None,
        "reason": reason,
        "workspace_id": workspace_id,
        "runtime": runtime,
        "model": model,
        "provider": provider,
        "billing_mode": billing,
        "path": path,
        "template": template,
        "candidates": [] if decision is None else list(decision.candidates),
        "manifest_fingerprint": fingerprint,
        "manifest_version": manifest_version,
        "created_at": created_at,
    }


def stored_workspaces(
    session: Session, *, changed_after: int | None = None, batch: int = 1000
) -> Iterator[StoredWorkspace]:
    """Every workspace with the decision it was stored with, streamed, for the publish gate's replay.

    ``changed_after``: only those created or changed by an admitted decision after that one
    (see :func:`decisions_high_water`), for the re-check of what a replay's snapshot could not see.
    """
    columns = (
        Workspace.id,
        Workspace.name,
        Workspace.runtime,
        Workspace.model,
        Workspace.external,
        Workspace.auth_env,
        Workspace.provider,
        Workspace.billing_mode,
    )
    query = select(*columns).order_by(Workspace.seq)
    if changed_after is not None:
        changed = select(DecisionRecord.workspace_id).where(
            DecisionRecord.seq > changed_after, DecisionRecord.admitted.is_(True)
        )
        query = query.where(Workspace.id.in_(changed))
    for row in session.execute(query.execution_options(yield_per=batch)):
        yield StoredWorkspace(
            id=row.id,
            name=row.name,
            runtime=row.runtime,
            model=row.model,
            external=row.external,
            auth_env=frozenset(row.auth_env or ()),
            provider=row.provider,
            billing_mode=row.billing_mode,
        )


def decisions_high_water(session: Session) -> int:
    """The newest decision's number (0 before any).

    Every create and model change logs its admitted decision in its own transaction, and
    decision numbers only grow (none is ever deleted), so the workspaces a later re-check
    must see are exactly those named by admitted decisions past this mark.
    """
    return session.scalar(select(func.coalesce(func.max(DecisionRecord.seq), 0))) or 0


def _violates(error: IntegrityError, sqlstate: str, sqlite_text: str) -> bool:
    state = getattr(error.orig, "sqlstate", None)
    return state == sqlstate if state is not None else sqlite_text in str(error.orig)


def _unique_violation(error: IntegrityError) -> bool:
    return _violates(error, "23505", "UNIQUE constraint failed")


def _foreign_key_violation(error: IntegrityError) -> bool:
    return _violates(error, "23503", "FOREIGN KEY constraint failed")


def _claim(transaction: Connection, keyed: KeyedRequest | None, answer: dict[str, Any], now: datetime) -> None:
    """Insert the request's idempotency key with its answer; raises _KeyTaken when another request has it.

    Inserted before the write it answers for, so a concurrent request with the same key
    waits on (PostgreSQL) or queues behind (SQLite) the first instead of writing too.
    """
    if keyed is None:
        return
    try:
        _INSERT_KEY.run(
            transaction, {"key": keyed.key, "request_hash": keyed.request_hash, "response": answer, "created_at": now}
        )
    except IntegrityError as error:
        if _unique_violation(error):
            raise _KeyTaken from None
        raise


CURSOR = re.compile(r"[0-9]{1,18}")
"""A page cursor as the API and the console spell it: the ``seq`` of a row the page showed, in decimal."""

_TRIGRAMS = table(NAME_TRIGRAMS, column("rowid", Integer), column("name", String))  # the SQLite FTS5 table


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
    matching: int  # the rows that match, counted up to Store.COUNT_CAP + 1

    @property
    def capped(self) -> bool:
        return self.matching > Store.COUNT_CAP


@dataclass(frozen=True, slots=True)
class _Matching:
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
    def of(cls, dialect: str, name_contains: str | None) -> _Matching:
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
        counted = keys.where(key > 0).limit(Store.COUNT_CAP + 1).subquery()
        matching = session.scalar(select(func.count()).select_from(counted)) or 0
        return Listing([workspace_dict(ws) for ws in shown], newer, older, matching)

    @staticmethod
    def _any(session: Session, rows: Select[Workspace]) -> bool:
        return bool(session.scalar(select(rows.exists())))


class Store:
    """Every read and write of workspaces and decisions; one transaction per call."""

    SEARCH_MIN = 3
    """The shortest name search: a trigram index holds nothing shorter than a trigram."""
    COUNT_CAP = 10_000
    """How far a listing counts the rows that match: past it, "more than 10,000" is all a page says."""

    def __init__(self, database: Database, *, name_suffix_limit: int) -> None:
        self.database = database
        self.name_suffix_limit = name_suffix_limit

    # --- workspaces ----------------------------------------------------------------------

    def create(
        self,
        *,
        name: str,
        parent_id: str | None,
        role: str | None,
        url: str | None,
        external: bool,
        auth_env: Sequence[str],
        admission: Admission,
        fingerprint: str,
        manifest_version: int,
        keyed: KeyedRequest | None = None,
    ) -> Answer:
        """Persist an admitted workspace, its decision and its idempotency key in one transaction.

        A refusal here (unknown parent, no free name) is logged like a gate's, then raised.
        A key another request inserted first answers with that request's workspace.
        Raises DecisionOutdated, writing nothing, unless ``manifest_version`` is the active version.
        """

        def insert() -> dict[str, Any]:
            try:
                return self._insert(
                    name, parent_id, role, url, external, auth_env, admission, fingerprint, manifest_version, keyed
                )
            except ServiceError as error:
                refused = Refusal.of(
                    Action.CREATE, error, runtime=admission.runtime, model=admission.model, template=admission.template
                )
                self.record_refusal(refused, fingerprint, manifest_version)
                raise

        return self._write_once(keyed, insert)

    def _insert(
        self,
        name: str,
        parent_id: str | None,
        role: str | None,
        url: str | None,
        external: bool,
        auth_env: Sequence[str],
        admission: Admission,
        fingerprint: str,
        manifest_version: int,
        keyed: KeyedRequest | None,
    ) -> dict[str, Any]:
        now = utcnow()
        row: dict[str, Any] = {
            "id": new_id(),
            "name": name,
            "parent_id": parent_id,
            "role": role,
            "runtime": admission.runtime,
            "model": admission.model,
            "template": admission.template,
            "external": external,
            "url": url,
            "provider": admission.provider,
            "billing_mode": admission.billing_mode,
            "required_env": list(admission.required_env),
            "auth_env": sorted(set(auth_env)),
            "manifest_fingerprint": fingerprint,
            "manifest_version": manifest_version,
            "created_at": now,
            "updated_at": now,
        }
        record = _admitted(
            Action.CREATE,
            admission.decision,
            workspace_id=row["id"],
            runtime=admission.runtime,
            model=admission.model,
            fingerprint=fingerprint,
            manifest_version=manifest_version,
            created_at=now,
            template=admission.template,
        )
        for attempt in range(_MAX_ATTEMPTS):
            try:
                with self.database.write_connection() as connection:
                    _still_active(connection, manifest_version)
                    if parent_id is not None and not connection.scalar(
                        select(exists().where(Workspace.id == parent_id))
                    ):
                        raise ServiceError(
                            ServiceCode.PARENT_NOT_FOUND,
                            f"parent workspace {parent_id!r} does not exist",
                            parent_id=parent_id,
                        )
                    if attempt:  # the name (or the last choice) was taken: choose from what is taken now
                        row["name"] = self._free_name(connection, parent_id, name)
                    answer = _shown(row.__getitem__)
                    _claim(connection, keyed, answer, now)
                    _INSERT_WORKSPACE.run(connection, row)
                    _INSERT_DECISION.run(connection, record)
                    return answer
            except IntegrityError as error:
                if _foreign_key_violation(error):  # the parent was deleted meanwhile
                    raise ServiceError(
                        ServiceCode.PARENT_NOT_FOUND,
                        f"parent workspace {parent_id!r} does not exist",
                        parent_id=parent_id,
                    ) from None
                if not _unique_violation(error):
                    raise
                # Another create has the name: choose again.
        raise ServiceError(
            ServiceCode.NAME_CONFLICT,
            f"too many concurrent creates named {name!r}; retry",
            name=name,
        )

    def _free_name(self, connection: Connection, parent_id: str | None, name: str) -> str:
        taken = set(
            connection.scalars(
                select(Workspace.name).where(
                    parent_key() == (parent_id or ""),
                    # The name and its "name (n)" forms, as one range (not LIKE) so both databases
                    # answer from the (parent, name) index; the few other names inside it are ignored below.
                    Workspace.name >= name,
                    Workspace.name < f"{name} )",
                )
            )
        )
        if name not in taken:
            return name
        for number in range(2, self.name_suffix_limit + 1):
            candidate = f"{name} ({number})"
            if candidate not in taken:
                return candidate
        raise ServiceError(
            ServiceCode.NAME_CONFLICT,
            f"the name {name!r} is taken {self.name_suffix_limit} times under this parent; choose another name",
            name=name,
            limit=self.name_suffix_limit,
        )

    def _row(self, session: Session, workspace_id: str) -> Workspace:
        workspace = None
        if _ID.match(workspace_id):
            workspace = session.scalar(select(Workspace).where(Workspace.id == workspace_id))
        if workspace is None:
            raise ServiceError(
                ServiceCode.WORKSPACE_NOT_FOUND, f"no workspace {workspace_id!r}", workspace_id=workspace_id
            )
        return workspace

    def get(self, workspace_id: str) -> Workspace:
        with self.database.read() as session:
            return self._row(session, workspace_id)

    def page(self, limit: int, after: int | None) -> tuple[list[dict[str, Any]], str | None]:
        """Oldest first, after the cursor's row; the first page is "after 0" (seqs start at 1),
        so every page is one range over the primary key."""
        with self.database.read() as session:
            query = select(Workspace).where(Workspace.seq > (after or 0)).order_by(Workspace.seq).limit(limit + 1)
            rows = list(session.scalars(query))
        return [workspace_dict(ws) for ws in rows[:limit]], (
            cursor_of(rows[limit - 1].seq) if len(rows) > limit else None
        )

    @staticmethod
    def is_cursor(text: str) -> bool:
        return CURSOR.fullmatch(text) is not None

    def listing(
        self,
        *,
        limit: int,
        older_than: str | None = None,
        newer_than: str | None = None,
        name_contains: str | None = None,
        runtime: str | None = None,
        provider: str | None = None,
        billing_mode: str | None = None,
    ) -> Listing:
        """One page of the workspaces matching every filter given, newest first, by keyset.

        The page holds the ``limit`` newest rows older than ``older_than`` or, given
        ``newer_than`` instead, the ``limit`` oldest rows newer than it (``newer_than="0"``
        is the last page); neither: the first page. ``name_contains`` (at least
        :attr:`SEARCH_MIN` characters) matches case-insensitively and literally, from the
        trigram index. How many match is counted up to :attr:`COUNT_CAP` and no further.
        """
        if name_contains is not None and len(name_contains) < self.SEARCH_MIN:
            raise ValueError(f"name searches need {self.SEARCH_MIN} characters or more: no trigram index holds fewer")
        with self.database.read() as session:
            matching = _Matching.of(session.get_bind().dialect.name, name_contains)
            filters = [
                attribute == value
                for attribute, value in (
                    (Workspace.runtime, runtime),
                    (Workspace.provider, provider),
                    (Workspace.billing_mode, billing_mode),
                )
                if value is not None
            ]
            return matching.page(session, filters, limit, older_than, newer_than)

    def delete(self, workspace_id: str) -> None:
        try:
            with self.database.write() as session:
                workspace = self._row(session, workspace_id)
                if session.scalar(select(exists().where(Workspace.parent_id == workspace.id))):
                    raise ServiceError(
                        ServiceCode.WORKSPACE_HAS_CHILDREN,
                        "this workspace has child workspaces; delete them first",
                        workspace_id=workspace_id,
                    )
                revoke_workspace_tokens(session, workspace.id)  # issue 21: its call tokens die with it
                session.delete(workspace)
        except IntegrityError as error:
            if not _foreign_key_violation(error):
                raise
            raise ServiceError(
                ServiceCode.WORKSPACE_HAS_CHILDREN,
                "a child workspace was created meanwhile; delete it first",
                workspace_id=workspace_id,
            ) from None

    def change_model(
        self,
        workspace_id: str,
        *,
        model: str | None,
        auth_env: Sequence[str],
        decision: Decision | None,
        fingerprint: str,
        manifest_version: int,
        keyed: KeyedRequest | None = None,
    ) -> Answer:
        """Change the model, log the decision and store the idempotency key in one transaction.

        Raises DecisionOutdated, writing nothing, unless ``manifest_version`` is the active version.
        """
        return self._write_once(
            keyed,
            lambda: self._change(workspace_id, model, auth_env, decision, fingerprint, manifest_version, keyed),
        )

    def _change(
        self,
        workspace_id: str,
        model: str | None,
        auth_env: Sequence[str],
        decision: Decision | None,
        fingerprint: str,
        manifest_version: int,
        keyed: KeyedRequest | None,
    ) -> dict[str, Any]:
        with self.database.write() as session:
            _still_active(session.connection(), manifest_version)
            workspace = self._row(session, workspace_id)
            now = utcnow()
            workspace.model = model
            workspace.auth_env = sorted(set(auth_env))
            workspace.provider = None if decision is None or decision.provider is None else decision.provider.name
            workspace.billing_mode = (
                None if decision is None or decision.billing_mode is None else decision.billing_mode.value
            )
            workspace.required_env = [] if decision is None else list(decision.required_env)
            workspace.manifest_fingerprint = fingerprint
            workspace.manifest_version = manifest_version
            workspace.updated_at = now
            answer = workspace_dict(workspace)
            _claim(session.connection(), keyed, answer, now)
            record = _admitted(
                Action.MODEL_CHANGE,
                decision,
                workspace_id=workspace.id,
                runtime=workspace.runtime,
                model=model,
                fingerprint=fingerprint,
                manifest_version=manifest_version,
                created_at=now,
            )
            _INSERT_DECISION.run(session.connection(), record)
            session.flush()
            return answer

    # --- idempotency keys ----------------------------------------------------------------

    def replay(self, keyed: KeyedRequest | None) -> Answer | None:
        """The answer stored under the request's key, if a live one is; None when there is none.

        Raises IDEMPOTENCY_KEY_REUSED when the key was used for another request.
        """
        if keyed is None:
            return None
        with self.database.read() as session:
            row = session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.key == keyed.key, IdempotencyKey.created_at >= utcnow() - KEY_LIFETIME
                )
            )
        if row is None:
            return None
        if row.request_hash != keyed.request_hash:
            raise ServiceError(
                ServiceCode.IDEMPOTENCY_KEY_REUSED,
                f"this {KEY_HEADER} was already used for another request (another method, path or body) within "
                f"{KEY_LIFETIME.total_seconds() / 3600:.0f} hours; send a new key for a new request",
            )
        return Answer(row.response, replayed=True)

    def _write_once(self, keyed: KeyedRequest | None, write: Callable[[], dict[str, Any]]) -> Answer:
        """Run ``write``, which claims ``keyed`` in its own transaction; when another request
        claimed the key first, answer with what that request got."""
        for _ in range(_MAX_ATTEMPTS):
            self._forget_expired_keys(keyed)
            try:
                return Answer(write())
            except _KeyTaken:
                answer = self.replay(keyed)
                if answer is not None:
                    return answer
                # The holder's row expired between the purge and the claim: purge and claim again.
        raise ServiceError(
            ServiceCode.NAME_CONFLICT,
            f"too many concurrent requests with one {KEY_HEADER}; retry it",
        )

    def _forget_expired_keys(self, keyed: KeyedRequest | None) -> None:
        """Delete keys past their lifetime, in their own short transaction, before a keyed write."""
        if keyed is None:
            return
        with self.database.write() as session:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - KEY_LIFETIME))

    # --- decisions -----------------------------------------------------------------------

    def record_refusal(self, refused: Refusal, fingerprint: str, manifest_version: int | None) -> None:
        """Log a refusal in its own transaction: the request changed nothing else."""
        with self.database.write_connection() as connection:
            _INSERT_DECISION.run(
                connection,
                {
                    "action": refused.action,
                    "admitted": False,
                    "code": refused.code,
                    "reason": refused.reason,
                    "workspace_id": refused.workspace_id,
                    "runtime": refused.runtime,
                    "model": refused.model,
                    "provider": None,
                    "billing_mode": None,
                    "path": None,
                    "template": refused.template,
                    "candidates": list(refused.candidates),
                    "manifest_fingerprint": fingerprint,
                    "manifest_version": manifest_version,
                    "created_at": utcnow(),
                },
            )

    def decisions(
        self, workspace_id: str | None, limit: int, after: int | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        with self.database.read() as session:
            query = select(DecisionRecord).order_by(DecisionRecord.seq).limit(limit + 1)
            if workspace_id is not None:
                query = query.where(DecisionRecord.workspace_id == workspace_id)
            if after is not None:
                query = query.where(DecisionRecord.seq > after)
            rows = list(session.scalars(query))
        return [decision_dict(r) for r in rows[:limit]], (cursor_of(rows[limit - 1].seq) if len(rows) > limit else None)
