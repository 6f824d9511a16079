"""The call gate's tables: call tokens, and the receipts of decided calls.

Receipts are written for volume: on PostgreSQL ``call_receipts`` is partitioned by
UTC day on ``at`` (migration 0006 declares it so; :mod:`.receipts` creates the
partitions ahead and drops whole ones for retention), so the primary key carries ``at``.
A receipt's id is time-ordered (its first 48 bits are ``at`` in milliseconds), so
newest-first is ``id`` descending and an id alone says which partition holds it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, utcnow

__all__ = ["RECEIPT_PARTITION_PREFIX", "CallReceipt", "CallToken"]

RECEIPT_PARTITION_PREFIX = "call_receipts_p"
"""PostgreSQL's day partitions of ``call_receipts`` are named this and ``YYYYMMDD``."""


class CallToken(Base):
    """A workspace's credential for the gateway's calls; only its hash is stored.

    No foreign key to the workspace: a revoked token stays listed after its workspace is gone.
    """

    __tablename__ = "call_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(8))
    """Which ids the token's calls may ask for: a :class:`routegate.calls.Scope` value."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    changed: Mapped[int] = mapped_column(BigInteger, index=True, server_default="0")
    """Set by the database's triggers (migration 0011) at each change a callers' view holds:
    the views read only the rows changed since their last read."""


class CallReceipt(Base):
    """One decided call, admitted or refused; the gateway adds usage and status after the call."""

    __tablename__ = "call_receipts"
    __table_args__ = ({"postgresql_partition_by": "RANGE (at)"},)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36))
    token_id: Mapped[str] = mapped_column(String(36))
    model: Mapped[str] = mapped_column(Text)
    allowed: Mapped[bool] = mapped_column(Boolean)
    code: Mapped[str | None] = mapped_column(String(64))
    payer: Mapped[str | None] = mapped_column(String(16))
    provider: Mapped[str | None] = mapped_column(Text)
    upstream_vendor: Mapped[str | None] = mapped_column(Text)
    manifest_version: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str | None] = mapped_column(String(32))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# A workspace's receipts, newest first, and the columns its summary adds up (PostgreSQL's
# INCLUDE): pages and summaries read this index alone (migration 0008).
Index(
    "ix_call_receipts_workspace_at",
    CallReceipt.workspace_id,
    CallReceipt.at,
    CallReceipt.id,
    postgresql_include=["allowed", "payer", "provider", "prompt_tokens", "completion_tokens"],
)
