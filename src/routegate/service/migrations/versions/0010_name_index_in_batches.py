"""SQLite's name index is written in batches: a create queues its name, not an FTS5 write

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

An FTS5 insert in a transaction of its own writes a new index segment at its commit
(130-160 us measured alone), inside the create's write transaction, which on SQLite every
create takes in turn. Now an inserted workspace's ``seq`` goes into ``workspace_name_trigrams_pending`` (a plain
B-tree insert), and :mod:`routegate.service.name_index` moves pending names into the FTS5
table in batches: in the background, and before every search, so a search still finds every
name committed before it. A rename or delete of a workspace still pending only updates the
queue; of an indexed one, it updates the index as before. PostgreSQL's ``pg_trgm`` index is
unchanged.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TRIGRAMS = "workspace_name_trigrams"  # db.NAME_TRIGRAMS as of this revision
PENDING = f"{TRIGRAMS}_pending"
_INDEXED = f"NOT EXISTS (SELECT 1 FROM {PENDING} WHERE seq = old.seq)"

_UP = (
    f"CREATE TABLE {PENDING} (seq INTEGER PRIMARY KEY)",
    f"DROP TRIGGER {TRIGRAMS}_insert",
    f"DROP TRIGGER {TRIGRAMS}_delete",
    f"DROP TRIGGER {TRIGRAMS}_rename",
    f"""CREATE TRIGGER {TRIGRAMS}_insert AFTER INSERT ON workspaces BEGIN
        INSERT INTO {PENDING}(seq) VALUES (new.seq);
    END""",
    f"""CREATE TRIGGER {TRIGRAMS}_delete AFTER DELETE ON workspaces BEGIN
        INSERT INTO {TRIGRAMS}({TRIGRAMS}, rowid, name) SELECT 'delete', old.seq, old.name WHERE {_INDEXED};
        DELETE FROM {PENDING} WHERE seq = old.seq;
    END""",
    f"""CREATE TRIGGER {TRIGRAMS}_rename AFTER UPDATE OF name ON workspaces BEGIN
        INSERT INTO {TRIGRAMS}({TRIGRAMS}, rowid, name) SELECT 'delete', old.seq, old.name WHERE {_INDEXED};
        INSERT INTO {TRIGRAMS}(rowid, name) SELECT new.seq, new.name WHERE {_INDEXED};
    END""",
)
_DOWN = (
    f"INSERT INTO {TRIGRAMS}(rowid, name) SELECT w.seq, w.name FROM {PENDING} p JOIN workspaces w ON w.seq = p.seq",
    f"DROP TRIGGER {TRIGRAMS}_insert",
    f"DROP TRIGGER {TRIGRAMS}_delete",
    f"DROP TRIGGER {TRIGRAMS}_rename",
    f"DROP TABLE {PENDING}",
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
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _UP:
            bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _DOWN:
            bind.exec_driver_sql(statement)
