#!/bin/sh
# Install Debian's Chromium for the console's Playwright tests.
# Playwright's own browser download is never used: the tests launch
# /usr/bin/chromium directly, so this is the one browser dependency.
set -eu

if [ -x /usr/bin/chromium ]; then
    echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo unknown version))"
    exit 0
fi

"$(dirname "$0")/apt-install.sh" chromium fonts-dejavu-core

/usr/bin/chromium --version
