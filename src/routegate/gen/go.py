"""The ``go`` target: one gofmt-clean, standard-library-only Go file that decides as routegate does.

Go's ``regexp`` is RE2, so this is the one target that can answer byte for
byte like the core: the patterns are carried over through
:mod:`routegate.gen._goregex` (explicit code-point sets, no flags), and every
constant the Go code compares against (decision paths, codes, billing modes,
the platform's name, the whitespace Python strips, the characters no provider
serves) is written from the Python definition rather than copied by hand.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from functools import cache

from routegate._ids import UNSERVABLE, UPSTREAM_SEPARATORS
from routegate._re2syntax import Untranslatable
from routegate.billing import PLATFORM, BillingMode
from routegate.codes import Code
from routegate.decision import FOREIGN_RUNTIMES, DecisionPath
from routegate.errors import GenerationError, InvalidPackageName
from routegate.gen._goregex import to_go
from routegate.gen._render import DERIVE_FAILURE_KINDS
from routegate.gen._render import render as _render_template
from routegate.manifest import Manifest, Provider

__all__ = ["DEFAULT_PACKAGE", "check_package", "render"]

DEFAULT_PACKAGE = "routegate"

_GO_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GO_KEYWORDS = frozenset(
    [
        "break",
        "case",
        "chan",
        "const",
        "continue",
        "default",
        "defer",
        "else",
        "fallthrough",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "import",
        "interface",
        "map",
        "package",
        "range",
        "return",
        "select",
        "struct",
        "switch",
        "type",
        "var",
    ]
)
_INITIALISMS = frozenset(("url", "id", "api", "byok"))
_INDENT = "\t"


def check_package(name: str) -> str:
    """``name`` when Go accepts it as a package name; raises :class:`InvalidPackageName` otherwise."""
    if not _GO_IDENTIFIER.fullmatch(name) or name in _GO_KEYWORDS or name == "_":
        raise InvalidPackageName(
            f"{name!r} is not a Go package name: use ASCII letters, digits and '_', not starting with a digit "
            f"and not a Go keyword (for example {DEFAULT_PACKAGE!r})"
        )
    return name


def render(manifest: Manifest, package: str = DEFAULT_PACKAGE) -> str:
    data = manifest.to_data()["providers"]
    fields = _provider_fields(data)
    return _render_template(
        "routegate.go.j2",
        package=check_package(package),
        schema_version=manifest.schema_version,
        fingerprint=manifest.fingerprint,
        provider_struct=_aligned([*((go_name, go_type) for _, go_name, go_type in fields), ("pattern", "string")]),
        providers=_provider_literals(manifest, data, fields),
        runtimes=_runtime_literals(manifest),
        lifecycle=_lifecycle_literal(manifest),
        constants=_aligned(_constants(), " = "),
        platform=_string(PLATFORM),
        separators=", ".join(_string(s) for s in UPSTREAM_SEPARATORS),
        foreign_runtimes=", ".join(
            f"{_string(name)}: true" for name in FOREIGN_RUNTIMES if name not in manifest.runtimes
        ),
        python_space=", ".join(f"0x{c:x}" for c in _python_whitespace()),
        unservable=to_go(UNSERVABLE.pattern),
    )


@cache
def _python_whitespace() -> tuple[int, ...]:
    """What ``str.strip()`` removes, read off this Python (a scan of every code point: about 0.1 s, once)."""
    return tuple(c for c in range(sys.maxunicode + 1) if chr(c).isspace())


def _provider_fields(data: Sequence[dict[str, object]]) -> list[tuple[str, str, str]]:
    """(manifest key, Go field, Go type) for each canonical provider field, in the manifest's order."""
    fields = []
    for key in data[0] if data else ():
        values = [provider[key] for provider in data]
        if any(isinstance(v, list) for v in values):
            go_type = "[]string"
        elif any(isinstance(v, bool) for v in values):
            go_type = "bool"
        elif all(v is None or isinstance(v, str) for v in values):
            go_type = "string"  # the empty string stands for none
        else:
            raise TypeError(f"provider field {key!r} has no Go type in this target")
        fields.append((key, _camel(key), go_type))
    return fields


def _provider_literals(
    manifest: Manifest, data: Sequence[dict[str, object]], fields: Sequence[tuple[str, str, str]]
) -> str:
    entries = []
    for fields_of_one in data:
        provider = manifest.providers[str(fields_of_one["name"])]
        values = {**fields_of_one, "platform_keyed": provider.platform_keyed}  # as the core answers it
        pairs = [
            (go_name + ":", _go_value(values[key]))
            for key, go_name, _ in fields
            if values[key] not in (None, False, [])
        ]
        pairs.append(("pattern:", f"`{_pattern(provider)}`"))
        entries.append(_composite(_aligned(pairs, " ", suffix=","), 2))
    return "\n".join(entries)


