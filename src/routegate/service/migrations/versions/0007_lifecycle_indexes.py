"""lifecycle reads: workspaces by (runtime, model) and by (runtime, provider)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

The console's "deprecated or retired model" filter and the counts of the workspaces a
dated change reaches ask for the rows of a few (runtime, model) pairs (an entry naming
a model) and (runtime, provider) pairs (an entry naming a provider), taken from the
manifest. These two indexes answer both without reading the rest of the table.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_workspaces_runtime_model", "workspaces", ["runtime", "model"])
    op.create_index("ix_workspaces_runtime_provider", "workspaces", ["runtime", "provider"])


def downgrade() -> None:
    op.drop_index("ix_workspaces_runtime_provider", table_name="workspaces")
    op.drop_index("ix_workspaces_runtime_model", table_name="workspaces")
