"""call receipts: a workspace's summary reads one index, not every receipt's row

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

``GET /calls/summary?workspace_id=`` adds up a workspace's receipts. Through
``ix_call_receipts_workspace`` (workspace, id) it visited each receipt's row, scattered
over every day's partition: at ten million receipts, seconds for a busy workspace.
``ix_call_receipts_workspace_at`` is (workspace, at) and on PostgreSQL carries the
columns the summary adds up (``INCLUDE``), so the summary, with or without ``since``,
is an index-only read; SQLite ignores ``INCLUDE`` and reads the index by workspace and
moment. On PostgreSQL the index is created on the partitioned table, so every day
partition, present and future, has its own.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SUMMED = ["allowed", "payer", "provider", "prompt_tokens", "completion_tokens"]


def upgrade() -> None:
    op.create_index(
        "ix_call_receipts_workspace_at", "call_receipts", ["workspace_id", "at"], postgresql_include=_SUMMED
    )


def downgrade() -> None:
    op.drop_index("ix_call_receipts_workspace_at", table_name="call_receipts")
