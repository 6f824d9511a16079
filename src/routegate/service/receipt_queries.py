"""Reading call receipts and adding the gateway's usage report to one.

Receipts are listed newest first by id (ids sort by time, see :func:`.receipts.receipt_id`),
a workspace's by ``at`` then id, which is the same order; a page's cursor is its last id,
and every query also bounds ``at`` so that PostgreSQL reads only the day partitions concerned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Row, Select, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql

from .call_tables import CallReceipt
from .db import Database, iso_utc, utcnow
from .engines import driver_errors
from .http_errors import ServiceCode, ServiceError
from .receipts import USAGE_ONCE, Usage, moment_or_none, usage_row

__all__ = ["ReceiptQueries", "receipt_dict"]

_R = CallReceipt
_REPORT_RETURNING = USAGE_ONCE.returning(*cast(Table, CallReceipt.__table__).columns)
_ONE = select(cast(Table, CallReceipt.__table__)).where(_R.id == bindparam("receipt"), _R.at == bindparam("receipt_at"))
_STORED = select(_R.id).where(_R.id == bindparam("receipt"), _R.at == bindparam("receipt_at"))
_PG_REPORT = str(USAGE_ONCE.returning(_R.id).compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


def receipt_dict(row: CallReceipt | Row[Any]) -> dict[str, Any]:
    """A receipt as the API shows it, from its ORM object or a Core row of its table."""
    reported = row.reported_at is not None
    return {
        "id": row.id,
        "at": iso_utc(row.at),
        "workspace_id": row.workspace_id,
        "token_id": row.token_id,
        "model": row.model,
        "allowed": row.allowed,
        "code": row.code,
        "payer": row.payer,
        "provider": row.provider,
        "upstream_vendor": row.upstream_vendor,
        "manifest_version": row.manifest_version,
        "usage": {"prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens} if reported else None,
        "status": row.status,
        "reported_at": None if row.reported_at is None else iso_utc(row.reported_at),
    }


def _not_found(receipt: str) -> ServiceError:
    return ServiceError(
        ServiceCode.RECEIPT_NOT_FOUND,
        f"no call receipt {receipt}: use the receipt_id POST /calls/authorize answered (receipts older than "
        "the retention period are gone)",
        receipt_id=receipt,
    )


class ReceiptQueries:
    def __init__(self, database: Database) -> None:
        self.database = database

    def page(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        workspace_id: str | None = None,
        payer: str | None = None,
        allowed: bool | None = None,
        since: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Receipts newest first, ``limit`` of them, after ``cursor`` (the previous page's last id)."""
        query = _filtered(select(_R), workspace_id, since)
        if payer is not None:
            query = query.where(_R.payer == payer)
        if allowed is not None:
            query = query.where(_R.allowed.is_(allowed))
        if cursor is not None:
            query = query.where(_R.id < cursor, _R.at <= _moment(cursor))
        # The same order either way (an id starts with its moment); a workspace's index is by
        # moment, so PostgreSQL reads its day partitions newest first and stops at the page's end.
        order = (_R.at.desc(), _R.id.desc()) if workspace_id is not None else (_R.id.desc(),)
        with self.database.read() as session:
            rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return [receipt_dict(row) for row in rows], rows[-1].id if more else None

    def get(self, receipt: str) -> dict[str, Any]:
        with self.database.read() as session:
            row = session.scalar(select(_R).where(_R.id == receipt, _R.at == _moment(receipt)))
        if row is None:
            raise _not_found(receipt)
        return receipt_dict(row)

    def report_usage(self, receipt: str, prompt_tokens: int, completion_tokens: int, status: str) -> dict[str, Any]:
        """Add the gateway's usage and status, once. Raises RECEIPT_NOT_FOUND or USAGE_ALREADY_REPORTED.

        Core statements on a bare connection, the report and its answer in one UPDATE ... RETURNING
        (on PostgreSQL in autocommit, one round trip): a gateway sends one report per call it forwards.
        The read that explains a refusal needs no transaction either: a receipt never goes back to unreported."""
        at = _moment(receipt)
        values = usage_row((receipt, prompt_tokens, completion_tokens, status), at, utcnow())
        with self.database.statement_writes() as connection:
            row = connection.execute(_REPORT_RETURNING, values).first()
            if row is not None:
                return receipt_dict(row)
            row = connection.execute(_ONE, {"receipt": receipt, "receipt_at": at}).first()
        if row is None:
            raise _not_found(receipt)
        raise ServiceError(
            ServiceCode.USAGE_ALREADY_REPORTED,
            f"call receipt {receipt} has its usage already; a receipt's usage is reported once",
            receipt_id=receipt,
            usage={"prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens},
            status=row.status,
        )

    def report_usages(self, reports: Sequence[Usage]) -> dict[str, list[str]]:
        """A gateway's reports sent together, each taken as :meth:`report_usage` takes one, in order
        (a receipt named twice keeps the first): the receipt ids reported now, those whose usage
        was already reported, and those that name no receipt.

        One statement per report, the batch in one transaction: on PostgreSQL all of them in one round
        trip. The read that places a report not taken runs only for those, which a gateway sends
        only when it tries a batch again."""
        outcome: dict[str, list[str]] = {"reported": [], "already_reported": [], "not_found": []}
        named = [(report, moment_or_none(report[0])) for report in reports]
        with self.database.statement_writes() as connection:
            taken = _take(connection, named, utcnow())
            for ((receipt, *_), at), took in zip(named, taken, strict=True):
                if took:
                    outcome["reported"].append(receipt)
                elif at is not None and connection.scalar(_STORED, {"receipt": receipt, "receipt_at": at}) is not None:
                    outcome["already_reported"].append(receipt)
                else:
                    outcome["not_found"].append(receipt)
        return outcome

    def summary(self, *, workspace_id: str | None = None, since: datetime | None = None) -> dict[str, Any]:
        """Admitted calls and their reported tokens per payer and provider, and the refused count."""
        columns = (
            _R.payer,
            _R.provider,
            func.count().label("calls"),
            func.coalesce(func.sum(_R.prompt_tokens), 0).label("prompt_tokens"),
            func.coalesce(func.sum(_R.completion_tokens), 0).label("completion_tokens"),
        )
        admitted = _filtered(select(*columns), workspace_id, since).where(_R.allowed.is_(True))
        refused = _filtered(select(func.count()).select_from(_R), workspace_id, since).where(_R.allowed.is_(False))
        with self.database.read() as session:
            groups = session.execute(admitted.group_by(_R.payer, _R.provider).order_by(_R.payer, _R.provider)).all()
            refusals = int(session.scalar(refused) or 0)
        items = [
            {
                "payer": group.payer,
                "provider": group.provider,
                "calls": int(group.calls),
                "prompt_tokens": int(group.prompt_tokens),
                "completion_tokens": int(group.completion_tokens),
            }
            for group in groups
        ]
        return {
            "workspace_id": workspace_id,
            "since": None if since is None else iso_utc(since),
            "items": items,
            "refused": refusals,
        }


def _take(connection: Connection, named: list[tuple[Usage, datetime | None]], reported: datetime) -> list[bool]:
    """Whether each report was taken (its receipt had no report yet), each tried in turn as
    :data:`.receipts.USAGE_ONCE`; a report whose id names no moment names no receipt.

    On PostgreSQL the statements go in one pipeline (one round trip, one implicit transaction)
    sorted by receipt id, a receipt's reports in their order: every batch then locks the receipts
    it changes in one order, so two batches naming the same receipts cannot deadlock (a deadlock
    holds both for the server's deadlock timeout, then fails one)."""
    values = {place: usage_row(report, at, reported) for place, (report, at) in enumerate(named) if at is not None}
    if connection.dialect.name != "postgresql":
        taken = {place: connection.execute(USAGE_ONCE, row).rowcount == 1 for place, row in values.items()}
    else:
        with driver_errors(connection, _PG_REPORT) as driver:
            with driver.pipeline():
                answers = {
                    place: driver.execute(_PG_REPORT, values[place], prepare=True)
                    for place in sorted(values, key=lambda place: named[place][0][0])
                }
            taken = {place: answer.fetchone() is not None for place, answer in answers.items()}
    return [taken.get(place, False) for place in range(len(named))]


def _filtered(query: _Query, workspace_id: str | None, since: datetime | None) -> _Query:
    if workspace_id is not None:
        query = query.where(_R.workspace_id == workspace_id)
    if since is not None:
        query = query.where(_R.at >= since)
    return query


def _moment(receipt: str) -> datetime:
    at = moment_or_none(receipt)
    if at is None:
        raise _not_found(receipt)
    return at
