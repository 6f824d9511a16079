"""The manifest's document schema (pydantic models) and its cross-field load rules.

The models are the one definition of the document's fields: the loader
validates with them, the JSON Schema target is generated from them, and the
field tables other modules use are read off them. Importing this module
imports pydantic, so :mod:`routegate.manifest` imports it only when a
document is actually validated (a manifest-cache hit never does).

Every problem is collected with its place. Values are not echoed where they
may be secrets (an ``auth_env`` entry may be a pasted key).
"""

from __future__ import annotations

import reprlib
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from routegate import _ids, _re2, _suggest
from routegate._ids import ENV_NAME, SLUG, UNSERVABLE, UPSTREAM_SEPARATORS, hidden_character
from routegate.billing import PLATFORM, is_platform_keyed, platform_disguise
from routegate.errors import Problem
from routegate.lifecycle import InvalidLifecycleEntry, LifecycleEntry

__all__ = [
    "ARM_FIELDS",
    "NAME_MAX_LENGTH",
    "PROVIDER_FIELDS",
    "SCHEMA_VERSION",
    "ArmDoc",
    "LifecycleDoc",
    "ManifestDoc",
    "ProviderDoc",
    "RuntimeDoc",
    "slug_problem",
    "validate",
]

SCHEMA_VERSION = 1
NAME_MAX_LENGTH = 128


def slug_problem(name: str) -> str | None:
    """Why ``name`` is not a provider or runtime name (see ``_ids.SLUG``), or None when it is one."""
    if SLUG.fullmatch(name) and len(name) <= NAME_MAX_LENGTH:
        return None
    rule = "use ASCII lower-case letters, digits, '-', '_' and '.', starting with a letter or digit"
    if not name:
        return f"must not be empty; {rule}"
    if len(name) > NAME_MAX_LENGTH:
        return f"must be at most {NAME_MAX_LENGTH} characters long"
    position, char = next((i, c) for i, c in enumerate(name) if not SLUG.fullmatch(("a" if i else "") + c))
    if char.isascii() and char.isprintable():
        what = f"{char!r}"
    else:
        what = f"U+{ord(char):04X} ({unicodedata.name(char, 'unnamed character')})"
    return f"{name!a} is not a plain name: {what} at position {position}; {rule}"


def _slug(name: str) -> str:
    problem = slug_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


def _runtime_name(name: str) -> str:
    problem = slug_problem(name)
    if problem is not None:
        raise ValueError(f"runtime name {problem}")
    return name


def _env_name(name: str) -> str:
    # The value is never echoed: a pasted key must not land in CI logs.
    if not ENV_NAME.fullmatch(name):
        raise ValueError(
            "must be an environment variable NAME such as OPENAI_API_KEY "
            "(A-Z, 0-9 and _, not starting with a digit); the value given is not shown "
            "because it may be a secret"
        )
    return name


def _compiles_under_re2(pattern: str) -> str:
    reason = _re2.compile_error(pattern)
    if reason is not None:
        raise ValueError(
            f"does not compile under RE2 ({reason}); RE2 has no lookaround or "
            "backreferences, rewrite the pattern without them"
        )
    return pattern


def _no_separator(vendor: str) -> str:
    if any(separator in vendor for separator in UPSTREAM_SEPARATORS):
        raise ValueError(
            f"must not contain {' or '.join(map(repr, UPSTREAM_SEPARATORS))}: the proxy splits ids "
            "there, so such a vendor could never be resolved"
        )
    return vendor


def _clean_id(model: str) -> str:
    if not model or model != model.strip() or UNSERVABLE.search(model):
        raise ValueError(
            "a model id must be a non-empty string, without surrounding whitespace "
            "or control characters (ids are matched verbatim)"
        )
    return model


def _env_name_schema(schema: dict[str, Any]) -> None:
    # Read when the JSON Schema is generated, so it is the loader's rule and not a copy of it.
    schema["pattern"] = f"^{_ids.ENV_NAME_PATTERN}$"


_NOT_CONTROL = "[^\\s\\u0000-\\u001f\\u007f-\\u009f]"
_MODEL_ID_PATTERN = f"^{_NOT_CONTROL}(?:[^\\u0000-\\u001f\\u007f-\\u009f]*{_NOT_CONTROL})?$"
""":func:`_clean_id` in JSON Schema's terms: non-empty, no control characters, no whitespace at either end."""

_SLUG_SCHEMA = {"pattern": f"^{_ids.SLUG_PATTERN}$", "maxLength": NAME_MAX_LENGTH}

