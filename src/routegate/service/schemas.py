"""Request and response shapes. Gate 1 of section 7 lives here: required fields,
bounded strings, no control characters, env var names only.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from routegate.gate import CreateRequest

__all__ = [
    "ActivateVersion",
    "ChangeModel",
    "CheckModel",
    "CreateWorkspace",
    "ErrorOut",
    "PublishManifest",
    "WorkspaceOut",
    "WorkspacePage",
]

# C0/C1 controls and lone surrogates (JSON can carry them; no database should receive them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _no_controls(value: str) -> str:
    if _UNSAFE.search(value):
        raise ValueError("control characters are not allowed")
    return value


def _stripped_not_blank(value: str) -> str:
    """Surrounding spaces are dropped, so "dup" and " dup " are one name (and get suffixes)."""
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _text(max_length: int) -> Any:
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_no_controls)]


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_no_controls),
    AfterValidator(_stripped_not_blank),
]
Runtime = _text(64)
ModelId = _text(256)
TemplateName = _text(200)
Role = _text(100)
Url = _text(2048)
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
EnvNames = Annotated[list[EnvName], Field(max_length=32, description="env var NAMES the workspace has, never values")]
WorkspaceId = Annotated[str, StringConstraints(max_length=36), AfterValidator(_no_controls)]

_STRICT = ConfigDict(extra="forbid", strict=True)


class CreateWorkspace(BaseModel):
    model_config = _STRICT

    name: Name
    role: Role | None = None  # type: ignore[valid-type]
    runtime: Runtime | None = None  # type: ignore[valid-type]
    template: TemplateName | None = None  # type: ignore[valid-type]
    model: ModelId | None = None  # type: ignore[valid-type]
    external: bool = False
    url: Url | None = None  # type: ignore[valid-type]
    parent_id: WorkspaceId | None = None
    auth_env: EnvNames = []

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
    auth_env: EnvNames = []


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
