#!/usr/bin/env bash
# Recompile the three locks in requirements/ (`make lock`). Existing pins are kept unless the
# inputs no longer allow them; pass --upgrade to move every pin to the newest release.
#
#   bootstrap.lock  pip and the build backend, installed first by the venv's own pip
#   run.lock        the core and the service extra: what `make run` installs
#   test.lock       run.lock's pins plus the test extra: what `make test` installs
#
# Every lock is universal (markers for Python 3.11 and newer, any platform) and hashed.
# run.lock is compiled from test.lock's pins, so the two never disagree on a version.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
compile() { "$tools/bin/uv" pip compile --quiet --custom-compile-command "make lock" --universal --python-version 3.11 --generate-hashes "$@"; }

compile "$@" pyproject.toml --extra service --extra test -o requirements/test.lock
grep -E '^[A-Za-z0-9._-]+==' requirements/test.lock | sed 's/ .*//' > "$tools/pins.txt"
compile "$@" pyproject.toml --extra service -c "$tools/pins.txt" -o requirements/run.lock
compile "$@" requirements/bootstrap.in -c "$tools/pins.txt" -o requirements/bootstrap.lock
