"""``Idempotency-Key``: a retried create or model change gets the first answer again and writes nothing.

A client that lost the answer to ``POST /workspaces`` (killed mid-request, a
timeout) cannot know whether the workspace exists; retrying without a key
would create "name (2)". With a key, the first request that is admitted
stores its answer under the key in the same transaction as the workspace, so
either both exist or neither does. A retry with the same key and the same
request gets that answer back; the same key with another request is refused
(``IDEMPOTENCY_KEY_REUSED``). The key's row is the database's to decide: of
concurrent requests with one key, on any worker or machine, one inserts it and
the others read its answer. Only admitted requests are remembered: a refusal
wrote nothing, so a retry decides again (a reload may have fixed the manifest).

The key's row is inserted before the write it answers for, in the write's own
transaction (:func:`claim`), so a concurrent request with the same key waits on
(PostgreSQL) or queues behind (SQLite) the first instead of writing too;
:meth:`IdempotencyKeys.write_once` answers the loser with the winner's answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError

from .conflicts import unique_violation
from .db import Database, IdempotencyKey, utcnow
from .http_errors import ServiceCode, ServiceError
from .inserts import RowInsert

__all__ = [
    "KEY_HEADER",
    "KEY_LIFETIME",
    "KEY_PARAMETER",
    "REPLAYED_HEADER",
    "Answer",
    "IdempotencyKeys",
    "KeyTaken",
    "KeyedRequest",
    "claim",
]

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LIFETIME = timedelta(hours=24)

_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(_KEY_PATTERN)

# The header as OpenAPI documents it on the routes that take it (``openapi_extra``). It is read
# by :meth:`KeyedRequest.of`, not declared as a FastAPI parameter: FastAPI resolves a declared
# header on every request, keyed or not, at a cost the create path could measure.
KEY_PARAMETER: dict[str, Any] = {
    "name": KEY_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": _KEY_PATTERN, "maxLength": 255},
    "description": "any 1-255 visible ASCII characters, unique per request (a UUID): a retry with the same key "
    "and body gets the first answer again and creates nothing; kept 24 hours",
}


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A request sent with an ``Idempotency-Key``, and a hash of what it asked for."""

    key: str
    request_hash: str

    @classmethod
    def of(cls, request: Request, body: BaseModel) -> KeyedRequest | None:
        """The request's key, or None without one; a malformed key is refused as an invalid field.
        The hash covers the method, the path and the validated body, so spellings that ask for
        the same thing (key order, spacing) are one request."""
        key = request.headers.get(KEY_HEADER)
        if key is None:
            return None
        if not _KEY.fullmatch(key):
            raise RequestValidationError(
                [
                    {
                        "type": "string_pattern_mismatch",
                        "loc": ("header", KEY_HEADER),
                        "msg": f"String should match pattern '{_KEY_PATTERN}'",
                    }
                ]
            )
        asked = [request.method, request.url.path, body.model_dump(mode="json")]
        canonical = json.dumps(asked, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return cls(key, hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True, slots=True)
class Answer:
    """The body of an admitted write; ``replayed`` when it is an earlier request's, returned again."""

    body: dict[str, Any]
    replayed: bool = False


_INSERT_KEY = RowInsert(IdempotencyKey.__table__)  # type: ignore[arg-type]
_MAX_ATTEMPTS = 64  # claims lost to a key that expired before its answer was read, before giving up with 409


class KeyTaken(Exception):
    """Another request inserted this idempotency key first; its answer is in the database."""


def claim(transaction: Connection, keyed: KeyedRequest | None, answer: dict[str, Any], now: datetime) -> None:
    """Insert the request's key and answer in the write's transaction; raises KeyTaken when another request has it."""
    if keyed is None:
        return
    try:
        _INSERT_KEY.run(
            transaction, {"key": keyed.key, "request_hash": keyed.request_hash, "response": answer, "created_at": now}
        )
    except IntegrityError as error:
        if unique_violation(error):
            raise KeyTaken from None
        raise


class IdempotencyKeys:
    """The stored keys: replay a request's answer, or run its write once."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def replay(self, keyed: KeyedRequest | None) -> Answer | None:
        """The answer stored under the request's key, if a live one is; None when there is none.

        Raises IDEMPOTENCY_KEY_REUSED when the key was used for another request.
        """
        if keyed is None:
            return None
        with self.database.read() as session:
            row = session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.key == keyed.key, IdempotencyKey.created_at >= utcnow() - KEY_LIFETIME
                )
            )
        if row is None:
            return None
        if row.request_hash != keyed.request_hash:
            raise ServiceError(
                ServiceCode.IDEMPOTENCY_KEY_REUSED,
                f"this {KEY_HEADER} was already used for another request (another method, path or body) within "
                f"{KEY_LIFETIME.total_seconds() / 3600:.0f} hours; send a new key for a new request",
            )
        return Answer(row.response, replayed=True)

    def write_once(self, keyed: KeyedRequest | None, write: Callable[[], dict[str, Any]]) -> Answer:
        """Run ``write``, which claims ``keyed`` in its own transaction; when another request
        claimed the key first, answer with what that request got."""
        for _ in range(_MAX_ATTEMPTS):
            self._forget_expired(keyed)
            try:
                return Answer(write())
            except KeyTaken:
                answer = self.replay(keyed)
                if answer is not None:
                    return answer
                # The holder's row expired between the purge and the claim: purge and claim again.
        raise ServiceError(
            ServiceCode.NAME_CONFLICT,
            f"too many concurrent requests with one {KEY_HEADER}; retry it",
        )

    def _forget_expired(self, keyed: KeyedRequest | None) -> None:
        """Delete keys past their lifetime, in their own short transaction, before a keyed write."""
        if keyed is None:
            return
        with self.database.write() as session:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - KEY_LIFETIME))
