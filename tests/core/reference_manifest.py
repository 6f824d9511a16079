"""The bundled manifest as a document to mutate per test, and what loading a mutated one says."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from routegate import InvalidManifest
from routegate.manifest import bundled_manifest_path, parse_manifest

REFERENCE_DOC: dict[str, Any] = yaml.safe_load(bundled_manifest_path().read_text())


def reference() -> dict[str, Any]:
    """A copy of the bundled manifest's document, the test's own to edit."""
    return copy.deepcopy(REFERENCE_DOC)


def problems_of(doc: dict[str, Any]) -> dict[str, str]:
    """The load problems of ``doc`` by place; it must fail to load."""
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(yaml.safe_dump(doc, sort_keys=False), source="test")
    return {p.where: p.message for p in caught.value.problems}


def write(tmp_path: Path, doc: dict[str, Any], name: str = "providers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
