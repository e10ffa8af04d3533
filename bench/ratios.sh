#!/usr/bin/env bash
# The ratios of issue 12, each measured as two numbers in this one run on this machine:
#
#   1. client_credentials ES256 tokens/s: oauthd / bench_reference (bench/reference.rs, the ceiling)
#   2. password-grant logins/s over BENCH_USERS users / the Argon2id limit (bench/argon2_limit.rs)
#   3. correct logins refused: BENCH_PARALLEL parallel password-grant requests for one user, BENCH_ROUNDS times
#   4. client_credentials tokens/s: BENCH_CLIENTS clients picked at random / 1 client
#   5. client_credentials p99 during a BENCH_FLOOD_CONNECTIONS-connection login flood / p99 without it,
#      and then how long the server's CPU takes to go idle after the flood
#
# Every phase gets a freshly started `oauthd serve` (ES256) on the same database, so in-memory
# state (caches, per-IP failure counts) of one phase does not leak into the next. The database is
# provisioned through the CLI; only the BENCH_CLIENTS extra clients are inserted with SQL (the
# CLI takes a process per client). Prints a markdown table and writes bench/results/ratios.md.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]            each measured wrk run (plus a 2 s warm-up where it matters)
#   BENCH_BACKEND [sqlite]        sqlite or postgres
#   BENCH_PG_URL  [postgres://postgres@127.0.0.1:5432]   no database name
#   BENCH_THREADS / BENCH_CONNECTIONS [2 / 64]           wrk for client_credentials
#   BENCH_USERS [32]  BENCH_LOGIN_CONNECTIONS [32]        the login-throughput row
#   BENCH_PARALLEL [16]  BENCH_ROUNDS [20]                the parallel-logins row
#   BENCH_CLIENTS [100000]                                the many-clients row
#   BENCH_FLOOD_CONNECTIONS [200]  BENCH_FLOOD_USERS [200]
#   BENCH_FLOOD_TIMEOUT [1]       seconds before a flood request is abandoned (its connection closed
#                                 and a new one opened, bench/ratios.py flood); 0: wrk, never abandoned
#   BENCH_PROBE_CONNECTIONS [4]   client_credentials connections measuring p99 during the flood
#   BENCH_IDLE_MAX [120]          give up waiting for an idle CPU after this many seconds
#   OAUTHD_ARGON2_MEMORY_KIB / _ITERATIONS / _PARALLELISM  passed to the server and the limit alike
#
# The load generator and the server share the machine, the same way in numerator and denominator.
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SECONDS_=${BENCH_SECONDS:-10}
BACKEND=${BENCH_BACKEND:-sqlite}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_PG_URL=${BENCH_PG_URL%/}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
USERS=${BENCH_USERS:-32}
LOGIN_CONNECTIONS=${BENCH_LOGIN_CONNECTIONS:-32}
PARALLEL=${BENCH_PARALLEL:-16}
ROUNDS=${BENCH_ROUNDS:-20}
CLIENTS=${BENCH_CLIENTS:-100000}
FLOOD_CONNECTIONS=${BENCH_FLOOD_CONNECTIONS:-200}
FLOOD_USERS=${BENCH_FLOOD_USERS:-200}
FLOOD_TIMEOUT=${BENCH_FLOOD_TIMEOUT:-1}
PROBE_CONNECTIONS=${BENCH_PROBE_CONNECTIONS:-4}
IDLE_MAX=${BENCH_IDLE_MAX:-120}
AUDIENCE=https://bench.example
SCOPE=read:bench
export BENCH_WRK_THREADS=$THREADS

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
py() { python3 "$ROOT/bench/ratios.py" "$@"; }
json() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v if v is not None else "")' "$1"; }
calc() { python3 -c "print(${1})"; }
f() { python3 -c "v=float('$1'); print(f'{v:.${2:-0}f}')"; }
r() { python3 -c "a,b=float('$1'),float('$2'); print(f'{a/b:.2f}' if b else 'n/a')"; }
# Waits until the server's CPU is idle: the backlog a warm-up leaves must not eat the measurement.
wait_idle() { py idle "$SERVER_PID" 60 "$(date +%s.%N)" >/dev/null; }

