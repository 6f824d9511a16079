"""Where two writers meet in the database: the violations that tell a caller another request won,
and the lock order that keeps two transactions from waiting on each other."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

__all__ = ["foreign_key_violation", "lock_in_key_order", "unique_violation"]


def lock_in_key_order(session: Session, rows: Select[Any]) -> None:
    """Lock ``rows`` (ordered by their key) before changing them, as every writer of those rows does.

    Two PostgreSQL transactions locking shared rows in different orders can each hold a row
    the other waits for: a deadlock, which costs a second and fails one of them. SQLite's
    writers take turns, so there it sends nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(rows.with_for_update(key_share=True))


def _violates(error: IntegrityError, sqlstate: str, sqlite_text: str) -> bool:
    state = getattr(error.orig, "sqlstate", None)
    return state == sqlstate if state is not None else sqlite_text in str(error.orig)


def unique_violation(error: IntegrityError) -> bool:
    """A unique index refused the row: the name, or the idempotency key, is another request's."""
    return _violates(error, "23505", "UNIQUE constraint failed")


def foreign_key_violation(error: IntegrityError) -> bool:
    """A foreign key refused the change: a parent deleted meanwhile, or a child created meanwhile."""
    return _violates(error, "23503", "FOREIGN KEY constraint failed")
