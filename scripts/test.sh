#!/usr/bin/env bash
# Runs every test: unit tests, and the integration suite on SQLite and on a real PostgreSQL.
# Makes sure PostgreSQL is installed and running first; fails loudly if it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh
export OAUTHD_TEST_PG_URL="${OAUTHD_TEST_PG_URL:-$(cat target/.pg-url)}"
echo "PostgreSQL tests use ${OAUTHD_TEST_PG_URL}"
cargo test --locked "$@"
