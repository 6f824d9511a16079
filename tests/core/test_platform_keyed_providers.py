"""A provider holding the platform's credential or endpoint is platform-keyed by its effect (G1), however
either is spelt; one sharing only a vendor's env or URL stays BYOK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from routegate import Registry
from tests.manifests import provider

from .reference_manifest import REFERENCE_DOC, problems_of, reference, write
from .test_cli import run

PLATFORM_DOC = next(p for p in REFERENCE_DOC["providers"] if p["name"] == "platform")
PLATFORM_ENV = PLATFORM_DOC["auth_env"][0]
PLATFORM_URLS = [PLATFORM_DOC["base_url_template"], PLATFORM_DOC["base_url_anthropic"]]


def _respellings(url: str) -> list[str]:
    """The same endpoint written differently: case, trailing slash, default port, dot segments, escapes."""
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return [
        url,
        url + "/",
        f"{scheme.upper()}://{host.upper()}/{path}",
        f"{scheme}://{host}:443/{path}",
        f"{scheme}://{host}./{path}",
        f"{scheme}://{host}/x/../{path}",
        f"{scheme}://{host}/{path.replace('v1', '%76%31')}",
        f"{url}/chat/completions",
    ]


DISGUISES = [
    {"auth_env": [PLATFORM_ENV]},
    {"auth_env": ["OWN_KEY", PLATFORM_ENV]},
    *({"base_url_template": url} for url in _respellings(PLATFORM_URLS[0])),
    *({"base_url_anthropic": url} for url in _respellings(PLATFORM_URLS[1])),
    {"base_url_template": PLATFORM_URLS[1]},  # the platform's other surface counts too
]


@pytest.mark.parametrize("disguise", DISGUISES)
def test_a_provider_with_the_platforms_credential_or_url_is_platform_keyed(disguise: dict[str, Any]) -> None:
    doc = reference()
    doc["providers"].append(provider("totally-byok", "^totally-byok/", **disguise))
    doc["runtimes"]["hermes"]["providers"].append({"name": "totally-byok"})
    where = f"runtimes.hermes.providers[{len(doc['runtimes']['hermes']['providers']) - 1}]"
    message = problems_of(doc)[where]
    assert "G1" in message and "'totally-byok'" in message and "platform's" in message
    # On a menu arm it may stay, and every listing marks it platform-keyed.
    doc["runtimes"]["hermes"]["providers"][-1]["models"] = ["totally-byok/one"]
    registry = Registry.from_yaml(yaml.safe_dump(doc))
    assert registry.catalog["totally-byok"].platform_keyed


def test_g1_by_effect_over_the_cli_names_the_place(tmp_path: Path) -> None:
    doc = reference()
    doc["providers"].append(provider("helper", "^helper/", auth_env=[PLATFORM_ENV]))
    doc["runtimes"]["openclaw"]["providers"].append({"name": "helper"})
    code, out, _ = run("lint", "--json", "--manifest", str(write(tmp_path, doc)))
    assert code == 1
    (problem,) = out["problems"]
    assert problem["where"] == "runtimes.openclaw.providers[4]" and PLATFORM_ENV in problem["message"]


@pytest.mark.parametrize(
    "byok",
    [
        {"auth_env": ["OPENAI_API_KEY"], "base_url_template": "https://api.openai.com/v1"},
        {"auth_env": ["ANTHROPIC_API_KEY"], "base_url_anthropic": "https://api.anthropic.com/v1"},
        # the platform's token env (where the runtime projects a key) is not its credential
        {"auth_env": [PLATFORM_DOC["auth_token_env"]]},
        # its host, but not its endpoints
        {"base_url_template": "https://api.moleculesai.app/api/v1/public/other"},
    ],
)
def test_sharing_a_vendors_env_or_url_stays_byok(byok: dict[str, Any]) -> None:
    doc = reference()
    doc["providers"].append(provider("byok-vendor", "^byok-vendor/", **byok))
    doc["runtimes"]["hermes"]["providers"].append({"name": "byok-vendor"})
    registry = Registry.from_yaml(yaml.safe_dump(doc))
    assert not registry.catalog["byok-vendor"].platform_keyed
    decision = registry.check("hermes", "byok-vendor/some-model")
    assert (decision.allowed, decision.provider.name, decision.billing_mode) == (True, "byok-vendor", "byok")


def test_the_references_byok_providers_keep_loading() -> None:
    registry = Registry.load()
    for name in ("zai", "custom", "openrouter", "xiaomi-mimo"):
        assert not registry.catalog[name].platform_keyed, name
    assert registry.check("openclaw", "custom:my-model").provider.name == "custom"
