"""Workspace rows in the database: insert, change, read, list and delete them, and choose free names.

A workspace name taken under the same parent gets " (2)", " (3)", ...: the
unique index on (parent-or-root, name) decides who got a name. A create first
inserts the name as asked (names are rarely taken, so it reads nothing first);
only when the index refuses it does it read the taken names, choose the lowest
free one and try again. Reading only chooses the candidate; the index makes
the decision, so concurrent creates stay correct on SQLite and PostgreSQL alike.
The inserts are compiled by SQLAlchemy from the ORM's own tables and run as
the driver's statements (:class:`.inserts.RowInsert`); a create's workspace and
decision go together, one statement on PostgreSQL (:class:`.inserts.JointInsert`).

A create or model change writes its workspace row, its decision (:mod:`.decision_log`)
and its idempotency key (:mod:`.idempotency`) in one transaction, and only under
the manifest version it was decided under (:class:`DecisionOutdated`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, cast, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routegate.calendar import DatedRows
from routegate.decision import Decision
from routegate.gate import Admission
from routegate.publishing import LISTED_PER_KIND, StoredWorkspace, WorkspaceGroup, WorkspaceKind

from .call_tokens import revoke_workspace_tokens
from .conflicts import foreign_key_violation, unique_violation
from .db import (
    Action,
    Database,
    DecisionRecord,
    Workspace,
    active_version_for_write,
    new_id,
    parent_key,
    utcnow,
)
from .decision_log import INSERT_DECISION, DecisionLog, Entry
from .http_errors import ServiceCode, ServiceError
from .idempotency import KeyedRequest, claim
from .inserts import JointInsert, RowInsert
from .listing import (
    COUNT_CAP,
    CURSOR,
    Listing,
    Matching,
    cursor_of,
    dated_filter,
    dated_workspaces,
    workspace_dict,
    workspace_view,
)
from .name_index import index_pending

__all__ = ["DecisionOutdated", "Store", "StoredGroups", "stored_workspaces"]

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAX_ATTEMPTS = 64  # lost races on one name before giving up with 409
_INSERT_WORKSPACE_AND_DECISION = JointInsert(RowInsert(Workspace.__table__), INSERT_DECISION)  # type: ignore[arg-type]


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


def _parent_not_found(parent_id: str) -> ServiceError:
    return ServiceError(
        ServiceCode.PARENT_NOT_FOUND, f"parent workspace {parent_id!r} does not exist", parent_id=parent_id
    )


# What the gate decides a stored workspace on, as columns. PostgreSQL's json has no equality, so
# auth_env is grouped by its text (written sorted, so one text per set), and a group's members found by it.
_KIND = tuple(field.name for field in fields(WorkspaceKind))
_AUTH_TEXT = cast(Workspace.auth_env, String).label("auth_text")
_ALIKE = tuple(_AUTH_TEXT if name == "auth_env" else getattr(Workspace, name) for name in _KIND)
_STORED = (Workspace.id, Workspace.name, *(getattr(Workspace, name) for name in _KIND))


def stored_workspaces(
    session: Session, *, changed_after: int | None = None, batch: int = 1000
) -> Iterator[StoredWorkspace]:
    """Every workspace with the decision it was stored with, streamed, for the publish gate's replay.

    ``changed_after``: only those created or changed by an admitted decision after that one
    (see :func:`.decision_log.decisions_high_water`), for the re-check of what a replay's snapshot could not see.
    """
    query = select(*_STORED).order_by(Workspace.seq)
    if changed_after is not None:
        changed = select(DecisionRecord.workspace_id).where(
            DecisionRecord.seq > changed_after, DecisionRecord.admitted.is_(True)
        )
        query = query.where(Workspace.id.in_(changed))
    for row in session.execute(query.execution_options(yield_per=batch)):
        yield _stored(row)


def _stored(row: Any) -> StoredWorkspace:
    kind = {name: getattr(row, name) for name in _KIND}
    return StoredWorkspace(id=row.id, name=row.name, **{**kind, "auth_env": frozenset(row.auth_env or ())})


class StoredGroups:
    """The stored workspaces as groups of alike ones, for a replay to decide each group once.

    Read with ``GROUP BY`` over windows of about a hundredth of the fleet in stored order, each in
    a read transaction of its own, telling ``progress`` (read, total) after each: the read is most of
    a replay's time, and no transaction held across it keeps SQLite's WAL from being checkpointed.
    The windows see the fleet as it is when each is read; the publish gate's switch re-checks every
    workspace decided after its snapshot's mark, so what changed meanwhile is judged as it is.
    """

    def __init__(
        self, reading: Callable[[], AbstractContextManager[Session]], progress: Callable[[int, int], None]
    ) -> None:
        self._reading = reading
        counts: dict[tuple[Any, ...], int] = {}
        with reading() as session:
            total = session.scalar(select(func.count(Workspace.seq))) or 0
        step = max(1, -(-total // 100))
        progress(0, total)
        read, after = 0, None
        while True:
            window = select(Workspace.seq, *_ALIKE).order_by(Workspace.seq).limit(step)
            if after is not None:
                window = window.where(Workspace.seq > after)
            rows = window.subquery()
            alike = [rows.c[column.key] for column in _ALIKE]
            with reading() as session:
                found = session.execute(select(*alike, func.count(), func.max(rows.c.seq)).group_by(*alike)).all()
            if not found:
                break  # past the newest workspace
            for *key, count, last in found:
                counts[tuple(key)] = counts.get(tuple(key), 0) + count
                read += count
                after = last if after is None else max(after, last)
            if read < total:
                progress(read, total)
        if total:
            progress(total, total)  # every workspace there is was read, however many came or went meanwhile
        self._keys = {_group(key, count): key for key, count in counts.items()}

    @property
    def groups(self) -> list[WorkspaceGroup]:
        return list(self._keys)

    def members(self, group: WorkspaceGroup) -> list[tuple[int, StoredWorkspace]]:
        """The group's first :data:`~routegate.publishing.LISTED_PER_KIND` workspaces, in stored order."""
        key = self._keys[group]
        alike = [
            column.is_(None) if value is None else column == value for column, value in zip(_ALIKE, key, strict=True)
        ]
        query = select(Workspace.seq, *_STORED).where(*alike).order_by(Workspace.seq).limit(LISTED_PER_KIND)
        with self._reading() as session:
            return [(row.seq, _stored(row)) for row in session.execute(query)]


