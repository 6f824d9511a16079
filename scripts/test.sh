#!/usr/bin/env bash
# Every check CI enforces, then the whole test suite with every real part it needs.
#
#   1. scripts/lint.sh (ruff check, ruff format --check, mypy --strict): seconds, so first.
#   2. PostgreSQL on loopback, Debian's Chromium for the console, node's TypeScript
#      compiler and Debian's Go toolchain for the generated-code conformance runs, and
#      Debian's wrk, the load generator of bench/calls.py.
#   3. pytest under coverage, counting the CLI and `routegate serve` processes the tests
#      start ([tool.coverage] in pyproject.toml), then the line coverage of
#      src/routegate, printed, with a floor of 90%.
#
# Called by `make test` (and so by .ci/run). Extra arguments go to pytest (a subset of the
# tests will usually miss the coverage floor). Any check that fails stops the script with
# that tool's own message and a non-zero exit.
#
# With ROUTEGATE_TEST_POSTGRES_URL already set, the tests use that server and leave it
# running; otherwise the script starts scripts/postgres.sh's cluster, and stops it at the
# end only if it was not already running.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

step() { echo "test.sh: $*" >&2; }

scripts/lint.sh

scripts/chromium.sh >&2
scripts/node-deps.sh >&2
scripts/go.sh >&2
scripts/wrk.sh >&2

stop_postgres=false
cleanup() {
    if $stop_postgres; then scripts/postgres.sh stop >/dev/null 2>&1 || true; fi
    rm -rf "${ROUTEGATE_CACHE_DIR:-}"
}
trap cleanup EXIT

if [ -z "${ROUTEGATE_TEST_POSTGRES_URL:-}" ]; then
    # Something already listening on the cluster's port is a server someone else started.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${ROUTEGATE_PG_PORT:-54329}") 2>/dev/null; then
        stop_postgres=true
    fi
    ROUTEGATE_TEST_POSTGRES_URL="$(scripts/postgres.sh)"
fi
export ROUTEGATE_TEST_POSTGRES_URL

# The manifest cache is per run, so a test never depends on what an earlier run left.
ROUTEGATE_CACHE_DIR="$(mktemp -d)"
export ROUTEGATE_CACHE_DIR

# The README's test command installs everything, so nothing may skip.
export CI="${CI:-true}"

"$BIN/coverage" erase
step "pytest under coverage"
# pytest's exit code 5 (no tests collected) fails here like any other non-zero code.
"$BIN/coverage" run -m pytest "$@"
step "coverage of src/routegate (floor: [tool.coverage.report] fail_under)"
"$BIN/coverage" combine --quiet
"$BIN/coverage" report