# ---------------------------------------------------------------- prerequisites
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
    else
        sudo apt-get install -y wrk >&2 || { sudo apt-get update >&2 && sudo apt-get install -y wrk >&2; }
    fi
fi
for c in python3 curl; do command -v $c >/dev/null 2>&1 || die "$c is required"; done
case $BACKEND in
    sqlite) command -v sqlite3 >/dev/null 2>&1 || die "sqlite3 is required (apt-get install sqlite3)" ;;
    postgres) command -v psql >/dev/null 2>&1 || die "psql is required for the postgres backend" ;;
    *) die "BENCH_BACKEND must be sqlite or postgres" ;;
esac

log "building (cargo build --release --bin oauthd --example bench_reference --example bench_argon2_limit)"
cargo build --release --bin oauthd --example bench_reference --example bench_argon2_limit >&2
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
BIN=$TARGET/oauthd
[ -x "$BIN" ] || die "missing $BIN"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/oauthd-ratios.XXXXXX)
SERVER_PID=""
REF_PID=""
PG_DB=""

stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
stop_server() { stop_pid "$SERVER_PID"; SERVER_PID=""; }
cleanup() {
    stop_server
    stop_pid "$REF_PID"
    if [ -n "$PG_DB" ]; then
        psql "$BENCH_PG_URL/postgres" -qAt -c "drop database if exists \"$PG_DB\" with (force)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'printf "bench: failed at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

PORT=$(free_port)
METRICS_PORT=$(free_port)
REF_PORT=$(free_port)
URL=http://127.0.0.1:$PORT/token
case $BACKEND in
    sqlite) DB_FILE=$WORK/bench.db; DB_URL=sqlite://$DB_FILE ;;
    postgres)
        PG_DB="oauthd_ratios_$(date +%s)_$$"
        psql "$BENCH_PG_URL/postgres" -v ON_ERROR_STOP=1 -qAt -c "create database \"$PG_DB\"" >/dev/null
        DB_URL=$BENCH_PG_URL/$PG_DB ;;
esac
export OAUTHD_SIGNING_ALG=ES256
export OAUTHD_DATABASE_URL=$DB_URL
export OAUTHD_BIND=127.0.0.1:$PORT
export OAUTHD_METRICS_BIND=127.0.0.1:$METRICS_PORT
export RUST_LOG=${BENCH_RUST_LOG:-warn}

start_server() {
    local name=$1
    SERVER_LOG=$WORK/server_$name.log
    "$BIN" serve >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 200); do
        curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$SERVER_LOG" >&2
    die "[$name] server did not become healthy"
}

# Statuses of the server's token requests that were not ok, and errors from its log.
NOTES=()
server_notes() {
    local name=$1 m
    m=$(py metrics "http://127.0.0.1:$METRICS_PORT/metrics")
    NOTES+=("- $name: oauthd counters: \`$m\`")
    if grep -qiE 'panic|ERROR' "$SERVER_LOG"; then
        # -m1, not `| head -1`: a grep cut off by head fails the pipeline, and set -e ends the run.
        NOTES+=("- $name: server log: \`$(grep -m1 -iE 'panic|ERROR' "$SERVER_LOG" | cut -c1-200)\`")
    fi
}

# Runs wrk, keeps its output in $WORK/NAME.wrk and prints the parsed JSON.
wrk_run() {
    local name=$1; shift
    wrk "$@" >"$WORK/$name.wrk"
    cat "$WORK/$name.wrk" >&2
    py wrk "$WORK/$name.wrk" | tee "$WORK/$name.json"
}

