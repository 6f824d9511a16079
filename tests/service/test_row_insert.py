"""The store's hot inserts (``RowInsert``) against SQLAlchemy Core's own, on SQLite and PostgreSQL.

``RowInsert`` compiles an INSERT from the table and hands the driver values it
converted with each column type's bind processor. Whatever the values (texts
with quotes and non-ASCII letters, None, JSON lists, moments in any offset,
booleans), the row it writes must read back exactly as the row Core's
``insert()`` writes from the same values; a missing column writes nothing; and
a refused row raises SQLAlchemy's ``IntegrityError`` and leaves the
transaction usable, as the store's name allocation expects.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Integer, String, Table, event, insert, select
from sqlalchemy.exc import IntegrityError

from routegate.service.db import Action, Database, DecisionRecord, IdempotencyKey, Workspace
from routegate.service.inserts import JointInsert, RowInsert

TABLES: dict[str, Table] = {
    model.__tablename__: model.__table__  # type: ignore[misc]
    for model in (Workspace, DecisionRecord, IdempotencyKey)
}


# Characters either database stores in a text column: no NUL, no lone surrogate.
CHARACTERS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
UNBOUNDED_TEXT = 40  # how long a drawn TEXT (no length limit) may be
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(CHARACTERS)
JSON_VALUES = st.recursive(
    JSON_SCALARS | st.floats(allow_nan=False, allow_infinity=False),  # JSON has no NaN or Infinity
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(CHARACTERS, max_size=8), inner, max_size=3),
    max_leaves=8,
)
# A TypeDecorator's values are the domain it stands for, which its SQL type cannot tell.
DECORATED = {type(TABLES["decisions"].c.action.type): st.sampled_from(list(Action))}

_numbers = itertools.count()


def _of_type(column: Column[Any]) -> st.SearchStrategy[Any]:
    """Values the column's type accepts on every database, within its length."""
    kind = column.type
    if type(kind) in DECORATED:
        return DECORATED[type(kind)]
    if isinstance(kind, Boolean):
        return st.booleans()
    if isinstance(kind, BigInteger):
        return st.integers(-(2**63), 2**63 - 1)
    if isinstance(kind, Integer):
        return st.integers(-(2**31), 2**31 - 1)
    if isinstance(kind, DateTime):
        zones = st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))])
        return st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=zones if kind.timezone else st.none())
    if isinstance(kind, JSON):
        return JSON_VALUES
    if isinstance(kind, String):  # Text included; a VARCHAR's length counts characters on PostgreSQL
        return st.text(CHARACTERS, max_size=kind.length or UNBOUNDED_TEXT)
    raise AssertionError(f"no values for {column.table.name}.{column.key} of type {kind!r}: add its type here")


def _values(column: Column[Any]) -> st.SearchStrategy[Any]:
    """Values for one column, read from its definition: its type and length, and None where nullable."""
    if column.foreign_keys:
        assert column.nullable, f"{column} needs a row to point at"
        return st.none()  # no row to point at here
    values = _of_type(column)
    return st.none() | values if column.nullable else values


def _unique(table: Table) -> set[str]:
    """The columns a second row must not repeat: keys, unique columns, and those of unique indexes."""
    indexed = {column.key for index in table.indexes if index.unique for column in index.columns}
    return indexed | {column.key for column in table.columns if column.primary_key or column.unique}


def _lookup(table: Table) -> str:
    """A column that finds a row again: a unique one, else an indexed one given a fresh value per row."""
    columns = RowInsert(table).columns
    unique = [column.key for column in columns if column.key in _unique(table)]
    indexed = [column.key for index in table.indexes for column in index.columns if isinstance(column.type, String)]
    return (unique or indexed)[0]


