#!/usr/bin/env bash
# Soak test: a mixed load of grants against one `oauthd serve` on a fresh PostgreSQL database.
#
# Builds the release binary (unless OAUTHD_BIN names one), creates a throw-away database,
# provisions through the CLI an API, five clients, a trusted jwt-bearer issuer and a few users,
# starts the server on a free port, and runs bench/soak.py for SOAK_SECONDS over every grant:
# client_credentials (client secret, and private_key_jwt with an RS256 client assertion),
# jwt-bearer (ES256 assertions of a trusted issuer), introspection, refresh-token rotation, and two
# paced trickles that each cost an Argon2 verification (~20-50 ms CPU): password logins and
# authorization_code + PKCE browser flows (GET /authorize, POST /login, GET /authorize, POST
# /token). Key pairs are generated per run. Prints a markdown table (per grant: requests, req/s,
# p50/p99, errors by status, transport errors; server RSS at start, peak and end) and writes it to
# bench/results/soak.md. Expected: zero 5xx, zero transport errors, flat memory.
#
# Environment:
#   OAUTHD_BIN          an oauthd binary to use instead of `cargo build --release`
#   SOAK_SECONDS        duration of the load (default 60)
#   SOAK_PG_URL         PostgreSQL base URL, no database name (default postgres://postgres@127.0.0.1:5432)
#   SOAK_WORKERS        concurrent connections of the mixed workers (default 16)
#   SOAK_PASSWORD_RPS   paced password logins per second, on top of the workers' own (default 4)
#   SOAK_AUTHCODE_RPS   paced authorization_code flows per second (default 2)
#   SOAK_USERS_COUNT    number of users (default 4)
#   SOAK_PYTHON         a python3 that has `cryptography`; by default python3 if it has it, else a
#                       venv in target/soak-venv with the version pinned in tests/interop/requirements.txt
#   OAUTHD_ARGON2_MEMORY_KIB  passed to the server (default 19456, the server's own default)
#
# Exit status: non-zero if the server died, or any request got a 5xx or a transport error.
set -euo pipefail

# A relative OAUTHD_BIN is relative to where the script was started, not to the tree.
case "${OAUTHD_BIN:-}" in
    "" | /*) ;;
    */*) OAUTHD_BIN="$PWD/$OAUTHD_BIN" ;;
    *) OAUTHD_BIN=$(command -v "$OAUTHD_BIN" || echo "$OAUTHD_BIN") ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_PG_URL=${SOAK_PG_URL:-postgres://postgres@127.0.0.1:5432}
SOAK_PG_URL=${SOAK_PG_URL%/}
SOAK_WORKERS=${SOAK_WORKERS:-16}
SOAK_PASSWORD_RPS=${SOAK_PASSWORD_RPS:-4}
SOAK_AUTHCODE_RPS=${SOAK_AUTHCODE_RPS:-2}
SOAK_USERS_COUNT=${SOAK_USERS_COUNT:-4}
export OAUTHD_ARGON2_MEMORY_KIB=${OAUTHD_ARGON2_MEMORY_KIB:-19456}
# Short lifetimes, so that rows expire and are purged many times within the run: the table check
# (below) then shows whether every table levels off. SOAK_LIFETIMES=default keeps the server's own.
SOAK_LIFETIMES=${SOAK_LIFETIMES:-short}
if [ "$SOAK_LIFETIMES" = short ]; then
    export OAUTHD_REFRESH_TOKEN_TTL=${OAUTHD_REFRESH_TOKEN_TTL:-30} OAUTHD_REFRESH_TOKEN_IDLE_TTL=${OAUTHD_REFRESH_TOKEN_IDLE_TTL:-30}
    export OAUTHD_ACCESS_TOKEN_TTL=${OAUTHD_ACCESS_TOKEN_TTL:-60} OAUTHD_SESSION_TTL=${OAUTHD_SESSION_TTL:-30}
    export OAUTHD_PURGE_INTERVAL=${OAUTHD_PURGE_INTERVAL:-5}
    # Each worker starts a new refresh family this often, leaving the old one to expire.
    export SOAK_FAMILY_SECONDS=${SOAK_FAMILY_SECONDS:-20}
    # jwt-bearer assertions live this long, and so do their remembered jtis.
    export SOAK_ASSERTION_SECONDS=${SOAK_ASSERTION_SECONDS:-30}
fi
# The tables whose rows the soak creates; sampled every 2 s, and each must level off. Not
# auth_codes: a code is kept an hour past its expiry (a replayed code still revokes what it
# issued), so that table levels off only after code_ttl + 1 h, at about 3,660 rows per code/s.
SOAK_TABLES="refresh_families revoked_jtis used_jtis sessions session_clients"
AUDIENCE=https://soak.example
API_SCOPES="read:soak write:soak"
JB_ISSUER=https://idp.soak.example
# A loopback redirect URI that nothing listens on: soak.py reads the code from the 303's Location.
REDIRECT_URI=http://127.0.0.1/soak/callback

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'soak: %s\n' "$*" >&2; exit 1; }