Slug = Annotated[str, AfterValidator(_slug), Field(json_schema_extra=_SLUG_SCHEMA)]
RuntimeName = Annotated[str, AfterValidator(_runtime_name), Field(json_schema_extra=_SLUG_SCHEMA)]
EnvName = Annotated[str, AfterValidator(_env_name), Field(json_schema_extra=_env_name_schema)]
ModelId = Annotated[str, AfterValidator(_clean_id), Field(json_schema_extra={"pattern": _MODEL_ID_PATTERN})]


class _Document(BaseModel):
    """A part of the YAML document: exactly its fields, each of exactly its type (no coercion)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _shows_what_it_says(cls, value: object) -> object:
        """Every text of every field, first: an id with a hidden character could pose as another one."""
        texts = [(None, value)] if isinstance(value, str) else enumerate(value) if isinstance(value, list) else ()
        for index, text in texts:
            problem = hidden_character(text) if isinstance(text, str) else None
            if problem is not None:
                raise ValueError(problem if index is None else f"entry [{index}]: {problem}")
        return value


class ProviderDoc(_Document):
    """A catalog entry: how to reach a model vendor and how to authenticate."""

    name: Slug = Field(description="Stable key, unique in the catalog.")
    display_name: str = Field(min_length=1, max_length=256, description="Label for pickers.")
    vendor_logo: str | None = None
    protocol: Literal["openai", "anthropic"] = Field(description="The wire format.")
    auth_mode: Literal["anthropic_api", "oauth", "third_party_anthropic_compat"]
    base_url_template: str | None = None
    base_url_anthropic: str | None = None
    auth_env: list[EnvName] = Field(
        min_length=1,
        description="Env var NAMES that authenticate (any one suffices). Names only, never values.",
    )
    auth_token_env: EnvName | None = None
    model_prefix_match: Annotated[str, Field(min_length=1), AfterValidator(_compiles_under_re2)] = Field(
        description="An RE2 regular expression applied with search semantics (anchor with ^)."
    )
    model_aliases: list[str] = []
    deprecated: bool = False
    upstream_vendor: Annotated[str, Field(min_length=1), AfterValidator(_no_separator)] | None = None
    platform_keyed: bool = Field(default=False, description="The platform holds this provider's key.")


class ArmDoc(_Document):
    """A provider as one runtime uses it: with its menu ids, or none (a routing-only arm)."""

    name: str = Field(min_length=1, description="A provider of the catalog.")
    models: list[ModelId] | None = Field(
        default=None, description="Exact model ids (a menu arm); omit for a routing-only arm."
    )

    @field_validator("models")
    @classmethod
    def _empty_is_routing_only(cls, models: list[str] | None) -> list[str] | None:
        return models or None


class RuntimeDoc(_Document):
    """A runtime's native arms, in the order its menu lists them."""

    providers: list[ArmDoc] = Field(min_length=1)


def _calendar_date(value: object) -> object:
    """A YAML date, or its quoted ISO text; never a time of day (the dates are whole UTC days)."""
    if isinstance(value, datetime):
        raise ValueError("must be a calendar date (YYYY-MM-DD), without a time of day")
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be a calendar date written YYYY-MM-DD, got {reprlib.repr(value)}") from None
    return value


class LifecycleDoc(_Document):
    """A dated fact about a model id (``model``) or every id a provider serves (``provider``)."""

    model: ModelId | None = Field(default=None, description="An exact model id.")
    provider: Slug | None = Field(default=None, description="A catalog provider: every id it serves.")
    runtimes: list[RuntimeName] | None = Field(default=None, description="The runtimes it holds on; omit for all.")
    deprecated_on: date | None = Field(default=None, description="UTC date from which new workspaces are refused.")
    retires_on: date | None = Field(default=None, description="UTC date from which creates and calls are refused.")
    successor: ModelId | None = Field(default=None, description="The id to move to, admitted with the same payer.")

    @field_validator("deprecated_on", "retires_on", mode="before")
    @classmethod
    def _whole_days(cls, value: object) -> object:
        return _calendar_date(value)

    @model_validator(mode="after")
    def _means_something(self) -> LifecycleDoc:
        self.entry()  # the value object's own rules, stated once
        return self

    def entry(self) -> LifecycleEntry:
        try:
            runtimes = tuple(self.runtimes or ())
            return LifecycleEntry(
                self.model, self.provider, runtimes, self.deprecated_on, self.retires_on, self.successor
            )
        except InvalidLifecycleEntry as error:
            raise ValueError(str(error)) from None


