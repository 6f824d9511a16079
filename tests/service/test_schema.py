"""The database schema as the service runs it: migrations agree with the ORM, and the
free-name query is one the (parent, name) index answers; plus the error statuses in OpenAPI.
"""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import httpx
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, text

from routegate.service.db import Base, declared_by_orm
from routegate.service.http_errors import STATUS

from .conftest import LiveServer

HERMES = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}


def test_migrations_build_what_the_orm_declares(server: LiveServer) -> None:
    """The server migrated its database at start; the ORM must describe exactly that."""
    with server.state.database.engine.connect() as connection, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alembic skips the expression index (coalesce) with a warning
        opts = {"compare_type": True, "include_name": declared_by_orm}  # as migrations/env.py compares
        context = MigrationContext.configure(connection, opts=opts)
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_choosing_a_free_name_reads_the_parent_name_index(server: LiveServer, client: httpx.Client) -> None:
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT WORKSPACES.NAME"):
            statements.append((statement, parameters))

    engine = server.state.database.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        name = f"Plan-{uuid.uuid4().hex[:6]}"
        names = [
            client.post("/workspaces", json={"name": n, **HERMES}).json()["name"] for n in (name, name.lower(), name)
        ]
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert names == [name, name.lower(), f"{name} (2)"]  # case matters: "plan-x" is another name
    assert statements, "no free-name query was seen"
    statement, parameters = statements[-1]
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "INDEX uq_workspaces_parent_name (<expr>=? AND name>? AND name<?)" in plan, plan
        else:
            connection.execute(text("SET enable_seqscan = off"))  # a tiny table: ask whether the index CAN serve
            plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))
            assert "uq_workspaces_parent_name" in plan, plan
            condition = plan.partition("Index Cond:")[2]
            assert "(name)::text >=" in condition and "(name)::text <" in condition, plan


def test_openapi_lists_every_error_status(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    expected = {str(status) for status in STATUS.values()}
    for path, method in (("/workspaces", "post"), ("/workspaces/{workspace_id}/model", "put"), ("/decisions", "get")):
        assert expected <= set(schema["paths"][path][method]["responses"]), (path, method)
    health = schema["paths"]["/healthz"]["get"]["responses"]["503"]
    assert health["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ErrorOut"


def test_openapi_documents_the_idempotency_key_on_the_writes_that_take_it(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    for path, method in (("/workspaces", "post"), ("/workspaces/{workspace_id}/model", "put")):
        headers = [p for p in schema["paths"][path][method].get("parameters", []) if p["in"] == "header"]
        assert [(p["name"], p["required"]) for p in headers] == [("Idempotency-Key", False)], (path, headers)
        assert headers[0]["schema"]["pattern"] == r"^[\x21-\x7e]{1,255}$"
    others = schema["paths"]["/workspaces/{workspace_id}"]["delete"].get("parameters", [])
    assert all(p["in"] != "header" for p in others)