for tool in python3 curl psql; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

if [ -n "${OAUTHD_BIN:-}" ]; then
    BIN=$OAUTHD_BIN
    log "using $BIN (OAUTHD_BIN; not building)"
else
    log "building (cargo build --release)"
    cargo build --release >&2
    BIN="$ROOT/target/release/oauthd"
fi
[ -x "$BIN" ] || die "missing $BIN"

# soak.py signs JWTs with `cryptography`: the system python3's if it has it, else a pinned venv.
if [ -n "${SOAK_PYTHON:-}" ]; then
    PY=$SOAK_PYTHON
elif python3 -c 'import cryptography' 2>/dev/null; then
    PY=python3
else
    PY="$ROOT/target/soak-venv/bin/python"
    if ! "$PY" -c 'import cryptography' 2>/dev/null; then
        log "installing cryptography into target/soak-venv"
        python3 -m venv "$ROOT/target/soak-venv" >&2
        # The versions tests/interop pins: cryptography and what it needs.
        pins=$(grep -E '^(cryptography|cffi|pycparser)==' tests/interop/requirements.txt)
        # shellcheck disable=SC2086
        "$PY" -m pip install --quiet $pins >&2
    fi
fi
"$PY" -c 'import cryptography' || die "$PY cannot import cryptography"

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

# private_key_jwt: an RS256 key pair; the client registers the public half.
"$PY" bench/soak.py keygen RS256 soak-client-1 "$WORK/client.pem" "$WORK/client.jwks.json"
pkj_json=$("$BIN" client create --name soak-private-key-jwt --grant client_credentials \
    --api "$AUDIENCE" --scope "$API_SCOPES" --auth-method private_key_jwt \
    --jwks-file "$WORK/client.jwks.json" --json)
export SOAK_PKJ_ID SOAK_PKJ_KEY="$WORK/client.pem" SOAK_PKJ_KID=soak-client-1
SOAK_PKJ_ID=$(json_field client_id <<<"$pkj_json")

# jwt-bearer: an ES256 key pair of an issuer we trust; its subjects pass through unmapped, and
# a request without client authentication is allowed (the issuer's alias stands in as the client).
"$PY" bench/soak.py keygen ES256 soak-idp-1 "$WORK/idp.pem" "$WORK/idp.jwks.json"
"$BIN" trust add --issuer "$JB_ISSUER" --jwks-file "$WORK/idp.jwks.json" --alias soakidp \
    --map passthrough --client-auth optional --scope read:soak --audience "$AUDIENCE" --json >/dev/null
export SOAK_JB_ISSUER=$JB_ISSUER SOAK_JB_KEY="$WORK/idp.pem" SOAK_JB_KID=soak-idp-1

