"""Request and response shapes: required fields, bounded strings, and text that
shows what it says (no control or format characters), env var names only.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from fastapi import Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from routegate._ids import ENV_NAME_PATTERN, HIDDEN_CATEGORIES, hidden_character
from routegate.gate import CreateRequest
from routegate.templates import normalise_template_name

from .http_errors import ErrorOut, ServiceCode, ServiceError
from .middleware import SAFE_METHODS

__all__ = [
    "JSON_MEDIA_TYPE",
    "ActivateVersion",
    "ChangeModel",
    "CheckModel",
    "CreateWorkspace",
    "DecisionOut",
    "DecisionPage",
    "ErrorOut",
    "HealthOut",
    "PublishManifest",
    "RegistryOut",
    "RuntimeEnvOut",
    "RuntimeOut",
    "TemplatesOut",
    "VersionPage",
    "WorkspaceOut",
    "WorkspacePage",
    "hidden_class",
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


def _class_items(codes: list[int]) -> str:
    """Code points as the inside of a regex character class, in ranges; the BMP spelt ``\\uXXXX``
    (read alike by ECMA-262 and Python), the astral planes as the characters themselves."""
    items = []
    start = previous = codes[0]
    for code in [*codes[1:], -1]:
        if code == previous + 1:
            previous = code
            continue
        low, high = (rf"\u{c:04x}" if c <= 0xFFFF else chr(c) for c in (start, previous))
        items.append(low if start == previous else f"{low}-{high}")
        start = previous = code
    return "".join(items)


@cache
def hidden_class() -> str:
    """The character class items of every hidden character (see ``HIDDEN_CATEGORIES``), from this
    Python's Unicode tables, as ``_visible`` sees them. Built when the OpenAPI document is (once).

    Lone surrogates are left out: no UTF-8 text holds one, and regex engines that work on
    code points (Rust's, which schemathesis validates with) refuse a class that names them.
    """
    declared = {kind for kind in HIDDEN_CATEGORIES if kind != "Cs"}
    return _class_items([code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) in declared])


@cache
def _shown_space_class() -> str:
    """Whitespace ``str.strip`` drops that is not hidden (a space, U+00A0, U+3000 ...)."""
    codes = [code for code in range(sys.maxunicode + 1) if chr(code).isspace()]
    return _class_items([c for c in codes if unicodedata.category(chr(c)) not in HIDDEN_CATEGORIES])


@dataclass(frozen=True, slots=True)
class _Declared:
    """Declares in the OpenAPI document the pattern a field's validators enforce, so a client (and
    schemathesis) knows what is accepted; validation stays the validators', whose messages say why."""

    pattern: Callable[[], str]  # built on first use: the Unicode scan is not paid at import

    def __get_pydantic_json_schema__(self, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core)
        schema["pattern"] = self.pattern()
        return schema


VISIBLE = _Declared(lambda: f"^[^{hidden_class()}]*$")
# Not blank once stripped: one character that is neither hidden nor a space.
VISIBLE_NOT_BLANK = _Declared(
    lambda: f"^[^{hidden_class()}]*[^{hidden_class()}{_shown_space_class()}][^{hidden_class()}]*$"
)
# One folder under the templates root however spelt ('./hermes', 'hermes/'): not '.', '..', a path or a backslash.
TEMPLATE_NAME = _Declared(
    lambda: rf"^(?:\./+)*(?:[^/\\{hidden_class()}]*[^./\\{hidden_class()}][^/\\{hidden_class()}]*|\.{{3,}})(?:/+\.?)*$"
)


