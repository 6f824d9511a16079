"""call receipts: a workspace's pages and summary read one index, by moment

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

A workspace's receipts were found through ``ix_call_receipts_workspace`` (workspace, id).
At ten million receipts over 90 day partitions that cost twice: its summary visited every
one of the workspace's rows, scattered over every partition (seconds for a busy
workspace), and its first page merged the newest row of every partition. It is replaced by
``ix_call_receipts_workspace_at`` (workspace, at, id), which on PostgreSQL also carries the
columns the summary adds up (``INCLUDE``): the summary is an index-only read, and a page,
ordered by ``at`` then ``id`` (the same order: an id starts with its moment), reads the day
partitions newest first and stops at the page's end. SQLite ignores ``INCLUDE``. On
PostgreSQL the index is made on the partitioned table, so every day partition, present and
future, has its own.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SUMMED = ["allowed", "payer", "provider", "prompt_tokens", "completion_tokens"]


def upgrade() -> None:
    op.create_index(
        "ix_call_receipts_workspace_at", "call_receipts", ["workspace_id", "at", "id"], postgresql_include=_SUMMED
    )
    op.drop_index("ix_call_receipts_workspace", table_name="call_receipts")


def downgrade() -> None:
    op.create_index("ix_call_receipts_workspace", "call_receipts", ["workspace_id", "id"])
    op.drop_index("ix_call_receipts_workspace_at", table_name="call_receipts")
