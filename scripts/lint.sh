#!/usr/bin/env bash
# The static checks, first in both `make check` and `make test`: seconds, no services.
#
#   ruff check, ruff format --check, mypy --strict ([tool.mypy] names the files)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

step() { echo "lint.sh: $*" >&2; }

step "ruff check"
"$BIN/ruff" check .
step "ruff format --check"
"$BIN/ruff" format --check .
step "mypy --strict"
"$BIN/mypy"
