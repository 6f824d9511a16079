"""The manifest's document schema and its cross-field load rules.

Plain Python over one field table per part of the document: validation runs
on every command, the one-shot ``routegate check`` included, so it has to cost
less than importing a schema library would. Every problem is collected with
its place. Values are not echoed where they may be secrets (an ``auth_env``
entry may be a pasted key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from routegate import _re2
from routegate._ids import ENV_NAME, SLUG, UNSERVABLE, UPSTREAM_SEPARATORS
from routegate.billing import PLATFORM, is_platform_keyed, platform_credential_shared
from routegate.errors import Problem

__all__ = [
    "ARM_FIELDS",
    "AUTH_MODES",
    "NAME_MAX_LENGTH",
    "PROTOCOLS",
    "PROVIDER_FIELDS",
    "SCHEMA_VERSION",
    "Field",
    "platform_disguise",
    "slug_problem",
    "validate",
]

SCHEMA_VERSION = 1
PROTOCOLS = ("openai", "anthropic")
AUTH_MODES = ("anthropic_api", "oauth", "third_party_anthropic_compat")
NAME_MAX_LENGTH = 128

Record = dict[str, Any]
"""One provider or arm as validated: every field of its table, defaults filled in."""


class _Invalid(Exception):
    """A value breaks its field's rule: (place inside the field, message) pairs, such as ``("[2]", ...)``."""

    def __init__(self, *problems: tuple[str, str]) -> None:
        super().__init__(problems)
        self.problems = problems


Check = Callable[[object], object]
"""Returns the value as stored (lists become tuples) or raises :class:`_Invalid`."""


class _Required:
    """The default of a field that has none."""


_REQUIRED = _Required()


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a document part: how its value is checked, and its default when omitted."""

    check: Check
    default: object = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _as_string(value: object, *, non_empty: bool = False, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise _Invalid(("", f"must be a string, got {_kind(value)}"))
    if non_empty and not value:
        raise _Invalid(("", "must not be empty"))
    if max_length is not None and len(value) > max_length:
        raise _Invalid(("", f"must be at most {max_length} characters long"))
    return value


def _string(*, non_empty: bool = False, max_length: int | None = None) -> Check:
    def check(value: object) -> str:
        return _as_string(value, non_empty=non_empty, max_length=max_length)

    return check


def _optional(inner: Check) -> Check:
    def check(value: object) -> object:
        return None if value is None else inner(value)

    return check


def _choice(options: tuple[str, ...]) -> Check:
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            raise _Invalid(("", f"must be {' or '.join(map(repr, options))}"))
        return value

    return check


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(("", f"must be true or false, got {_kind(value)}"))
    return value


def _list(item: Check, *, non_empty: bool = False) -> Check:
    def check(value: object) -> tuple[object, ...]:
        if not isinstance(value, list):
            raise _Invalid(("", f"must be a list, got {_kind(value)}"))
        if non_empty and not value:
            raise _Invalid(("", "must list at least one entry"))
        items: list[object] = []
        problems: list[tuple[str, str]] = []
        for index, entry in enumerate(value):
            try:
                items.append(item(entry))
            except _Invalid as error:
                problems.extend((f"[{index}]{where}", message) for where, message in error.problems)
        if problems:
            raise _Invalid(*problems)
        return tuple(items)

    return check


def _env_name(value: object) -> str:
    # The value is never echoed: a pasted key must not land in CI logs.
    if not isinstance(value, str) or not ENV_NAME.fullmatch(value):
        raise _Invalid(
            (
                "",
                "must be an environment variable NAME such as OPENAI_API_KEY "
                "(A-Z, 0-9 and _, not starting with a digit); the value given is not shown "
                "because it may be a secret",
            )
        )
    return value


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
        import unicodedata  # deferred: only a bad name needs it

        what = f"U+{ord(char):04X} ({unicodedata.name(char, 'unnamed character')})"
    return f"{name!a} is not a plain name: {what} at position {position}; {rule}"


def _slug(value: object) -> str:
    name = _as_string(value)
    problem = slug_problem(name)
    if problem is not None:
        raise _Invalid(("", problem))
    return name


def _pattern(value: object) -> str:
    pattern = _as_string(value, non_empty=True)
    reason = _re2.compile_error(pattern)
    if reason is not None:
        raise _Invalid(
            (
                "",
                f"does not compile under RE2 ({reason}); RE2 has no lookaround or "
                "backreferences, rewrite the pattern without them",
            )
        )
    return pattern


def _vendor(value: object) -> str:
    vendor = _as_string(value, non_empty=True)
    if any(separator in vendor for separator in UPSTREAM_SEPARATORS):
        raise _Invalid(
            (
                "",
                f"must not contain {' or '.join(map(repr, UPSTREAM_SEPARATORS))}: the proxy splits ids "
                "there, so such a vendor could never be resolved",
            )
        )
    return vendor


def _model_id(value: object) -> str:
    if not isinstance(value, str) or not value or value != value.strip() or UNSERVABLE.search(value):
        raise _Invalid(
            (
                "",
                "a model id must be a non-empty string, without surrounding whitespace "
                "or control characters (ids are matched verbatim)",
            )
        )
    return value


_model_ids = _list(_model_id)


def _menu(value: object) -> object:
    """An arm's model ids; none (or an empty list) makes it routing-only."""
    return None if value is None else _model_ids(value) or None


