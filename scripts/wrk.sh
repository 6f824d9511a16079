#!/bin/sh
# Install Debian's wrk, the HTTP load generator bench/calls.py drives the service with
# (its own process, in C, so the figures are the server's and not a Python client's).
# tests/gates/test_benches.py runs that bench's smoke mode, which needs it on PATH.
set -eu

if command -v wrk >/dev/null 2>&1; then
    echo "wrk: already installed"
    exit 0
fi

"$(dirname "$0")/apt-install.sh" wrk

command -v wrk
