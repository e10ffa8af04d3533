#!/usr/bin/env bash
# Soak test: a mixed load of grants against one `oauthd serve` on a fresh PostgreSQL database.
#
# Builds the release binary, creates a throw-away database, provisions an API, three clients and
# a few users through the CLI, starts the server on a free port, and runs bench/soak.py for
# SOAK_SECONDS: mostly client_credentials, plus introspection, refresh-token rotation and a paced
# trickle of password logins (Argon2, ~20-50 ms CPU each). Prints a markdown table (per grant:
# requests, req/s, p50/p99, errors by status; server RSS at start, peak and end) and writes it to
# bench/results/soak.md. Expected: zero 5xx, zero transport errors, flat memory.
#
# Environment:
#   SOAK_SECONDS        duration of the load (default 60)
#   SOAK_PG_URL         PostgreSQL base URL, no database name (default postgres://postgres@127.0.0.1:5432)
#   SOAK_WORKERS        concurrent connections of the mixed workers (default 16)
#   SOAK_PASSWORD_RPS   paced password logins per second, on top of the workers' own (default 4)
#   SOAK_USERS_COUNT    number of users (default 4)
#   OAUTHD_ARGON2_MEMORY_KIB  passed to the server (default 19456, the server's own default)
#
# Exit status: non-zero if the server died, or any request got a 5xx or a transport error.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_PG_URL=${SOAK_PG_URL:-postgres://postgres@127.0.0.1:5432}
SOAK_PG_URL=${SOAK_PG_URL%/}
SOAK_WORKERS=${SOAK_WORKERS:-16}
SOAK_PASSWORD_RPS=${SOAK_PASSWORD_RPS:-4}
SOAK_USERS_COUNT=${SOAK_USERS_COUNT:-4}
export OAUTHD_ARGON2_MEMORY_KIB=${OAUTHD_ARGON2_MEMORY_KIB:-19456}
AUDIENCE=https://soak.example
API_SCOPES="read:soak write:soak"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'soak: %s\n' "$*" >&2; exit 1; }

for tool in python3 curl psql; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

log "building (cargo build --release)"
cargo build --release >&2
BIN="$ROOT/target/release/oauthd"
[ -x "$BIN" ] || die "missing $BIN"

WORK=$(mktemp -d /tmp/oauthd-soak.XXXXXX)
SERVER_PID=""
PG_DB=""

cleanup() {
    local rc=$?
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_DB" ]; then
        psql "$SOAK_PG_URL/postgres" -v ON_ERROR_STOP=1 -qAt \
            -c "drop database if exists \"$PG_DB\" with (force)" >/dev/null 2>&1 ||
            printf 'soak: could not drop database %s\n' "$PG_DB" >&2
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# ---------------------------------------------------------------- database and provisioning
PG_DB="oauthd_soak_$(date +%s)_$$"
psql "$SOAK_PG_URL/postgres" -v ON_ERROR_STOP=1 -qAt -c "create database \"$PG_DB\"" >/dev/null
PORT=$(free_port)
export OAUTHD_DATABASE_URL="$SOAK_PG_URL/$PG_DB"
export OAUTHD_BIND="127.0.0.1:$PORT"
export RUST_LOG=warn

log "provisioning $OAUTHD_DATABASE_URL"
"$BIN" migrate
"$BIN" api create --identifier "$AUDIENCE" --scope "$API_SCOPES" >/dev/null
cc_json=$("$BIN" client create --name soak-cc --grant client_credentials \
    --api "$AUDIENCE" --scope "$API_SCOPES" --json)
rs_json=$("$BIN" client create --name soak-introspector --grant client_credentials \
    --api "$AUDIENCE" --scope read:soak --json)
user_json=$("$BIN" client create --name soak-users --grant password --grant refresh_token \
    --api "$AUDIENCE" --scope read:soak --json)
export SOAK_CC_ID SOAK_CC_SECRET SOAK_RS_ID SOAK_RS_SECRET SOAK_USER_CLIENT_ID SOAK_USER_CLIENT_SECRET
SOAK_CC_ID=$(json_field client_id <<<"$cc_json")
SOAK_CC_SECRET=$(json_field client_secret <<<"$cc_json")
SOAK_RS_ID=$(json_field client_id <<<"$rs_json")
SOAK_RS_SECRET=$(json_field client_secret <<<"$rs_json")
SOAK_USER_CLIENT_ID=$(json_field client_id <<<"$user_json")
SOAK_USER_CLIENT_SECRET=$(json_field client_secret <<<"$user_json")

SOAK_USERS=""
for i in $(seq "$SOAK_USERS_COUNT"); do
    name="soak-user-$i"
    pw=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
    printf '%s\n' "$pw" | "$BIN" user create --username "$name" --password-stdin --json >/dev/null
    SOAK_USERS="$SOAK_USERS $name:$pw"
done
export SOAK_USERS

# ---------------------------------------------------------------- server
SERVER_LOG="$WORK/server.log"
log "starting server on $OAUTHD_BIND"
"$BIN" serve >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
ok=""
for _ in $(seq 100); do
    if curl -fsS "http://$OAUTHD_BIND/healthz" >/dev/null 2>&1; then ok=1; break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$ok" ]; then
    cat "$SERVER_LOG" >&2
    die "server did not become healthy"
fi

# Sanity check, so that a provisioning mistake fails here and not as 60 s of 4xx.
status=$(curl -sS -o "$WORK/first.json" -w '%{http_code}' -u "$SOAK_CC_ID:$SOAK_CC_SECRET" \
    -d grant_type=client_credentials --data-urlencode "audience=$AUDIENCE" "http://$OAUTHD_BIND/token")
if [ "$status" != 200 ]; then
    cat "$WORK/first.json" >&2; echo >&2
    die "first token request answered $status"
fi

# ---------------------------------------------------------------- load
mkdir -p bench/results
export SOAK_URL="http://$OAUTHD_BIND" SOAK_SECONDS SOAK_WORKERS SOAK_PASSWORD_RPS
export SOAK_SERVER_PID=$SERVER_PID SOAK_AUDIENCE=$AUDIENCE SOAK_OUT="$WORK/table.md"
export SOAK_HEADER="<!-- oauthd $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo '+dirty'), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, postgres, ${SOAK_SECONDS}s, $SOAK_WORKERS workers + ${SOAK_PASSWORD_RPS}/s paced logins, argon2 ${OAUTHD_ARGON2_MEMORY_KIB} KiB -->"
log "soaking for ${SOAK_SECONDS}s ($SOAK_WORKERS workers)"
load_rc=0
python3 bench/soak.py || load_rc=$?

alive=yes
kill -0 "$SERVER_PID" 2>/dev/null || alive=no
{
    cat "$SOAK_OUT"
    notes=()
    [ "$alive" = yes ] || notes+=("- the server process had exited by the end of the run")
    if grep -qiE 'panic|ERROR' "$SERVER_LOG"; then
        notes+=("- server log has $(grep -ciE 'panic|ERROR' "$SERVER_LOG") error lines, first: \`$(grep -iE 'panic|ERROR' "$SERVER_LOG" | head -1 | cut -c1-200)\`")
    fi
    if [ "${#notes[@]}" -gt 0 ]; then
        echo
        echo "Notes:"
        printf '%s\n' "${notes[@]}"
    fi
} >bench/results/soak.md
[ "$alive" = yes ] || { cat bench/results/soak.md; die "server died"; }
if grep -q '^Notes:' bench/results/soak.md; then sed -n '/^Notes:/,$p' bench/results/soak.md; fi
log "written to bench/results/soak.md"
exit "$load_rc"
