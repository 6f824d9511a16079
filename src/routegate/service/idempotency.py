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
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

__all__ = ["KEY_HEADER", "KEY_LIFETIME", "KEY_PARAMETER", "REPLAYED_HEADER", "Answer", "KeyedRequest"]

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
