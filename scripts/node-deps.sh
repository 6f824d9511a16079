#!/usr/bin/env bash
# Node tooling for the typescript target's conformance test (tests/gates):
# node and npm from Debian when absent, then the exact typescript pinned by
# tests/gates/node/package-lock.json, installed with `npm ci` (integrity-checked);
# likewise axe-core for the console's accessibility test (tests/console/node).
#
#   scripts/node-deps.sh                      prints the tsc path on stdout
#   export ROUTEGATE_TSC="$(scripts/node-deps.sh)"
#
# The tests also find tsc at tests/gates/node/node_modules/.bin/tsc without the
# variable. Under CI=true a missing tsc fails the conformance tests instead of
# skipping them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$HERE/tests/gates/node"
AXE_DIR="$HERE/tests/console/node"

say() { echo "node-deps.sh: $*" >&2; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "installing nodejs and npm from Debian"
    if [ "$(id -u)" -ne 0 ]; then
        say "node or npm is missing and this is not root: install nodejs and npm, then run me again"
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
fi

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 18 ]; then
    say "node $(node --version) is too old: the generated code and typescript need node 18 or newer"
    exit 1
fi

(cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
(cd "$AXE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
TSC="$NODE_DIR/node_modules/.bin/tsc"
say "$("$TSC" --version) with node $(node --version)"
echo "$TSC"