# A token request that must succeed before a phase measures anything.
check_200() {
    local name=$1 url=$2; shift 2
    local status
    status=$(curl -sS -o "$WORK/check.json" -w '%{http_code}' "$@" "$url")
    if [ "$status" != 200 ]; then
        cat "$WORK/check.json" >&2; echo >&2
        die "[$name] sanity request answered $status"
    fi
}

# ---------------------------------------------------------------- provisioning (CLI)
log "provisioning $DB_URL through the CLI"
"$BIN" migrate
"$BIN" api create --identifier "$AUDIENCE" --scope "$SCOPE" >/dev/null
cj=$("$BIN" client create --name bench-cc --grant client_credentials --api "$AUDIENCE" --scope "$SCOPE" --json)
CC_ID=$(json client_id <<<"$cj"); CC_SECRET=$(json client_secret <<<"$cj")
lj=$("$BIN" client create --name bench-login --grant password --api "$AUDIENCE" --scope "$SCOPE" --json)
LOGIN_ID=$(json client_id <<<"$lj"); LOGIN_SECRET=$(json client_secret <<<"$lj")

NUSERS=$(( USERS > FLOOD_USERS ? USERS : FLOOD_USERS ))
log "creating $NUSERS users (+1 for the parallel row) with \`oauthd user create\`"
: >"$WORK/users.tsv"
t0=$(date +%s.%N)
for i in $(seq 0 "$NUSERS"); do
    if [ "$i" -eq "$NUSERS" ]; then u=bench-solo; else u=bench$i; fi
    pw="pw-$i-$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')"
    printf '%s' "$pw" | "$BIN" user create --username "$u" --password-stdin >/dev/null
    [ "$u" = bench-solo ] && { SOLO_PW=$pw; continue; }
    printf '%s\t%s\n' "$u" "$pw" >>"$WORK/users.tsv"
done
log "users created in $(calc "round($(date +%s.%N) - $t0, 1)") s"
head -n "$USERS" "$WORK/users.tsv" >"$WORK/users_login.tsv"
head -n "$FLOOD_USERS" "$WORK/users.tsv" >"$WORK/users_flood.tsv"
py login-lines "$WORK/login.lines" "$LOGIN_ID" "$LOGIN_SECRET" "$AUDIENCE" "$SCOPE" "$WORK/users_login.tsv"
py login-lines "$WORK/flood.lines" "$LOGIN_ID" "$LOGIN_SECRET" "$AUDIENCE" "$SCOPE" "$WORK/users_flood.tsv"
export BENCH_CLIENT_ID=$CC_ID BENCH_CLIENT_SECRET=$CC_SECRET BENCH_AUDIENCE=$AUDIENCE

ARGON_ENV="m=${OAUTHD_ARGON2_MEMORY_KIB:-19456} t=${OAUTHD_ARGON2_ITERATIONS:-2} p=${OAUTHD_ARGON2_PARALLELISM:-1}"

# ---------------------------------------------------------------- 1. oauthd vs the reference endpoint
log "[reference] bench_reference on 127.0.0.1:$REF_PORT"
BENCH_REF_BIND=127.0.0.1:$REF_PORT BENCH_ISSUER=http://127.0.0.1:$PORT BENCH_SCOPE=$SCOPE \
BENCH_CLIENT_SECRET_SHA256=$(printf '%s' "$CC_SECRET" | sha256sum | cut -d' ' -f1) \
    "$TARGET/examples/bench_reference" 2>"$WORK/reference.log" &
REF_PID=$!
for _ in $(seq 100); do
    curl -sS -o /dev/null "http://127.0.0.1:$REF_PORT/" 2>/dev/null && break
    sleep 0.1
done
REF_URL=http://127.0.0.1:$REF_PORT/token
check_200 reference "$REF_URL" -u "$CC_ID:$CC_SECRET" -d grant_type=client_credentials --data-urlencode "audience=$AUDIENCE"
cp "$WORK/check.json" "$WORK/reference_token.json"
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s bench/token.lua "$REF_URL" >/dev/null
log "[reference] measuring ${SECONDS_}s"
REF=$(wrk_run ref -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_}s" --latency -s bench/token.lua "$REF_URL")
stop_pid "$REF_PID"; REF_PID=""

