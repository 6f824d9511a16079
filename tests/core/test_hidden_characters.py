"""Text that does not show what it says is refused in every string of a manifest, by the API's own rule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from routegate import _ids, _schema
from routegate.errors import InvalidManifest, Problem
from routegate.manifest import parse_manifest
from tests.manifests import manifest_doc, provider

ROUTEGATE = shutil.which("routegate", path=os.path.dirname(sys.executable)) or "routegate"

HIDDEN = [cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) in _ids.HIDDEN_CATEGORIES]
"""Every refused code point: controls, format characters (bidi controls, zero-width ones), separators, surrogates."""

ALWAYS_DRAWN = [0x202E, 0x200B, 0x200E, 0x2066, 0xFEFF, 0x00AD, 0x0000, 0x0085, 0x2028, 0x2029, 0xD800]
"""The well-known impostors, drawn as often as the rest together."""

hidden_chars = st.one_of(st.sampled_from(ALWAYS_DRAWN), st.sampled_from(HIDDEN)).map(chr)


def base() -> dict[str, Any]:
    alpha = provider(
        "alpha",
        "^alpha/",
        vendor_logo="alpha.svg",
        base_url_template="https://alpha.example/v1",
        base_url_anthropic="https://alpha.example/anthropic",
        auth_token_env="ALPHA_TOKEN",
        model_aliases=["alpha-latest"],
        upstream_vendor="alpha",
    )
    beta = provider("beta", "^beta/")
    arms: list[dict[str, Any]] = [{"name": "alpha", "models": ["alpha/one", "alpha/two"]}, {"name": "beta"}]
    return manifest_doc([alpha, beta], {"rt": arms})


def _text_setter(path: tuple[Any, ...]) -> Callable[[dict[str, Any], Callable[[str], str]], None]:
    def edit(doc: dict[str, Any], change: Callable[[str], str]) -> None:
        holder = doc
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = change(holder[path[-1]])

    return edit


def _rename_runtime(doc: dict[str, Any], change: Callable[[str], str]) -> None:
    doc["runtimes"] = {change(name): value for name, value in doc["runtimes"].items()}


FIELDS: dict[str, Callable[[dict[str, Any], Callable[[str], str]], None]] = {
    **{
        f"providers[0].{name}": _text_setter(("providers", 0, name))
        for name in (
            "name",
            "display_name",
            "vendor_logo",
            "base_url_template",
            "base_url_anthropic",
            "auth_token_env",
            "model_prefix_match",
            "upstream_vendor",
        )
    },
    "providers[0].auth_env": _text_setter(("providers", 0, "auth_env", 0)),
    "providers[0].model_aliases": _text_setter(("providers", 0, "model_aliases", 0)),
    "runtimes.rt.providers[0].name": _text_setter(("runtimes", "rt", "providers", 0, "name")),
    "runtimes.rt.providers[0].models": _text_setter(("runtimes", "rt", "providers", 0, "models", 1)),
    "runtimes": _rename_runtime,
}
"""Every string a manifest holds, by the place its problem is reported at (a runtime's name: at ``runtimes``)."""


def load(doc: dict[str, Any]) -> None:
    # Escaped, every code point but a lone surrogate passes the YAML reader.
    parse_manifest(yaml.safe_dump(doc, allow_unicode=False), source="test")


def problems(doc: dict[str, Any]) -> list[Problem]:
    """What loading finds; a lone surrogate (which the YAML reader refuses) is handed to the schema directly."""
    if any(unicodedata.category(c) == "Cs" for c in json.dumps(doc, ensure_ascii=False)):
        return _schema.validate(doc)[1]
    try:
        load(doc)
    except InvalidManifest as error:
        return list(error.problems)
    return []


def test_the_base_document_loads() -> None:
    load(base())


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(sorted(FIELDS)), char=hidden_chars, where=st.integers(min_value=0, max_value=64))
def test_a_hidden_character_in_any_field_is_refused_naming_it(field: str, char: str, where: int) -> None:
    doc = base()
    FIELDS[field](doc, lambda text: text[: where % (len(text) + 1)] + char + text[where % (len(text) + 1) :])
    found = problems(doc)
    messages = [p.message for p in found if p.where.startswith(field)]
    assert messages, found
    assert any(f"U+{ord(char):04X}" in message for message in messages), messages


@settings(max_examples=150, deadline=None)
@given(text=st.text(min_size=1, max_size=12))
def test_the_manifest_and_the_api_share_one_rule(text: str) -> None:
    """A display name is refused by the manifest exactly when the API refuses the same text in a request."""
    from routegate.service import schemas

    doc = base()
    doc["providers"][1]["display_name"] = text
    try:
        load(doc)
        manifest_refuses = False
    except InvalidManifest as error:
        manifest_refuses = any(p.where == "providers[1].display_name" for p in error.problems)
    try:
        TypeAdapter(schemas.ModelId).validate_python(text)
        api_refuses = False
    except ValidationError:
        api_refuses = True
    assert manifest_refuses == api_refuses == (_ids.hidden_character(text) is not None)


@pytest.mark.parametrize("char", ["\u202e", "\u200b"])
def test_lint_rejects_an_impostor_menu_id(tmp_path: Path, char: str) -> None:
    doc = base()
    doc["runtimes"]["rt"]["providers"][0]["models"].append(f"alpha/o{char}ne")
    path = tmp_path / "providers.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.run([ROUTEGATE, "lint", "--manifest", str(path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "runtimes.rt.providers[0].models" in proc.stdout
    assert f"U+{ord(char):04X}" in proc.stdout and "remove it" in proc.stdout
