"""The hot paths' writes: compiled once per database from the ORM's tables, run as the driver's statements.

A create writes its workspace and its decision, a gateway a receipt and its usage for every
call, and Core's work per statement (cache key, compiled parameters, result and primary-key
fetch) cost as much as SQLite's own. :class:`DriverStatement` keeps that work to converting
the values; :class:`RowInsert` is one for a table's row; :class:`JointInsert` sends several
rows in one statement on PostgreSQL, where each statement is a round trip.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import UpdateBase

from . import engines

__all__ = ["DriverStatement", "JointInsert", "RowInsert"]

_Named = tuple[str, int, str, Callable[[Any], Any] | None]
"""A joint statement's parameter: its name, which row and column it takes, and the column's bind processor."""


class DriverStatement:
    """A Core statement with named parameters, compiled by SQLAlchemy once per dialect and run as the
    driver's statement, each value through its parameter type's own bind processor.

    Its rows go in one of the driver's ``executemany``: on SQLite on SQLite's own connection (a
    failure there runs again through SQLAlchemy, which raises, logs and counts it like any other),
    elsewhere with ``exec_driver_sql`` (PostgreSQL's round trip dwarfs the difference, and its
    errors must reach SQLAlchemy's disconnect handling).
    """

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement
        self._prepared: dict[str, _Prepared] = {}

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once for each of ``rows``, which name a value for every parameter."""
        prepared = self.prepared(connection.dialect)
        values = [prepared.values(row) for row in rows]
        if connection.dialect.name == "sqlite":
            with suppress(sqlite3.Error):  # if not, again through SQLAlchemy, which raises, logs and counts it
                connection.connection.driver_connection.executemany(prepared.sql, values)  # type: ignore[union-attr]
                return
        connection.exec_driver_sql(prepared.sql, values)

    def prepared(self, dialect: Dialect) -> _Prepared:
        """The statement compiled for ``dialect`` and each parameter's bind processor, worked out once."""
        return self._prepared.get(dialect.name) or self._prepared.setdefault(dialect.name, self._prepare(dialect))

    def _prepare(self, dialect: Dialect) -> _Prepared:
        compiled = self.statement.compile(dialect=dialect)
        names = compiled.positiontup or list(compiled.binds)
        order = tuple((name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names)
        return _Prepared(str(compiled), order, positional=compiled.positional)


class RowInsert(DriverStatement):
    """An INSERT of one row into ``table``: every column but the autoincrement key, compiled from the
    table (no column list is written out). :meth:`run` inserts one row, on SQLite with
    :func:`.engines.sqlite_statement`; :meth:`~DriverStatement.run_many` a batch (the call receipts')."""

    def __init__(self, table: Table) -> None:
        super().__init__(insert(table).inline())
        self.table = table
        skipped = table.autoincrement_column
        self.columns = tuple(column for column in table.columns if column is not skipped)

    def run(self, connection: Connection, row: Mapping[str, Any]) -> None:
        """Insert ``row``, which has a value for every one of :attr:`columns` (a ``KeyError`` if not)."""
        prepared = self.prepared(connection.dialect)
        values = prepared.values(row)
        if connection.dialect.name == "sqlite":
            engines.sqlite_statement(connection, prepared.sql, values)
        else:
            connection.exec_driver_sql(prepared.sql, values)

    def _prepare(self, dialect: Dialect) -> _Prepared:
        keys = [column.key for column in self.columns]
        compiled = self.statement.compile(dialect=dialect, column_keys=keys)
        processors = {column.key: column.type.dialect_impl(dialect).bind_processor(dialect) for column in self.columns}
        order = tuple((key, processors[key]) for key in (compiled.positiontup or keys))
        return _Prepared(str(compiled), order, positional=compiled.positional)


class JointInsert:
    """One row into each of several tables in the caller's transaction, as :class:`RowInsert` each.

    On PostgreSQL they go as one statement, every insert but the last a data-modifying ``WITH``:
    one round trip where one statement each cost one each (a create writes its workspace and its
    decision). SQLite has no such statement and no round trip to save, so there each runs alone.
    A row the database refuses raises ``IntegrityError``; the caller's transaction, rolled back, keeps none of them.
    """

    def __init__(self, *inserts: RowInsert) -> None:
        self.inserts = inserts
        self._postgresql: tuple[str, tuple[_Named, ...]] | None = None

    def run(self, connection: Connection, *rows: Mapping[str, Any]) -> None:
        """Insert ``rows``, one per insert and in their order."""
        if len(rows) != len(self.inserts):
            raise ValueError(f"{len(self.inserts)} rows are inserted together, not {len(rows)}")
        if connection.dialect.name != "postgresql":
            for each, row in zip(self.inserts, rows, strict=True):
                each.run(connection, row)
            return
        sql, order = self._postgresql or self._prepare(connection.dialect)
        values = {name: rows[n][key] if process is None else process(rows[n][key]) for name, n, key, process in order}
        connection.exec_driver_sql(sql, values)

    def _prepare(self, dialect: Dialect) -> tuple[str, tuple[_Named, ...]]:
        order: list[_Named] = []
        statements = []
        for n, each in enumerate(self.inserts):
            names = {column.key: f"r{n}_{column.key}" for column in each.columns}
            statements.append(
                insert(each.table).values(
                    {column.key: bindparam(names[column.key], type_=column.type) for column in each.columns}
                )
            )
            order.extend((names[key], n, key, process) for key, process in each.prepared(dialect).order)
        joint = statements[-1].inline()
        for n, statement in enumerate(statements[:-1]):
            joint = joint.add_cte(statement.cte(f"row{n}"))
        self._postgresql = (str(joint.compile(dialect=dialect)), tuple(order))
        return self._postgresql


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A compiled INSERT and how to turn a row into its parameters, in the driver's style."""

    sql: str
    order: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    positional: bool

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self.positional:
            return tuple(row[key] if process is None else process(row[key]) for key, process in self.order)
        return {key: row[key] if process is None else process(row[key]) for key, process in self.order}
