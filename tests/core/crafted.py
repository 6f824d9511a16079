"""A small valid manifest for the core's tests, mutated per test."""

from __future__ import annotations

from typing import Any

from tests.manifests import provider

BASE: dict[str, Any] = {
    "schema_version": 1,
    "providers": [
        provider("platform", "^platform/", auth_env=["MOLECULE_LLM_USAGE_TOKEN"], protocol="anthropic"),
        provider("alpha", "^alpha[:/]", upstream_vendor="alpha"),
        provider("beta", "^beta[:/]"),
        provider("gamma", "(?i)^gamma-"),
        # delta and epsilon overlap on "shared-*": ambiguity unless auth env settles it
        provider("delta", "^shared-", auth_env=["DELTA_KEY"]),
        provider("epsilon", "^shared-", auth_env=["EPSILON_KEY"]),
    ],
    "runtimes": {
        "rt": {
            "providers": [
                {"name": "alpha", "models": ["alpha/one", "both-arms"]},
                {"name": "gamma", "models": ["both-arms", "Gamma-Menu"]},
                {"name": "platform", "models": ["platform/listed", "alpha/paid"]},
                {"name": "beta"},
                {"name": "delta"},
                {"name": "epsilon"},
            ]
        },
        "solo": {"providers": [{"name": "beta", "models": ["beta/x"]}]},
    },
}
