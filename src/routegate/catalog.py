"""Catalog facts about model lifecycles, reviewed and never trusted: a proposed manifest edit.

LiteLLM ships its model catalog as ``model_prices_and_context_window_backup.json``: a
mapping from a model key to facts, among them ``deprecation_date`` (the vendor's
shutdown day, YYYY-MM-DD) and ``litellm_provider``. Each menu id is matched to a key by
the vendor's own id (the id itself, or what follows its upstream vendor's prefix), and
each dated match becomes a proposed ``lifecycle`` entry that names its source. Nothing
is fetched from the network and nothing is applied: a person reviews the patch.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from routegate._ids import UPSTREAM_SEPARATORS
from routegate.errors import RoutegateError
from routegate.registry import Registry

__all__ = [
    "LITELLM_CATALOG",
    "CatalogDate",
    "CatalogUnavailable",
    "UnpatchableManifest",
    "installed_litellm_catalog",
    "installed_litellm_source",
    "patch",
    "proposals",
    "read_catalog",
]

LITELLM_CATALOG = "model_prices_and_context_window_backup.json"


class CatalogUnavailable(RoutegateError, OSError):
    """The catalog cannot be read: the message says where it was looked for and what to do."""


class UnpatchableManifest(RoutegateError, ValueError):
    """The manifest's ``lifecycle`` list is not its last top-level key, so entries cannot be appended."""


@dataclass(frozen=True, slots=True)
class CatalogDate:
    """A menu id the catalog dates, with the key and file the date was read from."""

    model: str
    retires_on: date
    key: str
    source: str


def installed_litellm_catalog() -> Path:
    """The catalog file the installed ``litellm`` package ships (the package is not imported)."""
    spec = find_spec("litellm")
    if spec is None or spec.origin is None:
        raise CatalogUnavailable(
            "litellm is not installed; install it (pip install litellm) or pass a file in its format with --file"
        )
    path = Path(spec.origin).parent / LITELLM_CATALOG
    if not path.is_file():
        raise CatalogUnavailable(f"the installed litellm has no {LITELLM_CATALOG} at {path}; pass one with --file")
    return path


def installed_litellm_source() -> str:
    """How a patch names the installed catalog: the package and its version, so a reviewer knows which facts."""
    try:
        return f"litellm {version('litellm')} {LITELLM_CATALOG}"
    except PackageNotFoundError:  # importable but not installed as a distribution (a source checkout)
        return f"litellm {LITELLM_CATALOG}"


def read_catalog(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CatalogUnavailable(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise CatalogUnavailable(f"{path} is not a JSON object of model keys")
    return data


def proposals(registry: Registry, catalog: Mapping[str, Any], source: str) -> tuple[CatalogDate, ...]:
    """Each menu id not yet dated that the catalog gives a ``deprecation_date``, in menu order."""
    dated = {entry.model for entry in registry.lifecycle.entries if entry.model is not None}
    menu = dict.fromkeys(model for runtime in registry.runtimes for model in registry.menu(runtime))
    found = []
    for model in menu:
        if model in dated:
            continue
        for key in _vendor_keys(registry, model):
            day = _deprecation_date(catalog.get(key))
            if day is not None:
                found.append(CatalogDate(model, day, key, source))
                break
    return tuple(found)


def _vendor_keys(registry: Registry, model: str) -> Iterator[str]:
    """The catalog keys that may name ``model``: itself, then the vendor's own id and its LiteLLM spellings."""
    yield model
    for separator in UPSTREAM_SEPARATORS:
        vendor, found, rest = model.partition(separator)
        if found and rest:
            yield rest
            yield f"{vendor}/{rest}"


def _deprecation_date(facts: object) -> date | None:
    text = facts.get("deprecation_date") if isinstance(facts, dict) else None
    try:
        return date.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None  # a catalog typo proposes nothing rather than a wrong date


def patch(manifest_text: str, manifest_name: str, found: tuple[CatalogDate, ...]) -> str:
    """A unified diff adding one ``lifecycle`` entry per date, each commented with its source."""
    lines = []
    for item in found:
        lines += [
            f"  # {item.source}: key {json.dumps(item.key)}, deprecation_date {item.retires_on}; "
            "review it, name a successor",
            f"  - model: {json.dumps(item.model)}",
            f"    retires_on: {item.retires_on.isoformat()}",
        ]
    top_level = [line.split(":")[0] for line in manifest_text.splitlines() if line[:1].isalpha()]
    has_block = "lifecycle" in top_level
    if has_block and top_level[-1] != "lifecycle":
        raise UnpatchableManifest(
            f"{manifest_name}: 'lifecycle' is not the last top-level key, so the proposed entries cannot be "
            "appended to it; move the lifecycle list to the end of the file, or add the entries by hand"
        )
    text = manifest_text if manifest_text.endswith("\n") else manifest_text + "\n"
    proposed = text + ("" if has_block else "\nlifecycle:\n") + "\n".join(lines) + "\n"
    diff = difflib.unified_diff(
        text.splitlines(keepends=True), proposed.splitlines(keepends=True), f"a/{manifest_name}", f"b/{manifest_name}"
    )
    return "".join(diff)