PROVIDER_FIELDS: Mapping[str, Field] = MappingProxyType(
    {
        "name": Field(_slug),
        "display_name": Field(_string(non_empty=True, max_length=256)),
        "vendor_logo": Field(_optional(_string()), None),
        "protocol": Field(_choice(PROTOCOLS)),
        "auth_mode": Field(_choice(AUTH_MODES)),
        "base_url_template": Field(_optional(_string()), None),
        "base_url_anthropic": Field(_optional(_string()), None),
        "auth_env": Field(_list(_env_name, non_empty=True)),
        "auth_token_env": Field(_optional(_env_name), None),
        "model_prefix_match": Field(_pattern),
        "model_aliases": Field(_list(_string()), ()),
        "deprecated": Field(_flag, False),
        "upstream_vendor": Field(_optional(_vendor), None),
        "platform_keyed": Field(_flag, False),
    }
)
"""A catalog entry's fields, in canonical order: the one definition every other listing derives from."""

ARM_FIELDS: Mapping[str, Field] = MappingProxyType(
    {"name": Field(_string(non_empty=True)), "models": Field(_menu, None)}
)
"""A runtime arm's fields: the provider it names, and its menu ids (none: routing-only)."""

_RUNTIME_KEYS = ("providers",)


def platform_disguise(provider: Mapping[str, Any], platform: Mapping[str, Any] | None) -> str | None:
    """How ``provider`` is the ``platform`` provider by effect (see
    :func:`billing.platform_credential_shared`), or None."""
    if platform is None or provider["name"] == PLATFORM:
        return None
    return platform_credential_shared(
        provider["auth_env"],
        (provider["base_url_template"], provider["base_url_anthropic"]),
        platform["auth_env"],
        (platform["base_url_template"], platform["base_url_anthropic"]),
    )


def _record(raw: object, fields: Mapping[str, Field], where: str, problems: list[Problem]) -> Record | None:
    """``raw`` checked field by field against ``fields``; None when anything is wrong (all of it reported)."""
    if not isinstance(raw, dict):
        problems.append(Problem(where, f"must be a mapping with the fields {', '.join(fields)}"))
        return None
    found = len(problems)
    for key in raw:
        if key not in fields:
            problems.append(Problem(f"{where}.{key}", "unknown field (check its spelling; the schema forbids extras)"))
    record: Record = {}
    for name, field in fields.items():
        at = f"{where}.{name}"
        if name not in raw:
            if field.required:
                problems.append(Problem(at, "required field is missing"))
            record[name] = field.default
            continue
        try:
            record[name] = field.check(raw[name])
        except _Invalid as error:
            problems.extend(Problem(at + inner, message) for inner, message in error.problems)
    return record if len(problems) == found else None


def _runtime_where(name: object) -> str:
    shown = name if isinstance(name, str) and SLUG.fullmatch(name) else ascii(name)
    return f"runtimes.{shown}"


