"""workspaces and decisions

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("seq", _seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parent_id", sa.String(36), sa.ForeignKey("workspaces.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("role", sa.String(100), nullable=True),
        sa.Column("runtime", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("template", sa.String(200), nullable=True),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("billing_mode", sa.String(32), nullable=True),
        sa.Column("required_env", sa.JSON(), nullable=False),
        sa.Column("auth_env", sa.JSON(), nullable=False),
        sa.Column("manifest_fingerprint", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "uq_workspaces_parent_name",
        "workspaces",
        [sa.text("coalesce(parent_id, '')"), "name"],
        unique=True,
    )
    op.create_table(
        "decisions",
        sa.Column("seq", _seq, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("admitted", sa.Boolean(), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("workspace_id", sa.String(36), nullable=True),
        sa.Column("runtime", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("billing_mode", sa.String(32), nullable=True),
        sa.Column("path", sa.String(16), nullable=True),
        sa.Column("manifest_fingerprint", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_decisions_workspace_id", "decisions", ["workspace_id"])


def downgrade() -> None:
    op.drop_index("ix_decisions_workspace_id", table_name="decisions")
    op.drop_table("decisions")
    op.drop_index("uq_workspaces_parent_name", table_name="workspaces")
    op.drop_table("workspaces")
