"""The ceiling for ``POST /workspaces``: bare FastAPI and one SQLAlchemy Core insert per request.

    python bench/_ceiling.py --port N [--workers W]

bench/service.py serves this beside routegate and drives both the same way. It is
served as ``routegate serve`` serves: uvicorn on a listener made by
:func:`routegate.service.server.listening_socket` (with ``TCP_NODELAY``, for one
worker or several), the same log level (so both write an access line per request)
and no Server header. The database is ``CEILING_DATABASE_URL``, set up like
routegate's (SQLite in WAL mode with ``synchronous=NORMAL``, PostgreSQL through
psycopg 3); bench/service.py creates the table before the server starts.
"""

from __future__ import annotations

import argparse
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, Text, create_engine, event, insert

ROWS = Table(
    "ceiling_rows",
    MetaData(),
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), unique=True),
    Column("name", String(255)),
    Column("runtime", Text),
    Column("model", Text),
    Column("created_at", DateTime(timezone=True)),
)


def engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=10)
    created = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=8)

    @event.listens_for(created, "connect")
    def _wal(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return created


class Create(BaseModel):
    name: str
    runtime: str
    model: str | None = None


app = FastAPI()
_engine = engine(os.environ.get("CEILING_DATABASE_URL", "sqlite://"))


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/workspaces", status_code=201)
def create(body: Create) -> dict[str, Any]:
    row = {"id": str(uuid.uuid4()), **body.model_dump(), "created_at": datetime.now(UTC)}
    with _engine.begin() as connection:
        connection.execute(insert(ROWS), row)
    return row


def main() -> None:
    import uvicorn
    from uvicorn.supervisors.multiprocess import Multiprocess

    from routegate.service.server import listening_socket

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    listener = listening_socket("127.0.0.1", args.port)
    config = uvicorn.Config("_ceiling:app", workers=args.workers, log_level="info", server_header=False)
    if args.workers == 1:
        uvicorn.Server(config).run(sockets=[listener])
    else:
        Multiprocess(config, sockets=[listener]).run()


if __name__ == "__main__":
    main()
