"""A workspace's call tokens are locked in id order when a change of the workspace marks them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Receipt writers on every instance update the tokens of a batch (``last_used_at``), locking
them in id order. A change of a workspace's runtime, model or auth env marks each of its
tokens changed (migration 0011's trigger), and the trigger's update took them in whatever
order PostgreSQL read them: with a writer holding one of them and wanting another, the two
waited on each other until PostgreSQL broke the deadlock a second later by failing one. The
trigger now locks the workspace's tokens in id order first. SQLite commits one writer at a
time, so nothing changes there.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_PG_XACT = "pg_current_xact_id()::text::bigint"
_LOCKED_IN_ORDER = f"""CREATE OR REPLACE FUNCTION call_tokens_changed_workspace() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM call_tokens WHERE workspace_id = NEW.id ORDER BY id FOR NO KEY UPDATE;
        UPDATE call_tokens SET changed = {_PG_XACT} WHERE workspace_id = NEW.id;
        RETURN NULL;
    END $$"""
_AS_READ = f"""CREATE OR REPLACE FUNCTION call_tokens_changed_workspace() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE call_tokens SET changed = {_PG_XACT} WHERE workspace_id = NEW.id;
        RETURN NULL;
    END $$"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(_LOCKED_IN_ORDER)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(_AS_READ)
