"""What a request could write, so a test can show that a refusal wrote nothing."""

from __future__ import annotations

from .conftest import LiveServer

HERMES = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}
"""A runtime and model every gate admits: the part of a request body a test does not vary."""


def everything(server: LiveServer) -> tuple[int, int, int]:
    """Rows of every table a request could write."""
    return server.count("workspaces"), server.count("decisions"), server.count("idempotency_keys")