start_server cc
check_200 cc "$URL" -u "$CC_ID:$CC_SECRET" -d grant_type=client_credentials --data-urlencode "audience=$AUDIENCE"
py claims "$WORK/reference_token.json" "$WORK/check.json" || die "[cc] the reference's token differs from oauthd's"
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s bench/token.lua "$URL" >/dev/null
log "[cc] oauthd measuring ${SECONDS_}s"
CC=$(wrk_run cc -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_}s" --latency -s bench/token.lua "$URL")
server_notes "client_credentials (1 CLI client)"
stop_server

# ---------------------------------------------------------------- the Argon2id limit (nothing else running; just before the logins)
log "argon2id limit, ${SECONDS_}s on every core ($ARGON_ENV)"
argon=$("$TARGET/examples/bench_argon2_limit" "$SECONDS_")
echo "$argon" >&2
ARGON_LIMIT=$(sed -n 's/.*verifies_per_s=\([0-9.]*\).*/\1/p' <<<"$argon")

# ---------------------------------------------------------------- 2. login throughput
start_server logins
u1=$(head -1 "$WORK/users_login.tsv")
check_200 logins "$URL" -u "$LOGIN_ID:$LOGIN_SECRET" -d grant_type=password --data-urlencode "username=${u1%%$'\t'*}" \
    --data-urlencode "password=${u1#*$'\t'}" --data-urlencode "audience=$AUDIENCE" -d "scope=$SCOPE"
export BENCH_LINES=$WORK/login.lines BENCH_PICK=rotate
wrk -t"$THREADS" -c"$LOGIN_CONNECTIONS" -d2s --timeout 10s -s bench/lines.lua "$URL" >/dev/null
wait_idle
log "[logins] $USERS users, $LOGIN_CONNECTIONS connections, ${SECONDS_}s"
read -r ut0 st0 < <(py ticks "$SERVER_PID")
LOGINS=$(wrk_run logins -t"$THREADS" -c"$LOGIN_CONNECTIONS" -d"${SECONDS_}s" --timeout 10s --latency -s bench/lines.lua "$URL")
wait_idle  # the logins still in flight when wrk stopped finish here, and are counted below
read -r ut1 st1 < <(py ticks "$SERVER_PID")
HZ=$(getconf CLK_TCK)
LOGIN_CPU="$(calc "round(($ut1 - $ut0) * 1000 / $HZ / ($(json requests <<<"$LOGINS") + $LOGIN_CONNECTIONS), 1)") ms user + $(calc "round(($st1 - $st0) * 1000 / $HZ / ($(json requests <<<"$LOGINS") + $LOGIN_CONNECTIONS), 1)") ms system"
server_notes "logins ($USERS users)"
stop_server

# ---------------------------------------------------------------- 3. parallel logins of one user
start_server parallel
log "[parallel] $PARALLEL at once for one user, $ROUNDS rounds"
PAR=$(py parallel "$URL" "$LOGIN_ID" "$LOGIN_SECRET" bench-solo "$SOLO_PW" "$AUDIENCE" "$SCOPE" "$PARALLEL" "$ROUNDS")
echo "$PAR" >&2
server_notes "parallel logins"
stop_server

# ---------------------------------------------------------------- 4. many clients
log "[clients] inserting $CLIENTS clients with SQL"
py clients "$CLIENTS" "$WORK/clients.sql" "$WORK/clients.lines" "$AUDIENCE" "$SCOPE"
t0=$(date +%s.%N)
case $BACKEND in
    sqlite) sqlite3 -bail "$DB_FILE" <"$WORK/clients.sql" ;;
    postgres) psql "$DB_URL" -v ON_ERROR_STOP=1 -qAt -f "$WORK/clients.sql" >/dev/null ;;
