#!/usr/bin/env bash
# Ensures a PostgreSQL server answers on 127.0.0.1:5432 and writes a usable base URL
# (without database name) to target/.pg-url. Installs Debian's postgresql if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -n "${OAUTHD_TEST_PG_URL:-}" ]; then
  echo "$OAUTHD_TEST_PG_URL" > target/.pg-url
  exit 0
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "ensure-postgres: installing Debian's postgresql"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "ensure-postgres: starting cluster ${version}/main"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "ensure-postgres: FATAL: PostgreSQL is not accepting connections on 127.0.0.1:5432" >&2
  exit 1
fi

# Trust auth (as on the dev machines) needs no password; a stock Debian install needs one.
if psql "postgres://postgres@127.0.0.1:5432/postgres" -qAtc 'select 1' >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:5432" > target/.pg-url
else
  as_root su postgres -c "psql -qc \"alter user postgres password 'postgres'\"" >/dev/null
  psql "postgres://postgres:postgres@127.0.0.1:5432/postgres" -qAtc 'select 1' >/dev/null || {
    echo "ensure-postgres: FATAL: cannot log in to PostgreSQL as postgres" >&2; exit 1; }
  echo "postgres://postgres:postgres@127.0.0.1:5432" > target/.pg-url
fi