# authorization_code + PKCE: a public first-party client (no consent page) with a loopback redirect.
code_json=$("$BIN" client create --name soak-browser --public --first-party --grant authorization_code \
    --redirect-uri "$REDIRECT_URI" --api "$AUDIENCE" --scope read:soak --json)
export SOAK_CODE_CLIENT_ID SOAK_REDIRECT_URI=$REDIRECT_URI
SOAK_CODE_CLIENT_ID=$(json_field client_id <<<"$code_json")

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
SOAK_ISSUER=$(curl -fsS "http://$OAUTHD_BIND/.well-known/openid-configuration" | json_field issuer)
export SOAK_URL="http://$OAUTHD_BIND" SOAK_ISSUER SOAK_SECONDS SOAK_WORKERS SOAK_PASSWORD_RPS SOAK_AUTHCODE_RPS
export SOAK_SERVER_PID=$SERVER_PID SOAK_AUDIENCE=$AUDIENCE SOAK_OUT="$WORK/table.md"
if [ -n "${OAUTHD_BIN:-}" ]; then
    # Someone else's build: say which file, its tree's commit and when it was built.
    bin_tree=$(git -C "$(dirname "$BIN")" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ "$bin_tree" != unknown ] && ! git -C "$(dirname "$BIN")" diff --quiet HEAD -- src 2>/dev/null; then
        bin_tree="$bin_tree+dirty"
    fi
    BIN_DESC="$BIN (its tree at $bin_tree, built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ))"
else
    BIN_DESC="oauthd $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo '+dirty')"
fi
export SOAK_HEADER="<!-- $BIN_DESC, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, postgres, ${SOAK_SECONDS}s, $SOAK_WORKERS workers + ${SOAK_PASSWORD_RPS}/s paced password logins + ${SOAK_AUTHCODE_RPS}/s paced code flows, argon2 ${OAUTHD_ARGON2_MEMORY_KIB} KiB -->"
log "soaking for ${SOAK_SECONDS}s ($SOAK_WORKERS workers)"
count_sql="select $(for t in $SOAK_TABLES; do printf '(select count(*) from %s),' "$t"; done | sed 's/,$//')"
T0=$(date +%s)
( while kill -0 "$SERVER_PID" 2>/dev/null; do
    row=$(psql "$OAUTHD_DATABASE_URL" -qAt -F' ' -c "$count_sql" 2>/dev/null) && echo "$(( $(date +%s) - T0 )) $row"
    sleep 2
  done ) >"$WORK/tables.txt" &
SAMPLER_PID=$!
load_rc=0
"$PY" bench/soak.py || load_rc=$?
kill "$SAMPLER_PID" 2>/dev/null || true
tables_rc=0
SOAK_TABLES="$SOAK_TABLES" "$PY" bench/soak.py --tables "$WORK/tables.txt" "$SOAK_SECONDS" >"$WORK/tables.md" || tables_rc=$?
if [ "$load_rc" = 2 ]; then
    tail -n 20 "$SERVER_LOG" >&2
    die "preflight failed (see above); not soaking"
fi

alive=yes
kill -0 "$SERVER_PID" 2>/dev/null || alive=no
{
    cat "$SOAK_OUT"
    echo
    cat "$WORK/tables.md"
    notes=()
    [ "$alive" = yes ] || notes+=("- the server process had exited by the end of the run")
    if grep -qiE 'panic|ERROR' "$SERVER_LOG"; then
        notes+=("- server log has $(grep -ciE 'panic|ERROR' "$SERVER_LOG") error lines, first: \`$(grep -m1 -iE 'panic|ERROR' "$SERVER_LOG" | cut -c1-200)\`")
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
cat "$WORK/tables.md" >&2
[ "$tables_rc" = 0 ] || { [ "$load_rc" != 0 ] || load_rc=$tables_rc; }
exit "$load_rc"
