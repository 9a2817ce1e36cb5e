#!/bin/sh
# Installs Debian's chromium for tests/integration/test_snippet_browser.py when it is missing and we
# are root (CI and the dev machines run as root). Idempotent, quiet, and never fails the build: when
# it cannot install (not root, no apt-get, offline) the browser test skips and says why.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: chromium is not installed (needs root and apt-get); the browser test will skip"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
    || echo "ensure_chromium: could not install chromium; the browser test will skip"
exit 0
