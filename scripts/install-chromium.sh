#!/usr/bin/env bash
# Installs Debian's chromium for the connection-form browser test (Playwright drives it; nothing is downloaded by
# Playwright itself). Does nothing when chromium is already there; when it cannot be installed (not root, no apt,
# no package index) it says so in one line and the browser test reports itself skipped.
set -u
if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(chromium --version 2>/dev/null | head -n 1)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not installed and cannot install it here (needs root and apt-get); the browser test will be skipped"
  exit 0
fi
if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
    >/tmp/install-chromium.log 2>&1; then
  echo "chromium: installed $(chromium --version 2>/dev/null | head -n 1)"
else
  echo "chromium: apt-get install failed (see /tmp/install-chromium.log); the browser test will be skipped"
fi
exit 0
