#!/usr/bin/env bash
# The whole test suite, with every real part it needs: PostgreSQL on loopback,
# Debian's Chromium for the console, node's TypeScript compiler and Debian's
# Go toolchain for the generated-code conformance runs. Called by `make test` (and so by .ci/run).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/chromium.sh >&2
scripts/node-deps.sh >&2
scripts/go.sh >&2

ROUTEGATE_TEST_POSTGRES_URL="$(scripts/postgres.sh)"
export ROUTEGATE_TEST_POSTGRES_URL
trap 'scripts/postgres.sh stop >/dev/null 2>&1 || true; rm -rf "${ROUTEGATE_CACHE_DIR:-}"' EXIT

# The manifest cache is per run, so a test never depends on what an earlier run left.
ROUTEGATE_CACHE_DIR="$(mktemp -d)"
export ROUTEGATE_CACHE_DIR

# The README's test command installs everything, so nothing may skip.
export CI="${CI:-true}"
.venv/bin/python -m pytest "$@"
