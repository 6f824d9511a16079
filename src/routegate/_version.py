"""The installed version, read from the package metadata: pyproject.toml is the one place it is written."""

from __future__ import annotations

from functools import cache

__all__ = ["UNKNOWN", "version"]

UNKNOWN = "0+unknown"
"""The version of a source tree that was never installed, so has no metadata."""


@cache
def version() -> str:
    # Deferred: importlib.metadata costs more than a one-shot decision, so only --version and the service pay.
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("routegate")
    except PackageNotFoundError:
        return UNKNOWN
