#!/usr/bin/env bash
# Reproducible benchmark of POST /token with grant_type=client_credentials.
#
# For each backend (sqlite, postgres) and signing alg (ES256, RS256, EdDSA): start a fresh
# `oauthd serve` on a free port with a fresh database, provision an API and a client through
# the CLI, warm up for 2 s, then load it with wrk. Prints a markdown table and writes it to
# bench/results/latest.md.
#
# Environment:
#   BENCH_SECONDS   wrk duration per run (default 10)
#   BENCH_PG_URL    PostgreSQL base URL, no database name (default postgres://postgres@127.0.0.1:5432)
#   BENCH_BACKENDS  backends to run (default "sqlite postgres")
#   BENCH_ALGS      algorithms to run (default "ES256 RS256 EdDSA")
#   BENCH_THREADS / BENCH_CONNECTIONS  wrk -t / -c (default 2 / 64)
#
# The load generator and the server share the same machine; numbers are relative.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_PG_URL=${BENCH_PG_URL%/}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
ALGS=${BENCH_ALGS:-ES256 RS256 EdDSA}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
AUDIENCE=https://bench.example
SCOPE=read:bench

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- prerequisites
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
    else
        sudo apt-get install -y wrk >&2 || { sudo apt-get update >&2 && sudo apt-get install -y wrk >&2; }
    fi
fi
command -v python3 >/dev/null 2>&1 || die "python3 is required"
command -v curl >/dev/null 2>&1 || die "curl is required"
if [[ " $BACKENDS " == *" postgres "* ]]; then
    command -v psql >/dev/null 2>&1 || die "psql is required for the postgres backend"
fi

log "building (cargo build --release)"
cargo build --release >&2
BIN="$ROOT/target/release/oauthd"
[ -x "$BIN" ] || die "missing $BIN"

WORK=$(mktemp -d /tmp/oauthd-bench.XXXXXX)
SERVER_PID=""
PG_DB=""

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

drop_pg_db() {
    if [ -n "$PG_DB" ]; then
        psql "$BENCH_PG_URL/postgres" -v ON_ERROR_STOP=1 -qAt \
            -c "drop database if exists \"$PG_DB\" with (force)" >/dev/null 2>&1 || true
        PG_DB=""
    fi
}

