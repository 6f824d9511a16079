"""Call tokens: issued per workspace, shown once, stored as a hash, revocable; and the
in-memory view of them the call gate decides from.

The view (:class:`CallerView`) maps each live token's hash to its workspace's runtime,
model and auth env names. On every round of its watcher (a PostgreSQL ``NOTIFY`` that any
instance's token change sends, or the poll interval) it reads the tokens changed since its
last read, and this process's own changes apply to it at once. A revocation, once
answered, is never undone by a read that started before it.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, cast, event, select, text, update
from sqlalchemy.orm import Session

from routegate.calls import Scope

from .call_tables import CallToken
from .conflicts import lock_in_key_order
from .db import NOTIFY_CHANNEL, Database, Workspace, iso_utc, new_id, utcnow
from .http_errors import ServiceCode, ServiceError

__all__ = [
    "TOKEN_PREFIX",
    "Caller",
    "CallerView",
    "IssuedToken",
    "TokenStore",
    "hash_token",
    "revoke_workspace_tokens",
    "token_dict",
]

TOKEN_PREFIX = "rgc_"
_TOKEN_BYTES = 32
_NOTIFY = text("SELECT pg_notify(:channel, 'call-tokens')")
_VIEWS: weakref.WeakSet[CallerView] = weakref.WeakSet()
"""Every view in this process, so a workspace deletion committed here drops its tokens from them at once."""


def hash_token(token: str) -> str:
    """What is stored and looked up: the token's sha256 (a random 256-bit secret needs no salt)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    """What a live token says about the workspace calling with it."""

    token_id: str
    workspace_id: str
    runtime: str
    model: str | None
    auth_env: frozenset[str]
    scope: Scope
    expires_at: float | None
    """Epoch seconds, or None for a token that does not expire."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    row: dict[str, Any]
    token: str
    """The secret: returned once, never stored."""
    caller: Caller


def token_dict(row: CallToken) -> dict[str, Any]:
    """A token as listed: everything but the secret, which is not stored."""
    return {
        "id": row.id,
        "workspace_id": row.workspace_id,
        "note": row.note,
        "scope": row.scope,
        "created_at": iso_utc(row.created_at),
        "expires_at": _shown(row.expires_at),
        "revoked_at": _shown(row.revoked_at),
        "last_used_at": _shown(row.last_used_at),
    }


def _shown(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def _epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()  # SQLite's are naive UTC


def _notify(session: Session) -> None:
    """Wake every instance's view (delivered at commit); SQLite's instances poll instead."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_NOTIFY, {"channel": NOTIFY_CHANNEL})


