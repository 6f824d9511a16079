"""replays in flight: a publish's progress stored, so every worker and instance can show it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

``GET /registry/versions/progress`` and the console listed only the replays of the
process that answered: with ``--workers 2``, or several instances on one database, a
poll that reached another process saw nothing. The table holds a handful of rows at
most (one per replay running now), so it has no index but its key.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replays_in_flight",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("replays_in_flight")
