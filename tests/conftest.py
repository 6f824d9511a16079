"""Fixtures for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# A test's outcome must not depend on the machine's speed: no per-example deadline, and no health
# check that fails a test because drawing examples was slow on a loaded machine.
settings.register_profile("routegate", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("routegate")


@pytest.fixture(autouse=True, scope="session")
def private_manifest_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the suite (and the CLI processes it starts) out of the user's manifest cache and its key.

    The cache folder and the folder holding the cache's key are this run's own, so no test reads,
    writes or creates anything under the real home.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROUTEGATE_CACHE_DIR", str(tmp_path_factory.mktemp("manifest-cache")))
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        yield
