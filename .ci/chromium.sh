#!/usr/bin/env bash
# CI: headless Chromium for tests/reporters/test_html_browser.py (the HTML report in a real browser).
# Installs the Debian package only when /usr/bin/chromium is missing; quiet and idempotent.
# Playwright's Python package comes with the `test` extra and drives this browser through
# executable_path, so `playwright install` (which downloads a browser) is never needed.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version >/dev/null
