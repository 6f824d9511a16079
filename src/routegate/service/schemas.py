"""Request and response shapes: required fields, bounded strings, and text that
shows what it says (no control or format characters), env var names only.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from routegate._ids import ENV_NAME_PATTERN, hidden_character
from routegate.gate import CreateRequest
from routegate.templates import normalise_template_name

from .errors import ServiceCode, ServiceError
from .middleware import SAFE_METHODS

__all__ = [
    "JSON_MEDIA_TYPE",
    "ActivateVersion",
    "ChangeModel",
    "CheckModel",
    "CreateWorkspace",
    "ErrorOut",
    "PublishManifest",
    "WorkspaceOut",
    "WorkspacePage",
    "require_json",
]

JSON_MEDIA_TYPE = "application/json"


def _visible(value: str) -> str:
    """Refuse the first hidden character (the core's rule, shared with the manifest), naming it and its position."""
    problem = hidden_character(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _stripped_not_blank(value: str) -> str:
    """Surrounding spaces are dropped, so "dup" and " dup " are one name (and get suffixes)."""
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _text(max_length: int) -> Any:
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_visible)]


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_visible),
    AfterValidator(_stripped_not_blank),
]
Runtime = _text(64)
ModelId = _text(256)
TemplateName = Annotated[
    str,
    StringConstraints(max_length=200),
    AfterValidator(_visible),
    AfterValidator(normalise_template_name),  # stored as 'hermes' however it was spelt ('./hermes', 'hermes/')
]
Role = _text(100)
Url = _text(2048)
EnvName = Annotated[str, StringConstraints(pattern=f"^{ENV_NAME_PATTERN}$", max_length=128)]  # the manifest's rule
EnvNames = Annotated[list[EnvName], Field(max_length=32, description="env var NAMES the workspace has, never values")]
WorkspaceId = Annotated[str, StringConstraints(max_length=36), AfterValidator(_visible)]


async def require_json(request: Request) -> None:
    """Check of the JSON endpoints (a dependency, or a route class's first step): an unsafe
    request that carries a body (or names its type) must send it as ``application/json``.
    Forms and ``text/plain``, the bodies a page on another site can make a browser send
    without asking, are refused with 415 before anything runs. ``async`` so it runs on the
    event loop, not in a worker thread (it never waits)."""
    if request.method in SAFE_METHODS:
        return
    declared = request.headers.get("content-type")
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if declared is None and not has_body:
        return
    media = (declared or "").partition(";")[0].strip().lower()
    if media != JSON_MEDIA_TYPE:
        sent = "a body without a Content-Type" if declared is None else f"Content-Type {declared[:100]!r}"
        raise ServiceError(
            ServiceCode.UNSUPPORTED_MEDIA_TYPE,
            f"this endpoint reads JSON: send the body with Content-Type: {JSON_MEDIA_TYPE}, not {sent}",
            content_type=None if declared is None else declared[:100],
        )


_STRICT = ConfigDict(extra="forbid", strict=True)


class CreateWorkspace(BaseModel):
    model_config = _STRICT

    name: Name
    role: Role | None = None  # type: ignore[valid-type]
    runtime: Runtime | None = None  # type: ignore[valid-type]
    template: TemplateName | None = None
    model: ModelId | None = None  # type: ignore[valid-type]
    external: bool = False
    url: Url | None = None  # type: ignore[valid-type]
    parent_id: WorkspaceId | None = None
    auth_env: EnvNames = Field(default_factory=list)

    def gate_request(self) -> CreateRequest:
        return CreateRequest(
            name=self.name,
            runtime=self.runtime,
            template=self.template,
            model=self.model,
            external=self.external,
            auth_env=frozenset(self.auth_env),
        )


class ChangeModel(BaseModel):
    model_config = _STRICT

    model: ModelId  # type: ignore[valid-type]
    auth_env: EnvNames | None = None


class CheckModel(BaseModel):
    model_config = _STRICT

    runtime: Runtime  # type: ignore[valid-type]
    model: ModelId  # type: ignore[valid-type]
    auth_env: EnvNames = Field(default_factory=list)


def _no_surrogates(value: str) -> str:
    """YAML text may hold newlines and tabs, but not halves of characters (they have no UTF-8 bytes)."""
    if re.search("[\ud800-\udfff]", value):
        raise ValueError("lone surrogates are not text; send the manifest as UTF-8")
    return value


ManifestText = Annotated[str, StringConstraints(min_length=1), AfterValidator(_no_surrogates)]


class PublishManifest(BaseModel):
    model_config = _STRICT

    manifest: ManifestText = Field(description="the manifest's YAML text (providers.yaml)")
    note: _text(1000) | None = None  # type: ignore[valid-type]
    dry_run: bool = False
    force: bool = Field(
        False, description="publish even if stored workspaces would be stranded or moved to platform billing"
    )


class ActivateVersion(BaseModel):
    model_config = _STRICT

    force: bool = False
    dry_run: bool = False


class WorkspaceOut(BaseModel):
    id: str
    name: str
    runtime: str
    model: str | None
    template: str | None
    parent_id: str | None
    provider: str | None
    billing_mode: str | None
    required_env: list[str]
    created_at: str
    updated_at: str
    role: str | None
    external: bool
    url: str | None
    auth_env: list[str]
    manifest_fingerprint: str
    manifest_version: int | None


class WorkspacePage(BaseModel):
    items: list[WorkspaceOut]
    next_cursor: str | None


class ErrorOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    error: str
    code: str