cleanup() {
    stop_server
    drop_pg_db
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Extracts a wrk latency percentile line ("     50%    1.23ms") and normalises it to ms.
to_ms() {
    python3 -c '
import re, sys
v = sys.argv[1].strip()
m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", v)
if not m:
    print(v); sys.exit()
n, u = float(m.group(1)), m.group(2)
n *= {"us": 0.001, "ms": 1, "s": 1000, "m": 60000, "h": 3600000}[u]
print(f"{n:.2f}")' "$1"
}

ROWS=()
NOTES=()

run_one() {
    local backend=$1 alg=$2
    local port metrics_port db_url tag
    tag="$(date +%s)_$$_${backend}_$(echo "$alg" | tr '[:upper:]' '[:lower:]')"
    port=$(free_port)
    metrics_port=$(free_port)

    case $backend in
        sqlite)
            db_url="sqlite://$WORK/bench_$tag.db"
            ;;
        postgres)
            PG_DB="oauthd_bench_$tag"
            psql "$BENCH_PG_URL/postgres" -v ON_ERROR_STOP=1 -qAt \
                -c "create database \"$PG_DB\"" >/dev/null
            db_url="$BENCH_PG_URL/$PG_DB"
            ;;
        *) die "unknown backend $backend" ;;
    esac

    export OAUTHD_SIGNING_ALG=$alg
    export OAUTHD_DATABASE_URL=$db_url
    export OAUTHD_BIND=127.0.0.1:$port
    export OAUTHD_METRICS_BIND=127.0.0.1:$metrics_port
    export RUST_LOG=${BENCH_RUST_LOG:-warn}

    log "[$backend/$alg] provisioning ($db_url)"
    "$BIN" migrate
    "$BIN" api create --identifier "$AUDIENCE" --scope "$SCOPE" >/dev/null
    local client_json
    client_json=$("$BIN" client create --name bench --grant client_credentials \
        --api "$AUDIENCE" --scope "$SCOPE" --json)
    BENCH_CLIENT_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$client_json")
    BENCH_CLIENT_SECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client_json")
    export BENCH_CLIENT_ID BENCH_CLIENT_SECRET BENCH_AUDIENCE=$AUDIENCE

    local server_log="$WORK/server_$tag.log"
    log "[$backend/$alg] starting server on 127.0.0.1:$port"
    "$BIN" serve >"$server_log" 2>&1 &
    SERVER_PID=$!
    local ok=""
    for _ in $(seq 100); do
        if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ok=1; break; fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$ok" ]; then
        cat "$server_log" >&2
        die "[$backend/$alg] server did not become healthy"
    fi

    # Sanity check: one token request must succeed before measuring.
    local status
    status=$(curl -sS -o "$WORK/first.json" -w '%{http_code}' -u "$BENCH_CLIENT_ID:$BENCH_CLIENT_SECRET" \
        -d grant_type=client_credentials --data-urlencode "audience=$AUDIENCE" \
        "http://127.0.0.1:$port/token")
    if [ "$status" != 200 ]; then
        cat "$WORK/first.json" >&2; echo >&2
        die "[$backend/$alg] first token request answered $status"
    fi

    log "[$backend/$alg] warm-up 2s"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s bench/token.lua "http://127.0.0.1:$port/token" >/dev/null

    log "[$backend/$alg] measuring ${BENCH_SECONDS}s"
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${BENCH_SECONDS}s" --latency -s bench/token.lua \
        "http://127.0.0.1:$port/token")
    printf '%s\n' "$out" >&2

    local alive=yes
    kill -0 "$SERVER_PID" 2>/dev/null || alive=no
    # Token requests that did not end in a token, by grant and error code (the server's own count).
    local statuses
    statuses=$(curl -sS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null \
        | awk '/^oauthd_token_requests_total/ && !/outcome="ok"/ {printf "%s ", $0}')
    stop_server
    drop_pg_db

    # --- parse wrk output
    local rps p50 p99 non2xx sock requests duration_us non200
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' <<<"$out")
    non2xx=${non2xx:-0}
    sock=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' <<<"$out" \
        | awk '{print $1+$2+$3+$4}')
    sock=${sock:-0}
    requests=$(sed -n 's/.*BENCH requests=\([0-9]*\).*/\1/p' <<<"$out")
    duration_us=$(sed -n 's/.*duration_us=\([0-9]*\).*/\1/p' <<<"$out")
    # Every non-2xx counts as a failed token request.
    non200=$non2xx

    # tokens/s counts only 200 responses; wrk's Requests/sec includes failures.
    local tps
    tps=$(python3 -c 'import sys; r,n,d=map(float,sys.argv[1:4]); print(f"{(r-n)/(d/1e6):.0f}")' \
        "${requests:-0}" "$non200" "${duration_us:-1}")

    local errors=$((non2xx + sock))
    local row="| $backend | $alg | $tps | $(to_ms "$p50") | $(to_ms "$p99") | $errors |"
    ROWS+=("$row")
    echo "$row"
    log "[$backend/$alg] tokens/s=$tps (wrk Requests/sec=$rps) p50=$p50 p99=$p99 non-2xx=$non2xx socket=$sock"
    if [ "$errors" -gt 0 ] || [ -n "$statuses" ]; then
        NOTES+=("- $backend/$alg: non-2xx=$non2xx (statuses: ${statuses:-none}), socket errors=$sock")
    fi
    if [ "$alive" = no ]; then
        NOTES+=("- $backend/$alg: server process had exited by the end of the run")
    fi
    if grep -qiE 'panic|ERROR' "$server_log"; then
        NOTES+=("- $backend/$alg: server log has errors: \`$(grep -iE 'panic|ERROR' "$server_log" | head -1 | cut -c1-200)\`")
    fi
}

for backend in $BACKENDS; do
    for alg in $ALGS; do
        run_one "$backend" "$alg"
    done
done

mkdir -p bench/results
{
    echo "<!-- oauthd $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d${BENCH_SECONDS}s, client_credentials -->"
    echo "| backend | alg | tokens/s | p50 (ms) | p99 (ms) | errors |"
    echo "|---|---|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    if [ "${#NOTES[@]}" -gt 0 ]; then
        echo
        echo "Notes:"
        printf '%s\n' "${NOTES[@]}"
    fi
} | tee bench/results/latest.md