@st.composite
def rows(draw: st.DrawFn, table: Table) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two rows for ``table`` with the same values but their unique keys (and lookup column)."""
    first, second = f"row-{next(_numbers)}", f"row-{next(_numbers)}"  # fresh every example, shrunk or not
    fresh = _unique(table) | {_lookup(table)}
    values = {column.key: draw(_values(column)) for column in RowInsert(table).columns if column.key not in fresh}
    one = values | {column.key: first for column in RowInsert(table).columns if column.key in fresh}
    other = values | {column.key: second for column in RowInsert(table).columns if column.key in fresh}
    return one, other


def _read(database: Database, table: Table, key: str, value: str) -> dict[str, Any]:
    with database.engine.connect() as connection:
        row = connection.execute(select(table).where(table.c[key] == value)).mappings().one()
    skipped = table.autoincrement_column
    return {name: row[name] for name in row if skipped is None or name != skipped.key}


@pytest.mark.parametrize("table_name", sorted(TABLES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_row_reads_back_as_cores_insert_writes_it(database: Database, table_name: str, data: st.DataObject) -> None:
    table = TABLES[table_name]
    ours, cores = data.draw(rows(table))
    key = _lookup(table)
    with database.write_connection() as connection:
        RowInsert(table).run(connection, ours)
        connection.execute(insert(table), cores)
    read_ours, read_cores = _read(database, table, key, ours[key]), _read(database, table, key, cores[key])
    fresh = _unique(table) | {key}
    assert {k: v for k, v in read_ours.items() if k not in fresh} == {
        k: v for k, v in read_cores.items() if k not in fresh
    }


def test_the_columns_are_every_column_but_the_autoincrement_key() -> None:
    for table in TABLES.values():
        skipped = table.autoincrement_column
        assert [c.key for c in RowInsert(table).columns] == [c.key for c in table.columns if c is not skipped]
    assert "seq" not in {c.key for c in RowInsert(TABLES["workspaces"]).columns}
    assert "key" in {c.key for c in RowInsert(TABLES["idempotency_keys"]).columns}  # a key the caller gives


def test_a_missing_column_writes_nothing(database: Database) -> None:
    table = TABLES["idempotency_keys"]
    row = {"key": "missing-column", "request_hash": "h", "created_at": datetime.now(UTC)}  # no "response"
    with pytest.raises(KeyError, match="response"), database.write_connection() as connection:
        RowInsert(table).run(connection, row)
    with database.engine.connect() as connection:
        assert connection.execute(select(table).where(table.c.key == "missing-column")).first() is None


def test_a_refused_row_raises_sqlalchemys_integrity_error_and_the_transaction_goes_on(database: Database) -> None:
    table = TABLES["idempotency_keys"]
    inserter = RowInsert(table)

    def row(key: str) -> dict[str, Any]:
        return {"key": key, "request_hash": "h", "response": {"n": 1}, "created_at": datetime.now(UTC)}

    with database.write_connection() as connection:
        inserter.run(connection, row("taken"))
    with database.write_connection() as connection:
        with pytest.raises(IntegrityError):
            if connection.dialect.name == "postgresql":
                with connection.begin_nested():  # PostgreSQL ends a transaction at its first error
                    inserter.run(connection, row("taken"))
            else:
                inserter.run(connection, row("taken"))
        inserter.run(connection, row("after-the-refusal"))
    with database.engine.connect() as connection:
        keys = set(connection.scalars(select(table.c.key)))
    assert {"taken", "after-the-refusal"} <= keys


JOINT = (TABLES["workspaces"], TABLES["decisions"])  # the create's two rows


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_rows_inserted_together_read_back_as_cores_inserts_write_them(database: Database, data: st.DataObject) -> None:
    drawn = [data.draw(rows(table)) for table in JOINT]
    with database.write_connection() as connection:
        JointInsert(*map(RowInsert, JOINT)).run(connection, *(ours for ours, _ in drawn))
        for table, (_, cores) in zip(JOINT, drawn, strict=True):
            connection.execute(insert(table), cores)
    for table, (ours, cores) in zip(JOINT, drawn, strict=True):
        key = _lookup(table)
        fresh = _unique(table) | {key}
        read_ours, read_cores = _read(database, table, key, ours[key]), _read(database, table, key, cores[key])
        assert {k: v for k, v in read_ours.items() if k not in fresh} == {
            k: v for k, v in read_cores.items() if k not in fresh
        }


def _key_row(name: str) -> dict[str, Any]:
    return {"key": name, "request_hash": "h", "response": {"n": 1}, "created_at": datetime.now(UTC)}


def _workspace_row(name: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {column.key: None for column in RowInsert(TABLES["workspaces"]).columns} | {
        "id": f"id-{name}",
        "name": name,
        "runtime": "hermes",
        "external": False,
        "required_env": [],
        "auth_env": [],
        "manifest_fingerprint": "0" * 16,
        "created_at": now,
        "updated_at": now,
    }


KEY_AND_WORKSPACE = (TABLES["idempotency_keys"], TABLES["workspaces"])


@pytest.mark.parametrize("refused", [0, 1])
def test_rows_inserted_together_are_refused_together(database: Database, refused: int) -> None:
    """Whichever of the rows the database refuses, the caller gets SQLAlchemy's IntegrityError
    (the store's name allocation reads it) and neither row stays."""
    together = JointInsert(*map(RowInsert, KEY_AND_WORKSPACE))
    taken = f"taken-{refused}"
    with database.write_connection() as connection:
        together.run(connection, _key_row(taken), _workspace_row(taken))
    fresh = f"new-{refused}"
    clashing = (_key_row(taken), _workspace_row(fresh)) if refused == 0 else (_key_row(fresh), _workspace_row(taken))
    with pytest.raises(IntegrityError), database.write_connection() as connection:
        together.run(connection, *clashing)
    keys, workspaces = KEY_AND_WORKSPACE
    with database.engine.connect() as connection:
        assert connection.execute(select(keys).where(keys.c.key == fresh)).first() is None
        assert connection.execute(select(workspaces).where(workspaces.c.name == fresh)).first() is None


def test_rows_inserted_together_are_one_per_insert(database: Database) -> None:
    with pytest.raises(ValueError, match="2 rows"), database.write_connection() as connection:
        JointInsert(*map(RowInsert, JOINT)).run(connection, {})


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_rows_inserted_together_are_one_statement_on_postgresql(database: Database) -> None:
    """One round trip (SQLite, with no round trip to save, runs one statement each)."""
    statements: list[str] = []
    with database.write_connection() as connection:
        event.listen(connection, "before_cursor_execute", lambda *args: statements.append(args[2]))
        JointInsert(*map(RowInsert, KEY_AND_WORKSPACE)).run(connection, _key_row("one"), _workspace_row("one"))
    assert len(statements) == 1 and statements[0].startswith("WITH"), statements
