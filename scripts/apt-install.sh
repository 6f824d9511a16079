#!/bin/sh
# Install Debian packages without questions, as root or through sudo:
#   scripts/apt-install.sh PACKAGE...
# Used by the scripts that install what the tests need (go.sh, chromium.sh, wrk.sh).
set -eu

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "$@"