def _text(max_length: int) -> Any:
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_visible), VISIBLE]


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_visible),
    AfterValidator(_stripped_not_blank),
    VISIBLE_NOT_BLANK,
]
Runtime = _text(64)
ModelId = _text(256)
TemplateName = Annotated[
    str,
    StringConstraints(max_length=200),
    AfterValidator(_visible),
    AfterValidator(normalise_template_name),  # stored as 'hermes' however it was spelt ('./hermes', 'hermes/')
    TEMPLATE_NAME,
]
Role = _text(100)
Url = _text(2048)
EnvName = Annotated[str, StringConstraints(pattern=f"^{ENV_NAME_PATTERN}$", max_length=128)]  # the manifest's rule
EnvNames = Annotated[list[EnvName], Field(max_length=32, description="env var NAMES the workspace has, never values")]
WorkspaceId = Annotated[str, StringConstraints(max_length=36), AfterValidator(_visible), VISIBLE]


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


# --- answers ----------------------------------------------------------------------------------
# Declared so a generated client has a typed class for each answer; the bodies are built by the
# core's to_dict()s, and a test checks every real answer against these.


class HealthOut(BaseModel):
    status: str
    manifest_fingerprint: str
    manifest_version: int
    database: str
    call_tokens: str = Field(
        description="`ok`, or `loading` while a starting process reads the live call tokens (calls wait for it)"
    )


class RegistryOut(BaseModel):
    fingerprint: str
    manifest_version: int
    schema_version: int
    runtimes: list[str]
    foreign_runtimes: list[str]
    default_runtime: str


class MenuEntryOut(BaseModel):
    id: str
    provider: str
    billing_mode: str
    required_env: list[str]


class RuntimeProviderOut(BaseModel):
    name: str
    display_name: str | None
    protocol: str | None
    routing_only: bool
    model_prefix_match: str | None = Field(description="the regular expression of the model ids it serves")
    platform_keyed: bool
    auth_env: list[str]


class RuntimeOut(BaseModel):
    runtime: str
    fingerprint: str
    menu: list[MenuEntryOut]
    providers: list[RuntimeProviderOut]


class DecisionOut(BaseModel):
    """A create gate's model decision (``routegate check --json``)."""

    runtime: str
    model: str
    allowed: bool
    path: str | None
    code: str | None
    reason: str
    provider: str | None
    billing_mode: str | None
    required_env: list[str]
    candidates: list[str]
    suggestions: list[str]


class ResidualOut(BaseModel):
    id: str
    code: str
    reason: str


class TemplateModelOut(BaseModel):
    id: str
    provider: str | None
    required_env: list[str]
    routable: bool
    code: str | None
    decision: DecisionOut | None


class TemplateOut(BaseModel):
    name: str
    runtime: str | None
    runtime_known: bool
    default_model: str | None
    default_routable: bool | None
    default_decision: DecisionOut | None
    offered: int
    routable: int
    residual: list[ResidualOut]
    models: list[TemplateModelOut]


class TemplateProblemOut(BaseModel):
    name: str
    error: str


class TemplatesOut(BaseModel):
    fingerprint: str
    templates: list[TemplateOut]
    problems: list[TemplateProblemOut]


class RuntimeEnvOut(BaseModel):
    workspace_id: str
    runtime: str
    model: str | None
    provider: str | None
    protocol: str | None
    base_url: str | None
    base_url_anthropic: str | None
    auth_env: list[str]
    auth_token_env: str | None
    billing_mode: str | None
    manifest_fingerprint: str


class DecisionRecordOut(BaseModel):
    id: int
    action: str
    admitted: bool
    code: str | None
    reason: str | None
    workspace_id: str | None
    runtime: str | None
    model: str | None
    provider: str | None
    billing_mode: str | None
    path: str | None
    template: str | None
    candidates: list[str]
    manifest_fingerprint: str
    manifest_version: int | None
    created_at: str


class DecisionPage(BaseModel):
    items: list[DecisionRecordOut]
    next_cursor: str | None


class VersionOut(BaseModel):
    version: int
    fingerprint: str
    created_at: str
    note: str | None
    active: bool


class VersionPage(BaseModel):
    items: list[VersionOut]
    next_cursor: str | None