def _group(key: tuple[Any, ...], count: int) -> WorkspaceGroup:
    kind = dict(zip(_KIND, key, strict=True))
    auth_text = kind.pop("auth_env")
    auth_env = frozenset(json.loads(auth_text) or ()) if auth_text else frozenset()
    return WorkspaceGroup(**kind, auth_env=auth_env, count=count)


class Store:
    """Every read and write of workspace rows; one transaction per call."""

    SEARCH_MIN = 3
    """The shortest name search: a trigram index holds nothing shorter than a trigram."""
    COUNT_CAP = COUNT_CAP
    """How far a listing counts the rows that match (see :data:`.listing.COUNT_CAP`)."""

    def __init__(self, database: Database, *, name_suffix_limit: int) -> None:
        self.database = database
        self.name_suffix_limit = name_suffix_limit

    # --- writes ----------------------------------------------------------------------------

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
    ) -> dict[str, Any]:
        """Insert an admitted workspace, its decision and its idempotency key in one transaction; its answer.

        Raises DecisionOutdated, writing nothing, unless ``manifest_version`` is the active version;
        :class:`.idempotency.KeyTaken` when another request claimed ``keyed``; PARENT_NOT_FOUND
        or NAME_CONFLICT when the store refuses.
        """
        now = utcnow()
        row = _created(admission, fingerprint, manifest_version, now)
        row.update(
            name=name, parent_id=parent_id, role=role, url=url, external=external, auth_env=sorted(set(auth_env))
        )
        logged = Entry.admitted(
            Action.CREATE,
            admission.decision,
            workspace_id=row["id"],
            runtime=admission.runtime,
            model=admission.model,
            template=admission.template,
        ).row(fingerprint, manifest_version, now)
        for attempt in range(_MAX_ATTEMPTS):
            try:
                with self.database.versioned_write() as (connection, active):
                    if active != manifest_version:
                        raise DecisionOutdated(manifest_version, active)
                    # After the first attempt the name (or the last choice) was taken: choose from what is taken now.
                    return self._insert(connection, row, logged, keyed, choose_from=name if attempt else None)
            except IntegrityError as error:
                if foreign_key_violation(error):  # the parent was deleted meanwhile
                    raise _parent_not_found(row["parent_id"]) from None
                if not unique_violation(error):
                    raise
                # Another create has the name: choose again.
        raise ServiceError(ServiceCode.NAME_CONFLICT, f"too many concurrent creates named {name!r}; retry", name=name)

    def _insert(
        self,
        connection: Connection,
        row: dict[str, Any],
        logged: dict[str, Any],
        keyed: KeyedRequest | None,
        choose_from: str | None,
    ) -> dict[str, Any]:
        """One attempt at a create's transaction, its version checked: the parent checked, a free name
        chosen from ``choose_from`` when given, then the key, the row and the decision written."""
        parent_id = row["parent_id"]
        if parent_id is not None and not connection.scalar(select(exists().where(Workspace.id == parent_id))):
            raise _parent_not_found(parent_id)
        if choose_from is not None:
            row["name"] = self._free_name(connection, parent_id, choose_from)
        answer = workspace_view(row.__getitem__)
        claim(connection, keyed, answer, row["created_at"])
        _INSERT_WORKSPACE_AND_DECISION.run(connection, row, logged)
        return answer

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
    ) -> dict[str, Any]:
        """Change the model, log the decision and store the idempotency key in one transaction; the answer.

        Raises DecisionOutdated, writing nothing, unless ``manifest_version`` is the active version;
        :class:`.idempotency.KeyTaken` when another request claimed ``keyed``.
        """
        with self.database.write() as session:
            connection = session.connection()
            _still_active(connection, manifest_version)
            workspace = self._row(session, workspace_id)
            now = utcnow()
            _changed(workspace, model, auth_env, decision, fingerprint, manifest_version, now)
            answer = workspace_dict(workspace)
            claim(connection, keyed, answer, now)
            logged = Entry.admitted(
                Action.MODEL_CHANGE, decision, workspace_id=workspace.id, runtime=workspace.runtime, model=model
            )
            DecisionLog.write(connection, logged.row(fingerprint, manifest_version, now))
            session.flush()
            return answer

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
                revoke_workspace_tokens(session, workspace.id)  # its call tokens die with it
                session.delete(workspace)
        except IntegrityError as error:
            if not foreign_key_violation(error):
                raise
            raise ServiceError(
                ServiceCode.WORKSPACE_HAS_CHILDREN,
                "a child workspace was created meanwhile; delete it first",
                workspace_id=workspace_id,
            ) from None

    # --- reads -----------------------------------------------------------------------------

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
        model: str | None = None,
        provider: str | None = None,
        billing_mode: str | None = None,
        dated: DatedRows | None = None,
    ) -> Listing:
        """One page of the workspaces matching every filter given, newest first, by keyset.

        The page holds the ``limit`` newest rows older than ``older_than`` or, given
        ``newer_than`` instead, the ``limit`` oldest rows newer than it (``newer_than="0"``
        is the last page); neither: the first page. ``name_contains`` (at least
        :attr:`SEARCH_MIN` characters) matches case-insensitively and literally, from the
        trigram index. ``dated``: only the rows some lifecycle stages reach (see
        :func:`.listing.dated_filter`). How many match is counted up to :attr:`COUNT_CAP` and no further.
        """
        if name_contains is not None and len(name_contains) < self.SEARCH_MIN:
            raise ValueError(f"name searches need {self.SEARCH_MIN} characters or more: no trigram index holds fewer")
        if name_contains is not None:
            index_pending(self.database)  # SQLite's queued names: a search finds every one committed before it
        with self.database.read() as session:
            matching = Matching.of(session.get_bind().dialect.name, name_contains)
            filters = [
                attribute == value
                for attribute, value in (
                    (Workspace.runtime, runtime),
                    (Workspace.model, model),
                    (Workspace.provider, provider),
                    (Workspace.billing_mode, billing_mode),
                )
                if value is not None
            ]
            if dated is not None:
                filters.append(dated_filter(dated))
            return matching.page(session, filters, limit, older_than, newer_than)

    def dated(self, rows: DatedRows, *, listed: int) -> tuple[int, list[str]]:
        """How many stored workspaces ``rows`` reaches, and the newest (see :func:`.listing.dated_workspaces`)."""
        with self.database.read() as session:
            return dated_workspaces(session, rows, listed=listed)


def _created(admission: Admission, fingerprint: str, manifest_version: int, now: datetime) -> dict[str, Any]:
    """What the gates decided of a new workspace's row; the create adds what the request asked for."""
    return {
        "id": new_id(),
        "runtime": admission.runtime,
        "model": admission.model,
        "template": admission.template,
        "provider": admission.provider,
        "billing_mode": admission.billing_mode,
        "required_env": list(admission.required_env),
        "manifest_fingerprint": fingerprint,
        "manifest_version": manifest_version,
        "created_at": now,
        "updated_at": now,
    }


def _changed(
    workspace: Workspace,
    model: str | None,
    auth_env: Sequence[str],
    decision: Decision | None,
    fingerprint: str,
    manifest_version: int,
    now: datetime,
) -> None:
    """The row after an admitted model change: the model, who serves and pays, and the version decided under."""
    workspace.model = model
    workspace.auth_env = sorted(set(auth_env))
    workspace.provider = None if decision is None else decision.provider_name
    workspace.billing_mode = None if decision is None else decision.billing_value
    workspace.required_env = [] if decision is None else list(decision.required_env)
    workspace.manifest_fingerprint = fingerprint
    workspace.manifest_version = manifest_version
    workspace.updated_at = now
