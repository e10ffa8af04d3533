#!/usr/bin/env bash
# Runs every test, on SQLite and on a real PostgreSQL:
#   0. cargo fmt --check and cargo clippy --all-targets -D warnings;
#   1. cargo test: unit tests, the HTTP integration suite (tests/api, including the check that
#      top-level modules import only downwards and never in a cycle) and property tests;
#   2. tests/e2e/run.sh: the SPA flow in a real browser (Debian's Chromium);
#   3. tests/interop/run.sh: third-party client libraries (Authlib, PyJWT, openid-client, jose) and
#      relying parties on default settings (go-oidc, pyoidc, openidconnect).
# Makes sure PostgreSQL, Chromium, Python and Node are installed first; fails loudly if not.
# Arguments go to `cargo test` (e.g. `scripts/test.sh password` runs matching Rust tests only,
# and then skips the browser and interop suites).
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n#################### %s ####################\n' "$*"; }

scripts/ensure-postgres.sh
export OAUTHD_TEST_PG_URL="${OAUTHD_TEST_PG_URL:-$(cat target/.pg-url)}"
echo "PostgreSQL tests use ${OAUTHD_TEST_PG_URL}"

# Each test makes its own database; drop those an earlier run left behind.
psql "${OAUTHD_TEST_PG_URL}/postgres" -qAtc "select datname from pg_database where datname like 'oauthd_test_%'" \
  | while read -r db; do psql "${OAUTHD_TEST_PG_URL}/postgres" -qc "drop database if exists \"$db\"" >/dev/null; done
rm -f "${TMPDIR:-/tmp}"/oauthd_test_*.db*

section "cargo fmt --check, cargo clippy"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings

section "cargo test (the layer and import-cycle check is tests/api/layers.rs)"
cargo test --locked "$@"
if [ "$#" -gt 0 ]; then
  echo "(filtered run: browser and interop suites skipped)"
  exit 0
fi

section "cargo build --release (for the browser and interop suites)"
cargo build --release --locked
export OAUTHD_BIN="$PWD/target/release/oauthd"

section "tests/e2e/run.sh"
tests/e2e/run.sh

section "tests/interop/run.sh"
tests/interop/run.sh

section "all suites passed"