def _runtime_literals(manifest: Manifest) -> str:
    entries = []
    for runtime in manifest.runtimes.values():
        arms = []
        for arm in runtime.arms:
            models = f", Models: {_string_slice(arm.models)}" if arm.models else ""
            arms.append(f"{_INDENT}{{Provider: {_string(arm.provider.name)}{models}}},")
        entries.append(_composite([f"Name: {_string(runtime.name)},", "Arms: []Arm{", *arms, "},"], 2))
    return "\n".join(entries)


_LIFECYCLE_FIELDS = (
    ("Model", "model"),
    ("Provider", "provider"),
    ("DeprecatedOn", "deprecated_on"),
    ("RetiresOn", "retires_on"),
    ("Successor", "successor"),
)
"""A lifecycle entry's Go fields and the canonical keys they hold (Runtimes is a slice, added apart)."""


def _lifecycle_literal(manifest: Manifest) -> str:
    """The dated entries as the body of a slice literal (``{}`` when there are none)."""
    if not manifest.lifecycle:
        return "{}"
    lines = []
    for entry in manifest.lifecycle:
        data = entry.to_data()  # dates as ISO text, unset fields left out
        fields = [(name, data.get(key)) for name, key in _LIFECYCLE_FIELDS]
        parts = [f"{name}: {_string(str(value))}" for name, value in fields if value is not None]
        if entry.runtimes:
            parts.insert(2, f"Runtimes: {_string_slice(entry.runtimes)}")
        lines.append(f"{_INDENT}{{{', '.join(parts)}}},")
    return "{\n" + "\n".join(lines) + "\n}"


def _composite(lines: Sequence[str], depth: int) -> str:
    """A composite literal's element: ``{``, ``lines`` one level in, ``},`` at ``depth`` tabs."""
    inner = _INDENT * (depth + 1)
    return "\n".join([f"{_INDENT * depth}{{", *(inner + line for line in lines), f"{_INDENT * depth}}},"])


def _aligned(pairs: Iterable[tuple[str, str]], separator: str = " ", suffix: str = "") -> list[str]:
    """Lines ``left separator right`` with the right column aligned as gofmt aligns it."""
    rows = list(pairs)
    width = max((len(left) for left, _ in rows), default=0)
    return [f"{left.ljust(width)}{separator}{right}{suffix}" for left, right in rows]


def _constants() -> list[tuple[str, str]]:
    """The string constants the Go code and its callers compare against, each from its Python definition."""
    rows = [(f"Path{_camel(path.value)}", _string(path.value)) for path in DecisionPath]
    rows += [(f"Code{_camel(code.value)}", _string(code.value)) for code in Code if code.row.model_decision]
    rows += [(f"Billing{_camel(mode.value)}", _string(mode.value)) for mode in BillingMode]
    rows += [(f"Kind{_camel(kind)}", _string(kind)) for kind in DERIVE_FAILURE_KINDS]
    return rows


def _pattern(provider: Provider) -> str:
    try:
        return to_go(provider.model_prefix_match)
    except Untranslatable as error:
        raise GenerationError(
            f"provider '{provider.name}': model_prefix_match {provider.model_prefix_match!r} cannot be "
            f"carried into Go with the same meaning ({error}). Rewrite the pattern, or do not generate "
            "the go target for this manifest",
            provider=provider.name,
            pattern=provider.model_prefix_match,
        ) from None


def _camel(snake: str) -> str:
    return "".join(part.upper() if part.lower() in _INITIALISMS else part.capitalize() for part in snake.split("_"))


def _go_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return _string_slice(value)
    raise TypeError(f"cannot write {type(value).__name__} as a Go literal")


def _string_slice(values: Iterable[object]) -> str:
    return "[]string{" + ", ".join(_string(str(v)) for v in values) + "}"


def _string(text: str) -> str:
    """A Go interpreted string literal, ASCII only; a lone surrogate becomes the bytes Python's surrogatepass gives."""
    out = []
    for char in text:
        code_point = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code_point < 0x7F:
            out.append(char)
        elif 0xD800 <= code_point <= 0xDFFF:
            out.append("".join(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogatepass")))
        elif code_point <= 0xFFFF:
            out.append(f"\\u{code_point:04x}")
        else:
            out.append(f"\\U{code_point:08x}")
    return '"' + "".join(out) + '"'
