"""Alembic environment: runs on the connection routegate hands over (see db.Database.upgrade)."""

from alembic import context

from routegate.service.db import Base, declared_by_orm

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=True, include_name=declared_by_orm
)
with context.begin_transaction():
    context.run_migrations()