class ManifestDoc(_Document):
    """The manifest (``providers.yaml``): the provider catalog, each runtime's arms and the models' dates."""

    schema_version: Literal[1]
    providers: list[ProviderDoc] = Field(min_length=1)
    runtimes: dict[RuntimeName, RuntimeDoc] = Field(min_length=1)
    lifecycle: list[LifecycleDoc] = Field(
        default=[], description="Dates on which model ids are deprecated and retired (see docs/lifecycle.md)."
    )

    @field_validator("schema_version", mode="before")
    @classmethod
    def _not_a_boolean(cls, version: object) -> object:
        if isinstance(version, bool):  # YAML's true is 1 to Python
            raise ValueError(f"must be {SCHEMA_VERSION}, got {version!r}")
        return version


PROVIDER_FIELDS: tuple[str, ...] = tuple(ProviderDoc.model_fields)
"""A catalog entry's fields, in canonical order."""

ARM_FIELDS: tuple[str, ...] = tuple(ArmDoc.model_fields)
"""A runtime arm's fields: the provider it names, and its menu ids (none: routing-only)."""

Record = dict[str, Any]
"""One provider or arm as validated, in canonical form (``model_dump``: every field, defaults filled in)."""


# --- pydantic's errors as problems ------------------------------------------------------------------


def _where(loc: tuple[int | str, ...]) -> str:
    """``('runtimes', 'hermes', 'providers', 3)`` -> ``runtimes.hermes.providers[3]``; odd names ascii-quoted."""
    text = ""
    for part in loc:
        if part == "[key]":
            continue  # a mapping key's own problem is reported at the key
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            shown = part if SLUG.fullmatch(part) else ascii(part)
            text += f".{shown}" if text else shown
    return text or "<document>"


_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (check its spelling; the schema forbids extras)",
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "invalid_key": "keys must be strings",
}
"""Pydantic's error types whose own message is not in the project's words."""


def _message(error: ErrorDetails) -> str:
    kind, context = error["type"], error.get("ctx", {})
    if kind == "missing" and error["loc"] == ("schema_version",):
        return f"required field is missing: it must be {SCHEMA_VERSION}"
    if kind == "literal_error":  # a fixed choice (protocol, schema_version) holds no secret: show what was given
        return f"must be {context['expected']}, got {reprlib.repr(error['input'])}"
    if kind in ("string_too_short", "too_short") and context.get("min_length") == 1:
        return "must not be empty" if kind == "string_too_short" else "must list at least one entry"
    return _MESSAGES.get(kind) or error["msg"].removeprefix("Value error, ")


def _problems(error: ValidationError) -> list[Problem]:
    return [Problem(_where(item["loc"]), _message(item)) for item in error.errors(include_url=False)]


# --- validation ----------------------------------------------------------------------------------

Arms = list[tuple[int, ArmDoc]]
"""A runtime's arms that validated, each with its index in the document."""


def validate(doc: object) -> tuple[dict[str, Any], list[Problem]]:
    """Validate a parsed YAML document against every load rule.

    Returns the manifest's canonical data (see ``Manifest.to_data``) and *every*
    problem found; the data is complete only when the problem list is empty,
    and the caller fails closed otherwise. The cross-field rules run over
    every part that validated, so one bad provider does not hide the rest.
    """
    try:
        document = ManifestDoc.model_validate(doc)
    except ValidationError as error:
        problems = _problems(error)
        providers, runtimes = _valid_parts(doc, error)
    else:
        problems = []
        providers = list(enumerate(document.providers))
        runtimes = {name: list(enumerate(runtime.providers)) for name, runtime in document.runtimes.items()}

    raw_providers = doc.get("providers") if isinstance(doc, dict) else None
    given = (raw.get("name") for raw in raw_providers or () if isinstance(raw, dict))
    catalog = _catalog(providers, problems)
    known_names = set(catalog) | {name for name in given if isinstance(name, str)}
    for name, arms in runtimes.items():
        _check_arms(arms, f"runtimes.{_where((name,))}", catalog, known_names, problems)

    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "providers": list(catalog.values()),
        "runtimes": {name: {"providers": [arm.model_dump() for _, arm in arms]} for name, arms in runtimes.items()},
    }
    lifecycle = _lifecycle(doc, known_names, set(runtimes), problems)
    if lifecycle:
        data["lifecycle"] = lifecycle
    return data, problems


