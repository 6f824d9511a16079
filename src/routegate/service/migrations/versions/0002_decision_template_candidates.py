"""decisions keep the template and candidates; workspace names compare bytewise on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as table:
        table.add_column(sa.Column("template", sa.String(200), nullable=True))
        table.add_column(sa.Column("candidates", sa.JSON(), nullable=False, server_default="[]"))
    if op.get_bind().dialect.name == "postgresql":  # the unique (parent, name) index is rebuilt with it
        op.alter_column("workspaces", "name", type_=sa.String(255, collation="C"), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("workspaces", "name", type_=sa.String(255), existing_nullable=False)
    with op.batch_alter_table("decisions") as table:
        table.drop_column("candidates")
        table.drop_column("template")
