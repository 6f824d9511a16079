"""Text fields show what they say: a hidden character in any of them is 400 naming the field and the
code point, and env names follow the manifest's rule; nothing refused is written.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import _ids
from routegate.service import Settings

from .conftest import LiveServer
from .writes import HERMES, everything

HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")
TEXT_FIELDS = {
    "name": {"name": "{}", **HERMES},
    "role": {"name": "n", "role": "{}", **HERMES},
    "runtime": {"name": "n", "runtime": "{}", "model": "kimi-coding/kimi-k2"},
    "model": {"name": "n", "runtime": "hermes", "model": "{}"},
    "template": {"name": "n", "template": "{}", **HERMES},
    "url": {"name": "n", "url": "{}", **HERMES},
    "parent_id": {"name": "n", "parent_id": "{}", **HERMES},
}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    field=st.sampled_from(sorted(TEXT_FIELDS)),
    hidden=st.characters(categories=HIDDEN_CATEGORIES),
    prefix=st.text(alphabet="abc-/", max_size=5),
    suffix=st.text(alphabet="xyz.:", max_size=5),
)
def test_hidden_characters_in_any_text_field_are_400_naming_it(
    text_server: LiveServer, field: str, hidden: str, prefix: str, suffix: str
) -> None:
    body = {
        key: (value.replace("{}", prefix + hidden + suffix) if key == field else value)
        for key, value in TEXT_FIELDS[field].items()
    }
    before = everything(text_server)
    with text_server.client() as http:
        response = http.post("/workspaces", json=body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["code"] == "INVALID_FIELDS" and payload["fields"] == [field]
    assert f"U+{ord(hidden):04X}" in payload["problems"][0]["message"]
    assert f"position {len(prefix)}" in payload["problems"][0]["message"]
    assert everything(text_server) == before


@pytest.fixture(scope="module")
def text_server(backend_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Settings(database_url=backend_url)).start()
    yield server
    server.stop()


def test_named_hidden_characters(text_server: LiveServer) -> None:
    """The issue's examples: a bidi override, a zero-width space, a line separator, a BOM."""
    with text_server.client() as http:
        for char in ("\u202e", "\u200b", "\u2028", "\u2029", "\ufeff", "\x85"):
            response = http.post("/registry/check", json={"runtime": "hermes", "model": f"gpt{char}-4o"})
            assert response.status_code == 400 and response.json()["fields"] == ["model"], repr(char)
        assert http.post("/registry/check", json={"runtime": "hermes", "model": "kimi\u00a0k2"}).status_code == 200


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.text(alphabet="ABCXYZabcxyz019_-. ", min_size=1, max_size=12))
def test_env_names_follow_the_manifest_rule(text_server: LiveServer, name: str) -> None:
    with text_server.client() as http:
        response = http.post("/registry/check", json={**HERMES, "auth_env": [name]})
    accepted = _ids.ENV_NAME.fullmatch(name) is not None
    assert response.status_code == (200 if accepted else 400), (name, response.text)
    if not accepted:
        assert response.json()["fields"] == ["auth_env.0"]
