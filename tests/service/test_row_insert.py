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
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError

from routegate.service.db import Action, Database, DecisionRecord, IdempotencyKey, RowInsert, Workspace

from .conftest import BACKENDS, database_url

TABLES: dict[str, Table] = {
    model.__tablename__: model.__table__  # type: ignore[misc]
    for model in (Workspace, DecisionRecord, IdempotencyKey)
}


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    for url in database_url(request.param, tmp_path_factory.mktemp(request.param)):
        opened = Database(url)
        opened.upgrade()
        yield opened
        opened.dispose()


text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
)
names = st.lists(st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True), max_size=4)


_numbers = itertools.count()
UNIQUE = {"id", "key", "workspace_id", "name"}  # given per row, so no unique index refuses one


def _value(column_key: str, draw: st.DrawFn) -> Any:
    """A value for one column, of the kind the store writes there."""
    if column_key == "parent_id":
        return None  # a foreign key: no parent to point at here
    if column_key == "action":
        return draw(st.sampled_from(list(Action)))
    if column_key in {"external", "admitted"}:
        return draw(st.booleans())
    if column_key in {"created_at", "updated_at"}:
        return draw(moments)
    if column_key in {"required_env", "auth_env", "candidates"}:
        return draw(names)
    if column_key == "response":
        return {"name": draw(text), "required_env": draw(names), "manifest_version": draw(st.integers(0, 9))}
    if column_key == "manifest_version":
        return draw(st.none() | st.integers(0, 2**31 - 1))
    if column_key in {"runtime", "manifest_fingerprint", "reason", "request_hash"}:
        return draw(text)
    return draw(st.none() | text)


@st.composite
def rows(draw: st.DrawFn, table: Table) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two rows for ``table`` with the same values but their unique keys."""
    first, second = f"row-{next(_numbers)}", f"row-{next(_numbers)}"  # fresh every example, shrunk or not
    values = {column.key: _value(column.key, draw) for column in RowInsert(table).columns if column.key not in UNIQUE}
    one = values | {column.key: first for column in table.columns if column.key in UNIQUE}
    other = values | {column.key: second for column in table.columns if column.key in UNIQUE}
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
    key = "key" if "key" in ours else "id" if "id" in ours else "workspace_id"
    with database.write_connection() as connection:
        RowInsert(table).run(connection, ours)
        connection.execute(insert(table), cores)
    read_ours, read_cores = _read(database, table, key, ours[key]), _read(database, table, key, cores[key])
    assert {k: v for k, v in read_ours.items() if k not in UNIQUE} == {
        k: v for k, v in read_cores.items() if k not in UNIQUE
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


def test_writes_to_a_sqlite_file_take_turns_and_postgresql_writes_do_not(database: Database) -> None:
    limiter = database.write_limiter
    if database.engine.dialect.name == "sqlite":
        assert limiter is not None and limiter.total_tokens == 1
    else:
        assert limiter is None  # the default thread pool: PostgreSQL takes concurrent writers