def validate(doc: object) -> tuple[dict[str, Any], list[Problem]]:
    """Validate a parsed YAML document against every load rule.

    Returns the manifest's canonical data (see ``Manifest.to_data``) and *every*
    problem found; the data is complete only when the problem list is empty,
    and the caller fails closed otherwise.
    """
    problems: list[Problem] = []
    if not isinstance(doc, dict):
        return {}, [Problem("<document>", "must be a mapping with schema_version, providers and runtimes")]

    for key in doc.keys() - {"schema_version", "providers", "runtimes"}:
        problems.append(Problem(str(key), "unknown top-level key (expected schema_version, providers, runtimes)"))

    version = doc.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        problems.append(Problem("schema_version", f"must be {SCHEMA_VERSION}, got {version!r}"))

    catalog, known_names = _catalog(doc.get("providers"), problems)
    runtimes = _runtimes(doc.get("runtimes"), catalog, known_names, problems)
    data = {"schema_version": SCHEMA_VERSION, "providers": list(catalog.values()), "runtimes": runtimes}
    return data, problems


def _catalog(raw_providers: object, problems: list[Problem]) -> tuple[dict[str, Record], set[str]]:
    """The providers that validated, by name, and every name given (arms may name a broken provider)."""
    if not isinstance(raw_providers, list) or not raw_providers:
        problems.append(Problem("providers", "must be a non-empty list of providers"))
        raw_providers = []
    catalog: dict[str, Record] = {}
    vendors: dict[str, str] = {}
    for index, raw in enumerate(raw_providers):
        provider = _record(raw, PROVIDER_FIELDS, f"providers[{index}]", problems)
        if provider is None:
            continue
        name = provider["name"]
        if name in catalog:
            problems.append(Problem(f"providers[{index}].name", f"duplicate provider name {name!r}"))
            continue
        catalog[name] = provider
        vendor = provider["upstream_vendor"]
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
            vendors[vendor] = name
    given = (raw.get("name") for raw in raw_providers if isinstance(raw, dict))
    return catalog, set(catalog) | {name for name in given if isinstance(name, str)}


def _runtimes(
    raw_runtimes: object, catalog: Mapping[str, Record], known_names: set[str], problems: list[Problem]
) -> dict[str, Record]:
    if not isinstance(raw_runtimes, dict) or not raw_runtimes:
        problems.append(Problem("runtimes", "must be a non-empty mapping of runtime name to its providers"))
        return {}
    runtimes: dict[str, Record] = {}
    for name, raw in raw_runtimes.items():
        where = _runtime_where(name)
        if not isinstance(name, str):
            problems.append(Problem(where, f"runtime names must be strings, got {_kind(name)}"))
            continue
        problem = slug_problem(name)
        if problem is not None:
            problems.append(Problem(where, f"runtime name {problem}"))
        arms = _arms(raw, where, problems)
        if arms is None:
            continue
        _check_arms(arms, where, catalog, known_names, problems)
        runtimes[name] = {"providers": arms}
    return runtimes


def _arms(raw: object, where: str, problems: list[Problem]) -> list[Record | None] | None:
    """The runtime's arms, None in place of each one that is invalid; None when there are none."""
    if not isinstance(raw, dict):
        problems.append(Problem(where, "must be a mapping with 'providers': the runtime's arms"))
        return None
    for key in raw.keys() - set(_RUNTIME_KEYS):
        problems.append(Problem(f"{where}.{key}", "unknown field (a runtime has only 'providers')"))
    raw_arms = raw.get("providers")
    if not isinstance(raw_arms, list) or not raw_arms:
        problems.append(Problem(f"{where}.providers", "must be a non-empty list of arms"))
        return None
    return [_record(arm, ARM_FIELDS, f"{where}.providers[{index}]", problems) for index, arm in enumerate(raw_arms)]


def _check_arms(
    arms: list[Record | None],
    where: str,
    catalog: Mapping[str, Record],
    known_names: set[str],
    problems: list[Problem],
) -> None:
    """Arms name catalog providers, once each; no routing-only arm is platform-keyed (G1);
    and the runtime's patterns build into the one RE2 set its decisions use."""
    platform = catalog.get(PLATFORM)
    seen: set[str] = set()
    matched: list[tuple[int, Record]] = []
    for index, arm in enumerate(arms):
        if arm is None:
            continue  # its own problems are reported
        at = f"{where}.providers[{index}]"
        name = arm["name"]
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
        if arm["models"]:
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