esac
log "[clients] inserted in $(calc "round($(date +%s.%N) - $t0, 1)") s"
head -1 "$WORK/clients.lines" >"$WORK/one.lines"
start_server clients
c1=$(head -1 "$WORK/one.lines")
check_200 clients "$URL" -H "Authorization: ${c1%%$'\t'*}" -d "${c1#*$'\t'}"
# Steady state of 100k active clients: every client is used once (in order) before the measured
# run picks them at random, so the run measures the cache holding them, not their first use.
BENCH_LINES=$WORK/clients.lines BENCH_PICK=rotate \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$(( CLIENTS / 5000 + 2 ))s" -s bench/lines.lua "$URL" >/dev/null
wait_idle
export BENCH_PICK=random
for set in one clients; do
    export BENCH_LINES=$WORK/$set.lines
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s bench/lines.lua "$URL" >/dev/null
    wait_idle
    log "[clients] $(wc -l <"$BENCH_LINES") client(s) at random, ${SECONDS_}s"
    wrk_run "many_$set" -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_}s" --latency -s bench/lines.lua "$URL" >/dev/null
done
ONE=$(cat "$WORK/many_one.json"); MANY=$(cat "$WORK/many_clients.json")
server_notes "client_credentials (1 / $CLIENTS clients)"
stop_server

# ---------------------------------------------------------------- 5. p99 during a login flood, then CPU idle
start_server flood
wrk -t1 -c"$PROBE_CONNECTIONS" -d2s -s bench/token.lua "$URL" >/dev/null
log "[flood] quiet p99: client_credentials, $PROBE_CONNECTIONS connections, ${SECONDS_}s"
QUIET=$(wrk_run quiet -t1 -c"$PROBE_CONNECTIONS" -d"${SECONDS_}s" --timeout 30s --latency -s bench/token.lua "$URL")
log "[flood] $FLOOD_CONNECTIONS connections of logins over $FLOOD_USERS users (abandoned after ${FLOOD_TIMEOUT}s), probe after 2 s"
if [ "$FLOOD_TIMEOUT" = 0 ]; then
    # wrk never abandons a request (its --timeout only stops counting it), so 0 means: wait.
    BENCH_LINES=$WORK/flood.lines BENCH_PICK=rotate \
        wrk -t"$THREADS" -c"$FLOOD_CONNECTIONS" -d"$((SECONDS_ + 4))s" --timeout 60s -s bench/lines.lua "$URL" \
        >"$WORK/flood.wrk" 2>&1 &
else
    py flood "$URL" "$WORK/flood.lines" "$FLOOD_CONNECTIONS" "$((SECONDS_ + 4))" "$FLOOD_TIMEOUT" >"$WORK/flood.out" &
fi
FLOOD_PID=$!
sleep 2
FLOODED=$(wrk_run flooded -t1 -c"$PROBE_CONNECTIONS" -d"${SECONDS_}s" --timeout 30s --latency -s bench/token.lua "$URL")
wait "$FLOOD_PID" || true
IDLE=$(py idle "$SERVER_PID" "$IDLE_MAX" "$(date +%s.%N)")
if [ "$FLOOD_TIMEOUT" = 0 ]; then
    cat "$WORK/flood.wrk" >&2
    FLOOD=$(py wrk "$WORK/flood.wrk")
    FLOOD_NOTE="wrk: $(json requests <<<"$FLOOD") login requests answered, $(f "$(json ok_per_s <<<"$FLOOD")" 1) ok/s, $(json non2xx <<<"$FLOOD") non-2xx"
else
    cat "$WORK/flood.out" >&2
    FLOOD=$(cat "$WORK/flood.out")
    FLOOD_NOTE="$(json sent <<<"$FLOOD") login requests sent, $(json answered <<<"$FLOOD") answered (by status $(json statuses <<<"$FLOOD"), $(json ok_per_s <<<"$FLOOD") ok/s), $(json abandoned <<<"$FLOOD") abandoned after ${FLOOD_TIMEOUT} s, $(json errors <<<"$FLOOD") connection errors"
