#!/bin/sh
# Install Debian's Chromium for the console's Playwright tests.
# Playwright's own browser download is never used: the tests launch
# /usr/bin/chromium directly, so this is the one browser dependency.
set -eu

if [ -x /usr/bin/chromium ]; then
    echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo unknown version))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core

/usr/bin/chromium --version