def revoke_workspace_tokens(session: Session, workspace_id: str) -> None:
    """Revoke every token of a workspace inside the transaction that deletes it.

    Once that transaction commits, this process's views drop the tokens at once and
    the other instances' views on their next round (NOTIFY, or the poll).
    """
    # The receipt writers of every instance lock the tokens they touch in id order too.
    tokens = select(CallToken.id).where(CallToken.workspace_id == workspace_id)
    lock_in_key_order(session, tokens.order_by(CallToken.id))
    session.execute(
        update(CallToken)
        .where(CallToken.workspace_id == workspace_id, CallToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    _notify(session)
    url = str(session.get_bind().engine.url)

    def committed(_session: Session) -> None:
        for view in list(_VIEWS):
            if view.url == url:
                view.forget_workspace(workspace_id)

    event.listen(session, "after_commit", committed, once=True)


class TokenStore:
    """Issue, list and revoke a workspace's tokens; every change is also applied to ``view``."""

    def __init__(self, database: Database, view: CallerView) -> None:
        self.database = database
        self.view = view

    def issue(self, workspace_id: str, note: str | None, expires_in_s: int | None, scope: Scope) -> IssuedToken:
        """A new token for an existing workspace. Raises ServiceError(WORKSPACE_NOT_FOUND)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
        now = utcnow()
        row = CallToken(
            id=new_id(),
            workspace_id=workspace_id,
            token_hash=hash_token(token),
            note=note,
            scope=scope.value,
            created_at=now,
            expires_at=None if expires_in_s is None else now + timedelta(seconds=expires_in_s),
        )
        with self.database.write() as session:
            # Shared lock on PostgreSQL: a concurrent delete of the workspace waits for this issue to commit.
            workspace = session.scalar(select(Workspace).where(Workspace.id == workspace_id).with_for_update(read=True))
            if workspace is None:
                raise _no_workspace(workspace_id)
            session.add(row)
            _notify(session)
            caller = Caller(
                row.id,
                workspace_id,
                workspace.runtime,
                workspace.model,
                frozenset(workspace.auth_env or ()),
                scope,
                _epoch(row.expires_at),
            )
        self.view.issued(row.token_hash, caller)
        return IssuedToken(token_dict(row), token, caller)

    def listing(self, workspace_id: str) -> list[dict[str, Any]]:
        with self.database.read() as session:
            if session.scalar(select(Workspace.seq).where(Workspace.id == workspace_id)) is None:
                raise _no_workspace(workspace_id)
            rows = session.scalars(
                select(CallToken).where(CallToken.workspace_id == workspace_id).order_by(CallToken.created_at.desc())
            )
            return [token_dict(row) for row in rows]

    def revoke(self, workspace_id: str, token_id: str) -> None:
        """Revoke one token (again is fine). Raises ServiceError(CALL_TOKEN_NOT_FOUND)."""
        with self.database.write() as session:
            row = session.scalar(
                select(CallToken).where(CallToken.id == token_id, CallToken.workspace_id == workspace_id)
            )
            if row is None:
                raise ServiceError(
                    ServiceCode.CALL_TOKEN_NOT_FOUND,
                    f"workspace {workspace_id} has no call token {token_id}; list them with GET "
                    f"/workspaces/{workspace_id}/call-tokens",
                    workspace_id=workspace_id,
                    token_id=token_id,
                )
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                _notify(session)
        self.view.revoked(token_id)


def _no_workspace(workspace_id: str) -> ServiceError:
    return ServiceError(
        ServiceCode.WORKSPACE_NOT_FOUND, f"no workspace {workspace_id}; list them with GET /workspaces", id=workspace_id
    )


_READ = select(
    CallToken.token_hash,
    CallToken.id,
    CallToken.workspace_id,
    CallToken.expires_at,
    CallToken.scope,
    CallToken.revoked_at,
    Workspace.runtime,
    Workspace.model,
    cast(Workspace.auth_env, String).label("auth_text"),  # decoded once per distinct set (see refresh)
).outerjoin(Workspace, Workspace.id == CallToken.workspace_id)
_SCOPES = {scope.value: scope for scope in Scope}
_LIVE = _READ.where(CallToken.revoked_at.is_(None))
_CHANGED = _READ.where(CallToken.changed >= bindparam("since"))
# Where the next read starts (migration 0011): every change committed after this read has a
# ``changed`` at least this large. SQLite's writers commit in turn, numbering their changes;
# PostgreSQL's in any order, so it is the oldest transaction still running as this reads.
_HORIZON = {
    "sqlite": text("SELECT coalesce(max(changed), 0) + 1 FROM call_tokens"),
    "postgresql": text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"),
}


_APPLIED_PER_TURN = 10_000
"""Rows a refresh applies per hold of the view's lock (a first read at a million takes a hundred turns)."""


def _live_caller(row: Any, now: float, auth_sets: dict[str | None, frozenset[str]]) -> Caller | None:
    """The caller a token's row stands for; None if it is revoked, expired or its workspace is gone."""
    expires = _epoch(row.expires_at)
    if row.revoked_at is not None or row.runtime is None or (expires is not None and expires <= now):
        return None
    auth_env = auth_sets.get(row.auth_text)
    if auth_env is None:
        auth_env = auth_sets[row.auth_text] = frozenset(json.loads(row.auth_text or "null") or ())
    return Caller(row.id, row.workspace_id, row.runtime, row.model, auth_env, _SCOPES[row.scope], expires)


class CallerView:
    """Live tokens by hash: every one the first read found, then what changed since, and this
    process's own changes at once.

    Each :meth:`refresh` reads only the tokens changed since the last one began (their
    ``changed``, migration 0011), so a poll costs what changed, not the table. A revocation
    or deletion made here is remembered until a read that began after it: a read already
    running cannot bring the token back.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.url = str(database.engine.url)
        self._horizon = _HORIZON[database.engine.dialect.name]
        self._since: int | None = None
        self._callers: dict[str, Caller] = {}
        self._digests: dict[str, str] = {}  # token id -> hash
        self._of_workspace: dict[str, set[str]] = {}  # workspace id -> hashes
        self._expiring: list[tuple[float, str]] = []  # (expires_at, hash), a heap: expired tokens leave memory
        self._lock = threading.Lock()
        self._gone_tokens: dict[str, float] = {}
        self._gone_workspaces: dict[str, float] = {}
        self.loaded = threading.Event()
        """Set once the first read is applied: before, an unknown token may be one not read yet."""
        _VIEWS.add(self)

    def __len__(self) -> int:
        """Tokens held: live ones, and expired ones until the next refresh."""
        return len(self._callers)

    def caller(self, token: str, now: float) -> Caller | None:
        """The caller a presented token stands for; None if unknown, revoked or expired."""
        found = self._callers.get(hash_token(token))
        if found is None or (found.expires_at is not None and found.expires_at <= now):
            return None
        return found

    def refresh(self) -> int:
        """Apply the tokens changed in the database since the last refresh (every live one, the first
        time); how many rows were read."""
        started = time.monotonic()
        with self.database.read() as session:
            horizon = session.scalar(self._horizon)  # first: a change committed after it is read next time
            query = _LIVE if self._since is None else _CHANGED
            rows = session.execute(query, {"since": self._since}).all()
        now = time.time()
        auth_sets: dict[str | None, frozenset[str]] = {}  # a fleet shares a few sets: decode and keep each once
        read = [(row.token_hash, _live_caller(row, now, auth_sets)) for row in rows]  # the CPU: outside the lock
        with self._lock:
            # Changes made here before the read began are in the rows just read; later ones still count.
            self._gone_tokens = {key: at for key, at in self._gone_tokens.items() if at >= started}
            self._gone_workspaces = {key: at for key, at in self._gone_workspaces.items() if at >= started}
        for first in range(0, len(read), _APPLIED_PER_TURN):
            with self._lock:  # in turns: an issue or revocation here waits for one turn, not the whole read
                for digest, caller in read[first : first + _APPLIED_PER_TURN]:
                    if (
                        caller is None
                        or caller.token_id in self._gone_tokens
                        or caller.workspace_id in self._gone_workspaces
                    ):
                        self._drop(digest)
                    else:
                        self._put(digest, caller)
        with self._lock:
            self._since = horizon
            while self._expiring and self._expiring[0][0] <= now:
                _, digest = heapq.heappop(self._expiring)
                held = self._callers.get(digest)
                if held is not None and held.expires_at is not None and held.expires_at <= now:
                    self._drop(digest)
        self.loaded.set()
        return len(rows)

    def issued(self, digest: str, caller: Caller) -> None:
        with self._lock:
            self._put(digest, caller)

    def revoked(self, token_id: str) -> None:
        with self._lock:
            self._gone_tokens[token_id] = time.monotonic()
            digest = self._digests.get(token_id)
            if digest is not None:
                self._drop(digest)

    def forget_workspace(self, workspace_id: str) -> None:
        with self._lock:
            self._gone_workspaces[workspace_id] = time.monotonic()
            for digest in list(self._of_workspace.get(workspace_id, ())):
                self._drop(digest)

    def _put(self, digest: str, caller: Caller) -> None:
        """Under the lock. A token's workspace never changes, so its hash is filed once."""
        self._callers[digest] = caller
        self._digests[caller.token_id] = digest
        self._of_workspace.setdefault(caller.workspace_id, set()).add(digest)
        if caller.expires_at is not None:
            heapq.heappush(self._expiring, (caller.expires_at, digest))

    def _drop(self, digest: str) -> None:
        """Under the lock."""
        caller = self._callers.pop(digest, None)
        if caller is None:
            return
        self._digests.pop(caller.token_id, None)
        digests = self._of_workspace.get(caller.workspace_id)
        if digests is not None:
            digests.discard(digest)
            if not digests:
                del self._of_workspace[caller.workspace_id]
