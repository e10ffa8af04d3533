#!/usr/bin/env bash
# Runs every test: unit tests, and the integration suite on SQLite and on a real PostgreSQL.
# Makes sure PostgreSQL is installed and running first; fails loudly if it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh
export OAUTHD_TEST_PG_URL="${OAUTHD_TEST_PG_URL:-$(cat target/.pg-url)}"
echo "PostgreSQL tests use ${OAUTHD_TEST_PG_URL}"

# Each test makes its own database; drop those an earlier run left behind.
psql "${OAUTHD_TEST_PG_URL}/postgres" -qAtc "select datname from pg_database where datname like 'oauthd_test_%'" \
  | while read -r db; do psql "${OAUTHD_TEST_PG_URL}/postgres" -qc "drop database if exists \"$db\"" >/dev/null; done
rm -f "${TMPDIR:-/tmp}"/oauthd_test_*.db*
cargo test --locked "$@"