fi
server_notes "flood"
stop_server

# ---------------------------------------------------------------- table
cc_tps=$(json ok_per_s <<<"$CC"); ref_tps=$(json ok_per_s <<<"$REF")
login_ps=$(json ok_per_s <<<"$LOGINS")
par_total=$(json total <<<"$PAR"); par_refused=$(json refused <<<"$PAR")
one_tps=$(json ok_per_s <<<"$ONE"); many_tps=$(json ok_per_s <<<"$MANY")
p99_flood=$(json p99_ms <<<"$FLOODED"); p99_quiet=$(json p99_ms <<<"$QUIET")

NOTES+=("- logins: server CPU per login $LOGIN_CPU (counting the $LOGIN_CONNECTIONS in flight at the end); one Argon2id verify in the limit run: $(sed -n 's/.*cpu_ms_per_verify=\([0-9.]*\) (user \([0-9.]*\), system \([0-9.]*\)).*/\2 ms user + \3 ms system/p' <<<"$argon")")
NOTES+=("- parallel logins: refused per round $(json per_round <<<"$PAR"), by status and error: $(json codes <<<"$PAR"), slowest $(json max_s <<<"$PAR") s")
NOTES+=("- non-2xx in wrk runs: reference $(json non2xx <<<"$REF"), oauthd cc $(json non2xx <<<"$CC"), logins $(json non2xx <<<"$LOGINS") (socket errors $(json socket_errors <<<"$LOGINS")), 1 client $(json non2xx <<<"$ONE"), $CLIENTS clients $(json non2xx <<<"$MANY"), probe quiet/flood $(json non2xx <<<"$QUIET")/$(json non2xx <<<"$FLOODED") (socket errors $(json socket_errors <<<"$FLOODED"))")
NOTES+=("- flood: $FLOOD_NOTE; probe p50 quiet/flood $(json p50_ms <<<"$QUIET")/$(json p50_ms <<<"$FLOODED") ms")
NOTES+=("- server CPU idle $IDLE s after the flood ended (last utime+stime growth before 300 ms of none, sampled every 100 ms)")

mkdir -p bench/results
{
    echo "<!-- oauthd $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $BACKEND, ES256, ${SECONDS_}s runs, argon2id $ARGON_ENV, load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg) -->"
    echo "| measure | target | numerator | denominator | ratio |"
    echo "|---|---|---:|---:|---:|"
    echo "| client_credentials ES256 tokens/s, oauthd / reference (wrk -t$THREADS -c$CONNECTIONS) | ≥ 0.90 | $(f "$cc_tps") | $(f "$ref_tps") | $(r "$cc_tps" "$ref_tps") |"
    echo "| password-grant logins/s ($USERS users, -c$LOGIN_CONNECTIONS) / Argon2id verifies/s on $(nproc) cores | ≥ 0.90 | $(f "$login_ps" 1) | $(f "$ARGON_LIMIT" 1) | $(r "$login_ps" "$ARGON_LIMIT") |"
    echo "| correct logins refused / sent, $PARALLEL parallel for one user × $ROUNDS rounds | 0 | $par_refused | $par_total | $(r "$par_refused" "$par_total") |"
    echo "| client_credentials tokens/s, $CLIENTS clients at random / 1 client | ≥ 0.80 | $(f "$many_tps") | $(f "$one_tps") | $(r "$many_tps" "$one_tps") |"
    echo "| client_credentials p99 ms (-c$PROBE_CONNECTIONS) during a $FLOOD_CONNECTIONS-connection login flood / without it | ≤ 20 ms | $(f "$p99_flood" 2) | $(f "$p99_quiet" 2) | $(r "$p99_flood" "$p99_quiet") |"
    echo
    echo "Notes:"
    printf '%s\n' "${NOTES[@]}"
} | tee bench/results/ratios.md
