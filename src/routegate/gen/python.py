"""The ``python`` target: a standard-library-only module holding the registry's data."""

from __future__ import annotations

from routegate.gen._render import render as _render_template
from routegate.manifest import Manifest

_INDENT = "    "


def render(manifest: Manifest) -> str:
    data = manifest.to_data()
    providers = {p["name"]: _provider(p, manifest) for p in data["providers"]}
    runtimes = {
        runtime.name: {
            "arms": tuple({"provider": arm.provider.name, "models": arm.models} for arm in runtime.arms),
            "menu": runtime.menu,
        }
        for runtime in manifest.runtimes.values()
    }
    return _render_template(
        "routegate_registry.py.j2",
        schema_version=manifest.schema_version,
        fingerprint=manifest.fingerprint,
        providers=_literal(providers, 0),
        runtimes=_literal(runtimes, 0),
        lifecycle=_literal(tuple(entry.to_data() for entry in manifest.lifecycle), 0),
    )


def _provider(fields: dict[str, object], manifest: Manifest) -> dict[str, object]:
    """The canonical fields, ``platform_keyed`` answered as the core answers it (not only as declared)."""
    return {**fields, "platform_keyed": manifest.providers[str(fields["name"])].platform_keyed}


def _literal(value: object, depth: int) -> str:
    """A Python literal, one item per line: stable across Python versions, unlike pprint."""
    inner, outer = _INDENT * (depth + 1), _INDENT * depth
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = "".join(f"{inner}{key!a}: {_literal(item, depth + 1)},\n" for key, item in value.items())
        return "{\n" + items + outer + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "()"
        items = "".join(f"{inner}{_literal(item, depth + 1)},\n" for item in value)
        return "(\n" + items + outer + ")"
    if isinstance(value, str):
        return ascii(value)  # escapes all non-ASCII: no dependence on the Unicode tables of the Python at hand
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    raise TypeError(f"cannot write {type(value).__name__} as a literal")
