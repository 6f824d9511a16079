"""Fixtures for the core's tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from routegate import Registry

from .crafted import BASE


@pytest.fixture
def base_doc() -> dict[str, Any]:
    return copy.deepcopy(BASE)


@pytest.fixture
def to_yaml() -> Callable[[dict[str, Any]], str]:
    return lambda doc: yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def crafted(base_doc: dict[str, Any]) -> Registry:
    return Registry.from_yaml(yaml.safe_dump(base_doc, sort_keys=False), source="crafted")


@pytest.fixture(scope="session")
def reference() -> Registry:
    return Registry.load()
