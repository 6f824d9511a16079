"""Fixtures for the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_manifest_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the suite (and the CLI processes it starts) out of the user's manifest cache."""
    folder = tmp_path_factory.mktemp("manifest-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROUTEGATE_CACHE_DIR", str(folder))
        yield
