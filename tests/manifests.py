"""Building blocks for crafted manifests, shared by the core and CI-gate tests."""

from __future__ import annotations

from typing import Any


def provider(name: str, pattern: str, **extra: Any) -> dict[str, Any]:
    doc = {
        "name": name,
        "display_name": name.title(),
        "protocol": "openai",
        "auth_mode": "third_party_anthropic_compat",
        "auth_env": [f"{name.upper().replace('-', '_')}_API_KEY"],
        "model_prefix_match": pattern,
    }
    doc.update(extra)
    return doc


def manifest_doc(providers: list[dict[str, Any]], runtimes: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"schema_version": 1, "providers": providers, "runtimes": {k: {"providers": v} for k, v in runtimes.items()}}


# hermes' kimi-k2.5 deprecated on 2026-06-01 and retired on 2026-07-01, succeeded by kimi-k2.6:
# a lifecycle entry to append to the bundled manifest.
OLD, NEW = "moonshot/kimi-k2.5", "moonshot/kimi-k2.6"
DATES = f"""
lifecycle:
  - model: {OLD}
    runtimes: [hermes]
    deprecated_on: 2026-06-01
    retires_on: 2026-07-01
    successor: {NEW}
"""
# Two more dated entries, for claude-code: every id of a provider (deprecated, then retired), and a
# model that retires with no deprecation first.
CLAUDE_CODE_DATES = """\
  - provider: anthropic-oauth
    runtimes: [claude-code]
    deprecated_on: 2026-06-10
    retires_on: 2026-08-01
  - model: opus
    runtimes: [claude-code]
    retires_on: 2026-09-01
"""
