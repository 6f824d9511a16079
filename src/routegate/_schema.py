"""The manifest's document schema (pydantic) and its cross-field load rules.

Kept apart from :mod:`routegate.manifest` so the value objects stay plain and
pydantic is imported only when a document is actually validated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from routegate import _re2
from routegate._ids import ENV_NAME, UNSERVABLE, UPSTREAM_SEPARATORS
from routegate.billing import is_platform_keyed
from routegate.errors import Problem

SCHEMA_VERSION = 1


def _env_name(value: str) -> str:
    # The value is never echoed: a pasted key must not land in CI logs.
    if not ENV_NAME.fullmatch(value):
        raise ValueError(
            "must be an environment variable NAME such as OPENAI_API_KEY "
            "(A-Z, 0-9 and _, not starting with a digit); the value given is not shown "
            "because it may be a secret"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderDoc(_Strict):
    name: str = Field(min_length=1, max_length=128)
    display_name: str = Field(min_length=1, max_length=256)
    vendor_logo: str | None = None
    protocol: Literal["openai", "anthropic"]
    auth_mode: Literal["anthropic_api", "oauth", "third_party_anthropic_compat"]
    base_url_template: str | None = None
    base_url_anthropic: str | None = None
    auth_env: tuple[str, ...] = Field(min_length=1)
    auth_token_env: str | None = None
    model_prefix_match: str = Field(min_length=1)
    model_aliases: tuple[str, ...] = ()
    deprecated: StrictBool = False
    upstream_vendor: str | None = Field(default=None, min_length=1)
    platform_keyed: StrictBool = False

    @field_validator("auth_env")
    @classmethod
    def _auth_env_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for index, name in enumerate(names):
            try:
                _env_name(name)
            except ValueError as exc:
                raise ValueError(f"[{index}] {exc}") from None
        return names

    @field_validator("upstream_vendor")
    @classmethod
    def _vendor_has_no_separator(cls, vendor: str | None) -> str | None:
        if vendor is not None and any(sep in vendor for sep in UPSTREAM_SEPARATORS):
            raise ValueError(
                f"must not contain {' or '.join(map(repr, UPSTREAM_SEPARATORS))}: the proxy splits ids "
                "there, so such a vendor could never be resolved"
            )
        return vendor

    @field_validator("auth_token_env")
    @classmethod
    def _token_env_name(cls, name: str | None) -> str | None:
        return None if name is None else _env_name(name)

    @field_validator("model_prefix_match")
    @classmethod
    def _compiles_under_re2(cls, pattern: str) -> str:
        reason = _re2.compile_error(pattern)
        if reason is not None:
            raise ValueError(
                f"does not compile under RE2 ({reason}); RE2 has no lookaround or "
                "backreferences, rewrite the pattern without them"
            )
        return pattern


class ArmDoc(_Strict):
    name: str = Field(min_length=1)
    models: tuple[str, ...] | None = None

    @field_validator("models")
    @classmethod
    def _clean_ids(cls, models: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for index, model in enumerate(models or ()):
            if not model or model != model.strip() or UNSERVABLE.search(model):
                raise ValueError(
                    f"[{index}] model id {model!r} must be non-empty, without surrounding "
                    "whitespace or control characters (ids are matched verbatim)"
                )
        return models or None


class RuntimeDoc(_Strict):
    providers: tuple[ArmDoc, ...] = Field(min_length=1)


def _where(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<document>"


def _collect(problems: list[Problem], prefix: tuple[Any, ...], error: ValidationError) -> None:
    for item in error.errors(include_url=False, include_input=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (check its spelling; the schema forbids extras)"
        problems.append(Problem(_where(prefix + loc), message))


def validate(doc: object) -> tuple[list[ProviderDoc], dict[str, RuntimeDoc], list[Problem]]:
    """Validate a parsed YAML document against every load rule.

    Returns the documents that validated and *every* problem found; the caller
    fails closed when the problem list is not empty.
    """
    problems: list[Problem] = []
    if not isinstance(doc, dict):
        return [], {}, [Problem("<document>", "must be a mapping with schema_version, providers and runtimes")]

    for key in doc.keys() - {"schema_version", "providers", "runtimes"}:
        problems.append(Problem(str(key), "unknown top-level key (expected schema_version, providers, runtimes)"))

    version = doc.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        problems.append(Problem("schema_version", f"must be {SCHEMA_VERSION}, got {version!r}"))

    providers: list[ProviderDoc] = []
    raw_providers = doc.get("providers")
    if not isinstance(raw_providers, list) or not raw_providers:
        problems.append(Problem("providers", "must be a non-empty list of providers"))
        raw_providers = []
    for index, raw in enumerate(raw_providers):
        try:
            providers.append(ProviderDoc.model_validate(raw))
        except ValidationError as error:
            _collect(problems, ("providers", index), error)

    catalog: dict[str, ProviderDoc] = {}
    vendors: dict[str, str] = {}
    for index, provider in enumerate(providers):
        if provider.name in catalog:
            problems.append(Problem(f"providers[{index}].name", f"duplicate provider name {provider.name!r}"))
            continue
        catalog[provider.name] = provider
        vendor = provider.upstream_vendor
        if vendor is not None:
            if vendor in vendors:
                problems.append(
                    Problem(
                        f"providers[{index}].upstream_vendor",
                        f"{vendor!r} is already the upstream vendor of {vendors[vendor]!r}; "
                        "it must be unique so the proxy has one answer",
                    )
                )
            else:
                vendors[vendor] = provider.name
    # A provider that failed validation still has a name arms may refer to.
    known_names = set(catalog) | {
        raw.get("name") for raw in raw_providers if isinstance(raw, dict) and isinstance(raw.get("name"), str)
    }

    runtimes: dict[str, RuntimeDoc] = {}
    raw_runtimes = doc.get("runtimes")
    if not isinstance(raw_runtimes, dict) or not raw_runtimes:
        problems.append(Problem("runtimes", "must be a non-empty mapping of runtime name to its providers"))
        raw_runtimes = {}
    for runtime_name, raw in raw_runtimes.items():
        where = f"runtimes.{runtime_name}"
        if not isinstance(runtime_name, str) or not runtime_name.strip():
            problems.append(Problem(where, "runtime names must be non-empty strings"))
            continue
        try:
            runtime = RuntimeDoc.model_validate(raw)
        except ValidationError as error:
            _collect(problems, ("runtimes", runtime_name), error)
            continue
        runtimes[runtime_name] = runtime
        seen: set[str] = set()
        for index, arm in enumerate(runtime.providers):
            at = f"{where}.providers[{index}]"
            if arm.name in seen:
                problems.append(Problem(at, f"provider {arm.name!r} appears twice in this runtime"))
            seen.add(arm.name)
            if arm.name not in known_names:
                problems.append(Problem(at, f"unknown provider {arm.name!r} (not in the providers catalog)"))
                continue
            entry = catalog.get(arm.name)
            keyed = entry is not None and is_platform_keyed(entry.name, entry.upstream_vendor, entry.platform_keyed)
            if keyed and not arm.models:
                problems.append(
                    Problem(
                        at,
                        f"routing-only arm names platform-keyed provider {arm.name!r} (guardrail G1): "
                        "any id its pattern matches would be billed to the platform's key. "
                        "List its models explicitly, or wire a BYOK provider instead",
                    )
                )
    return providers, runtimes, problems