def _lifecycle(
    doc: object, providers: set[str], runtimes: set[str], problems: list[Problem]
) -> list[dict[str, object]]:
    """The lifecycle entries that validated, as canonical data; each unknown provider or runtime reported.

    Whether a named model routes, and its successor with the same payer, takes decisions:
    :mod:`routegate.dated` checks that once the manifest is built.
    """
    raw_entries = doc.get("lifecycle") if isinstance(doc, dict) else None
    entries = []
    for index, raw in enumerate(raw_entries if isinstance(raw_entries, list) else ()):
        try:
            entry = LifecycleDoc.model_validate(raw).entry()
        except ValidationError:
            continue  # reported with the document's own problems
        at = f"lifecycle[{index}]"
        if entry.provider is not None and entry.provider not in providers:
            nearest = ", ".join(_nearest(entry.provider, providers)) or "none"
            problems.append(
                Problem(
                    f"{at}.provider",
                    f"unknown provider {entry.provider!a}; name one of the catalog's (nearest: {nearest})",
                )
            )
        for position, runtime in enumerate(entry.runtimes):
            if runtime not in runtimes:
                nearest = ", ".join(_nearest(runtime, runtimes)) or "none"
                problems.append(
                    Problem(
                        f"{at}.runtimes[{position}]",
                        f"unknown runtime {runtime!a}; name one of the manifest's (nearest runtimes: {nearest})",
                    )
                )
        entries.append(entry.to_data())
    return entries


def _nearest(name: str, names: set[str]) -> tuple[str, ...]:
    return _suggest.SuggestionIndex(tuple(sorted(names))).nearest(name, 3)


def _valid_parts(doc: object, error: ValidationError) -> tuple[list[tuple[int, ProviderDoc]], dict[str, Arms]]:
    """The providers and arms of a document that failed validation which are themselves valid."""
    failed = {tuple(item["loc"][:end]) for item in error.errors() for end in range(1, len(item["loc"]) + 1)}
    if not isinstance(doc, dict):
        return [], {}
    raw_providers, raw_runtimes = doc.get("providers"), doc.get("runtimes")
    providers = [
        (index, ProviderDoc.model_validate(raw))
        for index, raw in enumerate(raw_providers if isinstance(raw_providers, list) else ())
        if ("providers", index) not in failed
    ]
    runtimes: dict[str, Arms] = {}
    for name, raw in raw_runtimes.items() if isinstance(raw_runtimes, dict) else ():
        arms = raw.get("providers") if isinstance(name, str) and isinstance(raw, dict) else None
        if isinstance(arms, list) and arms:
            runtimes[name] = [
                (index, ArmDoc.model_validate(arm))
                for index, arm in enumerate(arms)
                if ("runtimes", name, "providers", index) not in failed
            ]
    return providers, runtimes


def _catalog(providers: list[tuple[int, ProviderDoc]], problems: list[Problem]) -> dict[str, Record]:
    """The valid providers by name, in canonical form; duplicate names and upstream vendors reported."""
    catalog: dict[str, Record] = {}
    vendors: dict[str, str] = {}
    for index, provider in providers:
        if provider.name in catalog:
            problems.append(Problem(f"providers[{index}].name", f"duplicate provider name {provider.name!r}"))
            continue
        catalog[provider.name] = provider.model_dump()
        vendor = provider.upstream_vendor
        if vendor is None:
            continue
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
    return catalog


def _check_arms(
    arms: Arms, where: str, catalog: Mapping[str, Record], known_names: set[str], problems: list[Problem]
) -> None:
    """Arms name catalog providers, once each; no routing-only arm is platform-keyed (G1);
    and the runtime's patterns build into the one RE2 set its decisions use."""
    platform = catalog.get(PLATFORM)
    seen: set[str] = set()
    matched: list[tuple[int, Record]] = []
    for index, arm in arms:
        at = f"{where}.providers[{index}]"
        name = arm.name
        if name in seen:
            problems.append(Problem(at, f"provider {name!r} appears twice in this runtime"))
        seen.add(name)
        if name not in known_names:
            problems.append(Problem(at, f"unknown provider {name!a} (not in the providers catalog)"))
            continue
        entry = catalog.get(name)
        if entry is None:
            continue  # its own problems are reported under providers[...]
        matched.append((index, entry))
        if arm.models:
            continue
        disguise = platform_disguise(entry, platform)
        if is_platform_keyed(name, entry["upstream_vendor"], entry["platform_keyed"], by_effect=disguise is not None):
            why = f": it {disguise}" if disguise else ""
            problems.append(
                Problem(
                    at,
                    f"routing-only arm names platform-keyed provider {name!r} (guardrail G1){why}; "
                    "any id its pattern matches would be billed to the platform's key. "
                    "List its models explicitly, or wire a BYOK provider with the tenant's own credential instead",
                )
            )
    try:
        _re2.search_set([entry["model_prefix_match"] for _, entry in matched])
    except _re2.SetBuildError as error:
        index, entry = matched[error.position]
        problems.append(
            Problem(
                f"{where}.providers[{index}]",
                f"the pattern of provider {entry['name']!r} does not fit in this runtime's combined RE2 set "
                f"with the patterns before it ({error.reason}); simplify it: wide character classes under "
                "large counted repetitions cost the most",
            )
        )
