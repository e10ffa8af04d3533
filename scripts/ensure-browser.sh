#!/usr/bin/env bash
# Makes sure the real-browser end-to-end suite (tests/e2e) can run:
#   - Debian's Chromium at /usr/bin/chromium (never a browser download of Playwright's own),
#   - node and npm,
#   - tests/e2e/node_modules from package-lock.json (playwright-core, pinned).
# Idempotent; fails loudly if anything cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "FATAL: not root and no sudo; cannot apt-get install" >&2; exit 1; }
  SUDO=sudo
fi

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    echo "ensure-browser: apt-get update"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  echo "ensure-browser: apt-get install $*"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
[ -x /usr/bin/chromium ] || { echo "FATAL: /usr/bin/chromium is still missing after apt-get install chromium" >&2; exit 1; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
command -v node >/dev/null 2>&1 || { echo "FATAL: node is missing" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "FATAL: npm is missing" >&2; exit 1; }

# node:test with --test-reporter needs node >= 20.
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "FATAL: node $(node --version) is too old; tests/e2e needs node >= 20" >&2
  exit 1
fi

echo "ensure-browser: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium (version unknown)'), node $(node --version), npm $(npm --version 2>/dev/null)"

echo "ensure-browser: npm ci (tests/e2e)"
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing, but be explicit.
(cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
