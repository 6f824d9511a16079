#!/usr/bin/env bash
# The fast checks (`make check`): no root, no services, a few minutes.
#
#   scripts/lint.sh (ruff check, ruff format --check, mypy --strict),
#   then the unit-level tests: the core and the CI gates, without PostgreSQL or a browser.
#
# Tests that need node's tsc or Go run when those are on PATH and skip otherwise; `make test`
# installs them and runs everything. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

step() { echo "check.sh: $*" >&2; }

scripts/lint.sh
step "unit-level tests"
# CI=true turns a missing toolchain into a failure; the fast checks let such tests skip.
CI= exec "$BIN/python" -m pytest -q -m "not postgres and not browser" tests/core tests/gates "$@"
