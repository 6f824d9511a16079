"""call tokens and call receipts (on PostgreSQL partitioned by UTC day)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

``call_tokens`` holds each token's sha256, never the token. ``call_receipts`` is one
row per decided call; on PostgreSQL it is a partitioned table (``PARTITION BY RANGE
(at)``) whose day partitions the service creates ahead of time and drops for
retention, so its primary key includes ``at``. SQLite ignores the partitioning clause.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("expires_at", _MOMENT, nullable=True),
        sa.Column("revoked_at", _MOMENT, nullable=True),
        sa.Column("last_used_at", _MOMENT, nullable=True),
    )
    op.create_index("ix_call_tokens_workspace_id", "call_tokens", ["workspace_id"])
    op.create_table(
        "call_receipts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("at", _MOMENT, nullable=False),
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("token_id", sa.String(36), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("payer", sa.String(16), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("upstream_vendor", sa.Text(), nullable=True),
        sa.Column("manifest_version", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("reported_at", _MOMENT, nullable=True),
        sa.PrimaryKeyConstraint("id", "at"),
        postgresql_partition_by="RANGE (at)",
    )
    op.create_index("ix_call_receipts_workspace", "call_receipts", ["workspace_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_call_receipts_workspace", table_name="call_receipts")
    op.drop_table("call_receipts")  # on PostgreSQL, its partitions with it
    op.drop_index("ix_call_tokens_workspace_id", table_name="call_tokens")
    op.drop_table("call_tokens")
