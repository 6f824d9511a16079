#!/bin/sh
# Install Debian's Go toolchain (golang-go) for the go target's conformance tests
# (tests/gates/test_go_*.py): they build the generated file with `go build`, check
# it with `gofmt -l` and `go vet`, and run it against the Python core.
# The tests find `go` on PATH, or at ROUTEGATE_GO; under CI=true a missing
# toolchain fails them instead of skipping.
set -eu

if command -v go >/dev/null 2>&1; then
    echo "go: already installed ($(go version))"
    exit 0
fi

"$(dirname "$0")/apt-install.sh" golang-go

go version
