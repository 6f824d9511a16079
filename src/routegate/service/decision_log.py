"""The decision log: every create and model change the gates or the store decided, admitted or refused.

An admitted decision is logged in the transaction that writes the workspace, so
the log never holds a decision whose write did not commit; a refusal is logged
in its own transaction, since the refused request wrote nothing else. Each line
is an :class:`Entry`, and :meth:`Entry.row` is the one place a row of the
``decisions`` table is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from routegate.decision import Decision
from routegate.gate import Admission, GateRefusal

from .db import Action, Database, DecisionRecord, iso_utc, utcnow
from .http_errors import ServiceError
from .inserts import RowInsert
from .listing import cursor_of

__all__ = ["INSERT_DECISION", "DecisionLog", "Entry", "decision_dict", "decisions_high_water"]

INSERT_DECISION = RowInsert(DecisionRecord.__table__)  # type: ignore[arg-type]
"""A decision's row into the log; a create writes it together with its workspace (:class:`.inserts.JointInsert`)."""
_NOTHING_TO_ROUTE = "external workspace without a model: nothing to route"


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the log: what was decided about a create or model change, and what was known then."""

    action: Action
    reason: str
    runtime: str | None
    model: str | None
    template: str | None = None
    workspace_id: str | None = None
    code: str | None = None  # None: admitted
    candidates: tuple[str, ...] = ()
    decision: Decision | None = None  # an admitted decision, for who serves and who pays

    @classmethod
    def admitted(
        cls,
        action: Action,
        decision: Decision | None,
        *,
        workspace_id: str,
        runtime: str,
        model: str | None,
        template: str | None = None,
    ) -> Entry:
        """An admitted create or model change; no decision: an external workspace without a model."""
        return cls(
            action,
            _NOTHING_TO_ROUTE if decision is None else decision.reason,
            runtime,
            model,
            template,
            workspace_id,
            candidates=() if decision is None else decision.candidates,
            decision=decision,
        )

    @classmethod
    def refused_by_gate(
        cls, action: Action, refusal: GateRefusal, *, template: str | None, workspace_id: str | None = None
    ) -> Entry:
        """A gate's refusal, with the runtime and model the gates had made of the request."""
        decision = refusal.decision
        candidates = decision.candidates if decision is not None else refusal.context.get("candidates", ())
        return cls(
            action,
            refusal.message,
            refusal.runtime,
            refusal.model,
            refusal.context.get("template", template),
            workspace_id,
            str(refusal.code),
            tuple(candidates),
        )

    @classmethod
    def refused_by_store(cls, action: Action, error: ServiceError, admission: Admission) -> Entry:
        """The store's refusal of an admitted create (unknown parent, no free name)."""
        return cls(action, error.message, admission.runtime, admission.model, admission.template, code=str(error.code))

    def row(self, fingerprint: str, manifest_version: int | None, created_at: datetime) -> dict[str, Any]:
        """The entry as a row of the decisions table, decided under that manifest version."""
        decision = self.decision
        return {
            "action": self.action,
            "admitted": self.code is None,
            "code": self.code,
            "reason": self.reason,
            "workspace_id": self.workspace_id,
            "runtime": self.runtime,
            "model": self.model,
            "provider": None if decision is None else decision.provider_name,
            "billing_mode": None if decision is None else decision.billing_value,
            "path": None if decision is None or decision.path is None else decision.path.value,
            "template": self.template,
            "candidates": list(self.candidates),
            "manifest_fingerprint": fingerprint,
            "manifest_version": manifest_version,
            "created_at": created_at,
        }


def decision_dict(record: DecisionRecord) -> dict[str, Any]:
    """A logged decision as the API shows it."""
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


def decisions_high_water(session: Session) -> int:
    """The newest decision's number (0 before any).

    Every create and model change logs its admitted decision in its own transaction, and
    decision numbers only grow (none is ever deleted), so the workspaces a later re-check
    must see are exactly those named by admitted decisions past this mark.
    """
    return session.scalar(select(func.coalesce(func.max(DecisionRecord.seq), 0))) or 0


class DecisionLog:
    """Writes and reads of the decision log."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @staticmethod
    def write(connection: Connection, row: dict[str, Any]) -> None:
        """Log a row built by :meth:`Entry.row` in the caller's transaction: the write it decided."""
        INSERT_DECISION.run(connection, row)

    def refused(self, entry: Entry, fingerprint: str, manifest_version: int | None) -> None:
        """Log a refusal in its own transaction: the request changed nothing else."""
        with self.database.write_connection() as connection:
            INSERT_DECISION.run(connection, entry.row(fingerprint, manifest_version, utcnow()))

    def page(self, workspace_id: str | None, limit: int, after: int | None) -> tuple[list[dict[str, Any]], str | None]:
        """Oldest first, after the cursor's row, of one workspace or of all."""
        with self.database.read() as session:
            query = select(DecisionRecord).order_by(DecisionRecord.seq).limit(limit + 1)
            if workspace_id is not None:
                query = query.where(DecisionRecord.workspace_id == workspace_id)
            if after is not None:
                query = query.where(DecisionRecord.seq > after)
            rows = list(session.scalars(query))
        return [decision_dict(r) for r in rows[:limit]], (cursor_of(rows[limit - 1].seq) if len(rows) > limit else None)
