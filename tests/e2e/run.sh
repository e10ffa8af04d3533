#!/usr/bin/env bash
# Real-browser end-to-end suite: Debian's Chromium (via playwright-core) runs the SPA in
# tests/e2e/spa through the authorization code + PKCE flow of a fresh oauthd, once on SQLite
# and once on PostgreSQL.
#
#   tests/e2e/run.sh
#
# Environment:
#   OAUTHD_BIN            use this binary instead of building target/release/oauthd
#   OAUTHD_TEST_PG_URL    PostgreSQL base URL, no database (default: from scripts/ensure-postgres.sh)
#   OAUTHD_E2E_BACKENDS   backends to run (default "sqlite postgres")
#   OAUTHD_E2E_SKIP_INSTALL=1  do not run scripts/ensure-browser.sh (reuse node_modules as is)
#   OAUTHD_E2E_KEEP=1     keep each run's temporary directory (database, server.log)
#   NODE_TEST_ARGS        extra arguments for node --test (e.g. --test-name-pattern=NAME)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

section() { printf '\n==================== %s ====================\n' "$*"; }

BACKENDS=${OAUTHD_E2E_BACKENDS:-sqlite postgres}

if [ "${OAUTHD_E2E_SKIP_INSTALL:-}" != 1 ]; then
  section "Browser and node dependencies (scripts/ensure-browser.sh)"
  scripts/ensure-browser.sh
fi

case " $BACKENDS " in
  *" postgres "*)
    section "PostgreSQL (scripts/ensure-postgres.sh)"
    scripts/ensure-postgres.sh
    export OAUTHD_TEST_PG_URL="${OAUTHD_TEST_PG_URL:-$(cat target/.pg-url)}"
    ;;
esac

if [ -n "${OAUTHD_BIN:-}" ]; then
  case "$OAUTHD_BIN" in
    */*) OAUTHD_BIN=$(realpath "$OAUTHD_BIN") ;;
    *) OAUTHD_BIN=$(command -v "$OAUTHD_BIN") ;;
  esac
  section "Using OAUTHD_BIN=$OAUTHD_BIN"
else
  section "Building oauthd (cargo build --release)"
  cargo build --release
  OAUTHD_BIN=$ROOT/target/release/oauthd
fi
[ -x "$OAUTHD_BIN" ] || { echo "FATAL: $OAUTHD_BIN is not an executable" >&2; exit 1; }
export OAUTHD_BIN
"$OAUTHD_BIN" --version

# Counts from node's TAP summary: "passed failed skipped".
tap_counts() {
  node -e '
    const n = { pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
    let text = "";
    try { text = require("fs").readFileSync(process.argv[1], "utf8"); } catch {}
    for (const line of text.split("\n")) {
      const m = /^# (pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line.trim());
      if (m) n[m[1]] = Number(m[2]);
    }
    console.log(n.pass, n.fail + n.cancelled, n.skipped + n.todo);
  ' "$1"
}

TAP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/oauthd-e2e-tap.XXXXXX")
trap 'rm -rf "$TAP_DIR"' EXIT

FAILED=0
TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
SUMMARY=()
for backend in $BACKENDS; do
  section "Backend: $backend"
  rc=0
  # shellcheck disable=SC2086
  OAUTHD_TEST_BACKEND=$backend node --test \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$TAP_DIR/$backend.tap" \
    ${NODE_TEST_ARGS:-} tests/e2e/ || rc=$?
  read -r p f s < <(tap_counts "$TAP_DIR/$backend.tap")
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  [ "$rc" = 0 ] || FAILED=1
  SUMMARY+=("$(printf '%-9s %d passed, %d failed, %d skipped (exit %d)' "$backend" "$p" "$f" "$s" "$rc")")
  TOTAL_PASS=$((TOTAL_PASS + p))
  TOTAL_FAIL=$((TOTAL_FAIL + f))
  TOTAL_SKIP=$((TOTAL_SKIP + s))
done

section "E2E summary"
for line in "${SUMMARY[@]}"; do echo "$line"; done
echo "e2e: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
exit "$FAILED"
