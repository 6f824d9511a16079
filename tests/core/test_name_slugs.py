"""Provider and runtime names are ASCII slugs: a look-alike (another script, spaces, case, invisible
characters) is refused with its place, the code point named.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from routegate import InvalidManifest
from routegate._ids import SLUG
from routegate.manifest import parse_manifest

from .crafted import BASE
from .reference_manifest import problems_of, reference, write
from .test_cli import run

LOOK_ALIKES = [
    "pl\u0430tform",  # Cyrillic a
    " hermes ",
    "hermes ",
    "Hermes",
    "her mes",
    "hermes\n",
    "herm\u200bes",  # zero-width space
    "\uff48ermes",  # fullwidth h
    "-hermes",
    ".hermes",
    "",
    "h" * 129,
]


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_look_alike_provider_names_are_refused_with_their_place(base_doc: dict[str, Any], name: str) -> None:
    base_doc["providers"][2]["name"] = name  # beta
    base_doc["runtimes"]["rt"]["providers"][3]["name"] = name
    base_doc["runtimes"]["solo"]["providers"][0]["name"] = name
    found = problems_of(base_doc)
    assert "providers[2].name" in found


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_look_alike_runtime_names_are_refused_with_their_place(base_doc: dict[str, Any], name: str) -> None:
    base_doc["runtimes"][name] = base_doc["runtimes"].pop("solo")
    where = f"runtimes.{name}" if SLUG.fullmatch(name) else f"runtimes.{name!a}"
    assert "runtime name" in problems_of(base_doc)[where]


def test_a_look_alike_is_refused_over_the_cli_with_the_code_point_named(tmp_path: Path) -> None:
    doc = reference()
    doc["runtimes"]["pl\u0430tform"] = doc["runtimes"].pop("hermes")
    code, out, _ = run("lint", "--json", "--manifest", str(write(tmp_path, doc)))
    assert code == 1
    (problem,) = out["problems"]
    assert problem["where"] == "runtimes.'pl\\u0430tform'"
    assert "U+0430 (CYRILLIC SMALL LETTER A)" in problem["message"]


@given(name=st.text(max_size=20))
@settings(max_examples=300)
def test_a_name_loads_exactly_when_it_is_a_slug(name: str) -> None:
    doc = copy.deepcopy(BASE)
    doc["runtimes"] = {name: doc["runtimes"]["solo"]}
    text = yaml.safe_dump(doc)
    if SLUG.fullmatch(name) and name.isascii():
        assert parse_manifest(text).runtimes[name].name == name
    else:
        with pytest.raises(InvalidManifest):
            parse_manifest(text)
