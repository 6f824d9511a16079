"""operator pages and deletes read indexes: parent_id, and a trigram index on workspace names

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A delete asks whether any workspace names it as parent (and SQLite's foreign-key check
asks again): ``ix_workspaces_parent_id`` answers both. "Name contains" searches read a
trigram index: on SQLite an FTS5 table over ``workspaces.name`` (external content, so
the names are not stored twice) that triggers keep in step with every insert, rename
and delete; on PostgreSQL a ``pg_trgm`` GIN index on ``name``, which serves the
search's ``ILIKE``. A later migration that rebuilds ``workspaces`` on SQLite (a batch
``ALTER``) drops the triggers with the old table and must create them again.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

TRIGRAMS = "workspace_name_trigrams"  # db.NAME_TRIGRAMS as of this revision

_SQLITE_UP = (
    f"CREATE VIRTUAL TABLE {TRIGRAMS} USING fts5(name, content='workspaces', content_rowid='seq', tokenize='trigram')",
    f"""CREATE TRIGGER {TRIGRAMS}_insert AFTER INSERT ON workspaces BEGIN
        INSERT INTO {TRIGRAMS}(rowid, name) VALUES (new.seq, new.name);
    END""",
    f"""CREATE TRIGGER {TRIGRAMS}_delete AFTER DELETE ON workspaces BEGIN
        INSERT INTO {TRIGRAMS}({TRIGRAMS}, rowid, name) VALUES ('delete', old.seq, old.name);
    END""",
    f"""CREATE TRIGGER {TRIGRAMS}_rename AFTER UPDATE OF name ON workspaces BEGIN
        INSERT INTO {TRIGRAMS}({TRIGRAMS}, rowid, name) VALUES ('delete', old.seq, old.name);
        INSERT INTO {TRIGRAMS}(rowid, name) VALUES (new.seq, new.name);
    END""",
    f"INSERT INTO {TRIGRAMS}({TRIGRAMS}) VALUES ('rebuild')",  # the names already stored
)
_SQLITE_DOWN = (
    f"DROP TRIGGER {TRIGRAMS}_rename",
    f"DROP TRIGGER {TRIGRAMS}_delete",
    f"DROP TRIGGER {TRIGRAMS}_insert",
    f"DROP TABLE {TRIGRAMS}",
)
_PG_INDEX = f"CREATE INDEX {TRIGRAMS} ON workspaces USING gin (name gin_trgm_ops)"


def upgrade() -> None:
    op.create_index("ix_workspaces_parent_id", "workspaces", ["parent_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            bind.exec_driver_sql(statement)
    elif bind.dialect.name == "postgresql" and _pg_trgm(bind):
        bind.exec_driver_sql(_PG_INDEX)


def _pg_trgm(bind: sa.Connection) -> bool:
    """Whether pg_trgm is there or this role may create it (a trusted extension: the database's
    owner may). If not, the search still answers, by reading the whole table, and the log says how to fix that."""
    try:
        with bind.begin_nested():  # a refused CREATE aborts only the savepoint, not the migration
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return True
    except sa.exc.DBAPIError as error:
        log.warning(
            "pg_trgm could not be created (%s). Name searches still work but read every workspace. "
            "A role that may create extensions enables the index with: CREATE EXTENSION pg_trgm; %s;",
            str(error.orig).strip().splitlines()[0],
            _PG_INDEX,
        )
        return False


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            bind.exec_driver_sql(statement)
    elif bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"DROP INDEX IF EXISTS {TRIGRAMS}")  # absent when pg_trgm was refused
    op.drop_index("ix_workspaces_parent_id", table_name="workspaces")
