"""Each call token row says when it last changed, so callers' views read only what changed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

Until now every instance's view of the live call tokens read the whole table on every
poll (twice a second): 1.8 s of CPU at 100,000 tokens, so at that size a view was always
rebuilding and fell seconds behind. Now ``call_tokens.changed`` orders changes, and a view
reads only the rows changed since its last read:

- a token's issue, its revocation (a workspace's delete revokes its tokens), and a change of
  its workspace's runtime, model or auth env set the token's ``changed``; a token's use
  (``last_used_at``) does not;
- SQLite commits one writer at a time, so ``changed`` is a counter: one more than the
  largest (tokens are never deleted, so the largest never goes back);
- PostgreSQL commits concurrent writers in any order, so ``changed`` is the writing
  transaction's id, and a reader takes the oldest transaction still running when it read
  (``pg_snapshot_xmin``) as where to read from next time: whatever commits later has an id
  at least that large.

Existing rows keep ``changed`` 0: a view's first read takes every live token anyway.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = "revoked_at, expires_at, scope, workspace_id"  # what a view holds of the token itself
_WORKSPACE_COLUMNS = "runtime, model, auth_env"  # and of its workspace
_SQLITE_NEXT = "(SELECT max(changed) FROM call_tokens) + 1"
_SQLITE = (
    f"""CREATE TRIGGER call_tokens_changed_insert AFTER INSERT ON call_tokens BEGIN
        UPDATE call_tokens SET changed = {_SQLITE_NEXT} WHERE id = new.id;
    END""",
    f"""CREATE TRIGGER call_tokens_changed_update AFTER UPDATE OF {_COLUMNS} ON call_tokens BEGIN
        UPDATE call_tokens SET changed = {_SQLITE_NEXT} WHERE id = new.id;
    END""",
    f"""CREATE TRIGGER call_tokens_changed_workspace AFTER UPDATE OF {_WORKSPACE_COLUMNS} ON workspaces BEGIN
        UPDATE call_tokens SET changed = {_SQLITE_NEXT} WHERE workspace_id = new.id;
    END""",
)
_PG_XACT = "pg_current_xact_id()::text::bigint"
_POSTGRESQL = (
    f"""CREATE FUNCTION call_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.changed := {_PG_XACT};
        RETURN NEW;
    END $$""",
    f"""CREATE TRIGGER call_tokens_changed BEFORE INSERT OR UPDATE OF {_COLUMNS} ON call_tokens
        FOR EACH ROW EXECUTE FUNCTION call_tokens_changed()""",
    f"""CREATE FUNCTION call_tokens_changed_workspace() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE call_tokens SET changed = {_PG_XACT} WHERE workspace_id = NEW.id;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER call_tokens_changed_workspace AFTER UPDATE OF {_WORKSPACE_COLUMNS} ON workspaces
        FOR EACH ROW EXECUTE FUNCTION call_tokens_changed_workspace()""",
)


def upgrade() -> None:
    op.add_column("call_tokens", sa.Column("changed", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_call_tokens_changed", "call_tokens", ["changed"])
    bind = op.get_bind()
    for statement in _POSTGRESQL if bind.dialect.name == "postgresql" else _SQLITE:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP TRIGGER call_tokens_changed_workspace ON workspaces")
        bind.exec_driver_sql("DROP TRIGGER call_tokens_changed ON call_tokens")
        bind.exec_driver_sql("DROP FUNCTION call_tokens_changed_workspace()")
        bind.exec_driver_sql("DROP FUNCTION call_tokens_changed()")
    else:
        for name in ("call_tokens_changed_insert", "call_tokens_changed_update", "call_tokens_changed_workspace"):
            bind.exec_driver_sql(f"DROP TRIGGER {name}")
    op.drop_index("ix_call_tokens_changed", table_name="call_tokens")
    with op.batch_alter_table("call_tokens") as batch:
        batch.drop_column("changed")
