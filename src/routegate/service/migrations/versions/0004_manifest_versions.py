"""manifest versions in the database; workspaces and decisions keep the version they were decided under

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "manifest_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    active = sa.column("active", sa.Boolean())
    op.create_index(
        "uq_manifest_versions_active",
        "manifest_versions",
        ["active"],
        unique=True,
        sqlite_where=active.is_(True),
        postgresql_where=active.is_(True),
    )
    with op.batch_alter_table("workspaces") as table:
        table.add_column(sa.Column("manifest_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("decisions") as table:
        table.add_column(sa.Column("manifest_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as table:
        table.drop_column("manifest_version")
    with op.batch_alter_table("workspaces") as table:
        table.drop_column("manifest_version")
    op.drop_index("uq_manifest_versions_active", table_name="manifest_versions")
    op.drop_table("manifest_versions")
