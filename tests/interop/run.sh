#!/usr/bin/env bash
# Interop suite: real third-party OAuth/OIDC client libraries against a running oauthd.
#
#   tests/interop/run.sh
#
# Python (Authlib, PyJWT) and Node (openid-client, oauth4webapi, jose) talk to a fresh oauthd, once on
# SQLite and once on PostgreSQL. Then off-the-shelf OpenID Connect relying parties (go-oidc,
# pyoidc and the Rust openidconnect crate) log in against a server on default settings (no
# default_audience, no API registered for them). Everything is provisioned through the CLI.
#
# Environment:
#   OAUTHD_BIN                 use this binary instead of building target/release/oauthd
#   OAUTHD_TEST_PG_URL         PostgreSQL base URL, no database (default postgres://postgres@127.0.0.1:5432)
#   OAUTHD_INTEROP_BACKENDS    backends to run (default "sqlite postgres")
#   OAUTHD_INTEROP_ALGS        signing algorithms to run the suites with, in order (default "RS256 ES256")
#   OAUTHD_INTEROP_MCP_MODES   MCP SDK runs, by how the client registers (default "cimd dcr": a metadata document, then RFC 7591 with registration = "open")
#   OAUTHD_INTEROP_SKIP_INSTALL=1  reuse target/interop-venv, node_modules and the built RPs as they are
#   PYTEST_ADDOPTS / NODE_TEST_ARGS  extra arguments for the runners (e.g. -k NAME / --test-name-pattern=NAME)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/tests/interop

section() { printf '\n==================== %s ====================\n' "$*"; }
note() { printf -- '--- %s\n' "$*"; }

# Each backend runs in a child process (`run.sh --backend NAME`) so that `set -e` holds
# inside it and one backend's failure does not stop the other.
VENV=$ROOT/target/interop-venv
PY=$VENV/bin/python
CHILD_BACKEND=""
if [ "${1:-}" = "--backend" ]; then
  CHILD_BACKEND=${2:?--backend needs a name}
  BIN=${OAUTHD_INTEROP_CHILD_BIN:?}
fi

# The relying parties of the default-settings run: go-oidc as Debian ships it (the Go module
# proxy is not used), and the openidconnect crate, built in target/interop-rust.
GO_RP=$ROOT/target/interop-go-rp
RUST_RP=$ROOT/target/interop-rust/debug/oauthd-interop-rust
install_relying_parties() {
  local pkgs=()
  command -v go >/dev/null 2>&1 || pkgs+=(golang-go)
  [ -d /usr/share/gocode/src/github.com/coreos/go-oidc ] || pkgs+=(golang-github-coreos-go-oidc-dev)
  [ -d /usr/share/gocode/src/golang.org/x/oauth2 ] || pkgs+=(golang-golang-x-oauth2-dev)
  if [ "${#pkgs[@]}" -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    note "apt-get install ${pkgs[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
  note "go build (tests/interop/go: go-oidc $(dpkg-query -W -f='${Version}' golang-github-coreos-go-oidc-dev 2>/dev/null))"
  (cd "$HERE/go" && GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= GOCACHE="$ROOT/target/interop-gocache" \
    go build -o "$GO_RP" .)
  note "cargo build (tests/interop/rust: openidconnect)"
  cargo build --quiet --locked --manifest-path "$HERE/rust/Cargo.toml" --target-dir "$ROOT/target/interop-rust"
}

if [ -z "$CHILD_BACKEND" ]; then
  # -------------------------------------------------------------- dependencies
  if [ "${OAUTHD_INTEROP_SKIP_INSTALL:-}" != 1 ]; then
    section "Installing dependencies"
    mkdir -p "$ROOT/target"
    if [ ! -x "$PY" ]; then
      note "creating venv $VENV"
      python3 -m venv "$VENV"
    fi
    note "pip install -r tests/interop/requirements.txt"
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
    note "npm ci (tests/interop/node)"
    (cd "$HERE/node" && npm ci --no-audit --no-fund --loglevel=error)
    install_relying_parties
  fi

  # -------------------------------------------------------------- oauthd binary
  if [ -n "${OAUTHD_BIN:-}" ]; then
    # Absolute, since the server and the CLI run in a temporary directory.
    case "$OAUTHD_BIN" in
      */*) BIN=$(realpath "$OAUTHD_BIN") ;;
      *) BIN=$(command -v "$OAUTHD_BIN") ;;
    esac
    section "Using OAUTHD_BIN=$BIN"
  else
    section "Building oauthd (cargo build --release)"
    cargo build --release
    BIN=$ROOT/target/release/oauthd
  fi
  [ -x "$BIN" ] || { echo "FATAL: $BIN is not an executable" >&2; exit 1; }
  "$BIN" --version
fi

PG_BASE=${OAUTHD_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_BASE=${PG_BASE%/}
BACKENDS=${OAUTHD_INTEROP_BACKENDS:-sqlite postgres}
# Each backend runs both suites once per signing algorithm, rotating the key through the CLI.
# EdDSA is left out by default: Authlib's RFC 9068 validator (joserfc 1.8) refuses EdDSA by policy
# ("not recommended"); set OAUTHD_INTEROP_ALGS="RS256 ES256 EdDSA" to see it.
ALGS=${OAUTHD_INTEROP_ALGS:-RS256 ES256}

API=https://api.interop.test
API2=https://api2.interop.test
REDIRECT=http://127.0.0.1:8976/callback
JWT_BEARER=urn:ietf:params:oauth:grant-type:jwt-bearer
# External issuers of jwt-bearer assertions: one that needs client authentication, one that does not.
IDP=https://idp.interop.test
IDP_OPEN=https://idp-open.interop.test
IDP_SUBJECT=alice@idp.interop.test
USERNAME=interop-alice
PASSWORD='correct horse battery staple 42!'
EMAIL=interop-alice@example.test

# Per-backend state, cleaned up by the trap.
SERVER_PID=""
DB_NAME=""
WORK=""

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

drop_db() {
  if [ -n "$DB_NAME" ]; then
    psql "$PG_BASE/postgres" -qAt -v ON_ERROR_STOP=1 \
      -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null || echo "WARNING: could not drop $DB_NAME" >&2
    DB_NAME=""
  fi
}

cleanup() {
  stop_server
  drop_db
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then rm -rf "$WORK"; fi
  WORK=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Reads one field of a JSON document on stdin.
json_field() { "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Counts from pytest's JUnit XML: "passed failed skipped".
pytest_counts() {
  "$PY" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0"); sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
s = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - s, f, s)
EOF
}

# Counts from node's TAP summary: "passed failed skipped".
node_counts() {
  "$PY" - "$1" <<'EOF'
import re, sys
n = {"pass": 0, "fail": 0, "skipped": 0, "todo": 0, "cancelled": 0}
try:
    for line in open(sys.argv[1]):
        m = re.match(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", line.strip())
        if m:
            n[m.group(1)] = int(m.group(2))
except OSError:
    pass
print(n["pass"], n["fail"] + n["cancelled"], n["skipped"] + n["todo"])
EOF
}

# The signing algorithm the running server advertises (and signs with).
# Runs both suites against the running server after making `alg` its signing algorithm
# (a restart with OAUTHD_SIGNING_ALG=alg).
# Starts oauthd in $WORK with the exported OAUTHD_* settings and waits until it is healthy.
start_server() {
  local backend=$1 issuer=$2
  section "[$backend] Starting oauthd on $issuer"
  (cd "$WORK" && exec "$BIN" serve) >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  local ok=0
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$issuer/healthz" 2>/dev/null; then ok=1; break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [ "$ok" != 1 ]; then
    echo "FATAL: oauthd did not become healthy; its log:" >&2
    cat "$WORK/server.log" >&2
    return 1
  fi
  note "healthy (pid $SERVER_PID, OAUTHD_SIGNING_ALG=${OAUTHD_SIGNING_ALG:-default})"
}

run_suites() {
  local backend=$1 alg=$2 issuer=$3 config=$4
  if [ "$OAUTHD_SIGNING_ALG" != "$alg" ]; then
    # The signing_alg setting picks the access-token algorithm; a restart with another value
    # generates a key of that algorithm (ID tokens stay RS256, the OIDC default).
    section "[$backend] Restarting oauthd with OAUTHD_SIGNING_ALG=$alg"
    stop_server
    export OAUTHD_SIGNING_ALG="$alg"
    start_server "$backend" "$issuer" || return 1
  fi
  ALG="$alg" "$PY" - "$config" <<'EOF2'
import json, os, sys
with open(sys.argv[1]) as f:
    doc = json.load(f)
doc["signing_alg"] = os.environ["ALG"]
with open(sys.argv[1], "w") as f:
    json.dump(doc, f, indent=2)
EOF2

  section "[$backend/$alg] Python suite (pytest: Authlib, PyJWT)"
  local py_rc=0
  PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest "$HERE/python" -v -rfE \
    --junitxml="$WORK/pytest-$alg.xml" -o junit_family=xunit2 || py_rc=$?
  local py_p py_f py_s
  read -r py_p py_f py_s < <(pytest_counts "$WORK/pytest-$alg.xml")
  if [ "$py_rc" != 0 ] && [ "$py_f" = 0 ]; then py_f=1; fi

  section "[$backend/$alg] Node suite (node --test: openid-client, oauth4webapi, jose)"
  local node_rc=0
  # shellcheck disable=SC2086
  (cd "$HERE/node" && node --test \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$WORK/node-$alg.tap" \
    ${NODE_TEST_ARGS:-} interop.test.mjs dpop.test.mjs) || node_rc=$?
  local nd_p nd_f nd_s
  read -r nd_p nd_f nd_s < <(node_counts "$WORK/node-$alg.tap")
  if [ "$node_rc" != 0 ] && [ "$nd_f" = 0 ]; then nd_f=1; fi

  echo "$alg $py_p $py_f $py_s $nd_p $nd_f $nd_s $py_rc $node_rc" >>"$RESULT"
}

# Off-the-shelf OIDC relying parties against a server on default settings: identity-only logins
# with no audience and no API grant, each library's own ID token and userinfo checks, and
# back-channel logout tokens verified by go-oidc and pyoidc. Only the test-only
# allow_http_loopback_backchannel is set, since the RPs listen on http://127.0.0.1.
run_relying_parties() {
  local backend=$1 issuer=$2
  section "[$backend] Relying parties on default settings (go-oidc, pyoidc, openidconnect, express-openid-connect, passport-openidconnect)"
  stop_server
  unset OAUTHD_DEFAULT_AUDIENCE OAUTHD_SIGNING_ALG OAUTHD_REGISTRATION
  export OAUTHD_ALLOW_HTTP_LOOPBACK_BACKCHANNEL=true
  local go_cb py_cb rs_cb go_bc py_bc ex_port pp_port
  go_cb=$(free_port); py_cb=$(free_port); rs_cb=$(free_port); go_bc=$(free_port); py_bc=$(free_port); ex_port=$(free_port)
  pp_port=$(free_port)
  local go py rs rspw
  go=$(cli client create --name "go-oidc RP" --grant authorization_code --first-party \
    --redirect-uri "http://127.0.0.1:$go_cb/callback" --backchannel-logout-uri "http://127.0.0.1:$go_bc/backchannel" \
    --backchannel-logout-session-required --json)
  py=$(cli client create --name "pyoidc RP" --grant authorization_code --grant refresh_token --first-party \
    --redirect-uri "http://127.0.0.1:$py_cb/callback" --backchannel-logout-uri "http://127.0.0.1:$py_bc/backchannel" --json)
  # A third-party client: its users see the consent page.
  rs=$(cli client create --name "openidconnect RP" --grant authorization_code --redirect-uri "http://127.0.0.1:$rs_cb/callback" --json)
  rspw=$(cli client create --name "openidconnect password RP" --grant password --json)
  local ex
  ex=$(cli client create --name "express-openid-connect RP" --grant authorization_code --first-party \
    --redirect-uri "http://127.0.0.1:$ex_port/callback" --backchannel-logout-uri "http://127.0.0.1:$ex_port/backchannel-logout" --json)
  # passport-openidconnect sends no PKCE: a confidential client on the default pkce_required.
  local pp
  pp=$(cli client create --name "passport-openidconnect RP" --grant authorization_code --first-party \
    --redirect-uri "http://127.0.0.1:$pp_port/callback" --json)
  local claims=$WORK/rp-claims.json
  printf '%s' '{"given_name":"Rita","family_name":"Party","address":{"locality":"Lyon","country":"FR"},"phone_number":"+33 1 23 45 67 89","phone_number_verified":false}' >"$claims"
  local ruser
  ruser=$(printf '%s' "$PASSWORD" | cli user create --username rp-rita --email rita@example.test --password-stdin \
    --name "Rita Party" --locale fr-FR --claims "$claims" --json)
  local rpconfig=$WORK/rp.json
  GO="$go" PY="$py" RS="$rs" RSPW="$rspw" EX="$ex" EX_PORT="$ex_port" PP="$pp" PP_PORT="$pp_port" RUSER="$ruser" ISSUER="$issuer" PASSWORD="$PASSWORD" CLAIMS="$claims" \
    GO_CB="$go_cb" PY_CB="$py_cb" RS_CB="$rs_cb" GO_BC="$go_bc" PY_BC="$py_bc" "$PY" - "$rpconfig" <<'EOF2'
import json, os, sys
e = os.environ
def client(var, cb=None, **extra):
    c = json.loads(e[var])
    out = {"client_id": c["client_id"], "client_secret": c["client_secret"]}
    if cb:
        out["redirect_uri"] = f"http://127.0.0.1:{e[cb]}/callback"
    out.update(extra)
    return out
claims = json.load(open(e["CLAIMS"]))
claims.update(name="Rita Party", locale="fr-FR")
doc = {
    "issuer": e["ISSUER"],
    "clients": {"go": client("GO", "GO_CB", backchannel=f"127.0.0.1:{e['GO_BC']}"),
                "pyoidc": client("PY", "PY_CB", backchannel_port=int(e["PY_BC"])),
                "openidconnect": client("RS", "RS_CB"), "openidconnect_password": client("RSPW"),
                "express": client("EX", port=int(e["EX_PORT"])),
                "passport": client("PP", port=int(e["PP_PORT"]))},
    "user": {"username": "rp-rita", "password": e["PASSWORD"], "email": "rita@example.test",
             "user_id": json.loads(e["RUSER"])["user_id"], "claims": claims},
}
json.dump(doc, open(sys.argv[1], "w"), indent=2)
EOF2
  start_server "$backend" "$issuer" || return 1
  local go_rc=0 py_rc=0 rs_rc=0 ex_rc=0
  section "[$backend] go-oidc"
  "$GO_RP" -issuer "$issuer" -redirect "http://127.0.0.1:$go_cb/callback" -backchannel "127.0.0.1:$go_bc" \
    -client "$(json_field client_id <<<"$go")" -secret "$(json_field client_secret <<<"$go")" \
    -user rp-rita -password "$PASSWORD" | tee "$WORK/go-rp.out" || go_rc=$?
  section "[$backend] pyoidc"
  OAUTHD_RP_CONFIG="$rpconfig" PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest "$HERE/rp" -v -rfE -p no:cacheprovider \
    --junitxml="$WORK/pyoidc.xml" -o junit_family=xunit2 || py_rc=$?
  section "[$backend] openidconnect (Rust)"
  OAUTHD_RP_CONFIG="$rpconfig" "$RUST_RP" | tee "$WORK/rust-rp.out" || rs_rc=$?
  section "[$backend] express-openid-connect (form_post), passport-openidconnect"
  (cd "$HERE/node" && OAUTHD_RP_CONFIG="$rpconfig" node --test \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$WORK/express.tap" express_rp.test.mjs passport_rp.test.mjs) || ex_rc=$?
  local gp gf pp pf ps rp rf
  read -r gp gf < <(sed -nE 's/^go-oidc: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$WORK/go-rp.out"; echo "0 1")
  read -r pp pf ps < <(pytest_counts "$WORK/pyoidc.xml")
  read -r rp rf < <(sed -nE 's/^openidconnect: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$WORK/rust-rp.out"; echo "0 1")
  local ep ef es
  read -r ep ef es < <(node_counts "$WORK/express.tap")
  if [ "$py_rc" != 0 ] && [ "$pf" = 0 ]; then pf=1; fi
  if [ "$ex_rc" != 0 ] && [ "$ef" = 0 ]; then ef=1; fi
  echo "RP $gp $gf $pp $pf $ps $rp $rf $go_rc $py_rc $rs_rc $ep $ef $es $ex_rc" >>"$RESULT"
  unset OAUTHD_ALLOW_HTTP_LOOPBACK_BACKCHANNEL
}

# The official MCP TypeScript SDK on both sides (tests/interop/node/mcp.test.mjs): an MCP server
# publishing RFC 9728 metadata and checking oauthd's tokens, and the SDK's OAuth client registering
# with `mode` (cimd: a Client ID Metadata Document served by the test over https; dcr: RFC 7591,
# run by the dcr branch's settings) and logging in headlessly. oauthd runs on default settings plus
# the test-only allow_loopback_fetch and fetch_ca_file (the test's own CA).
run_mcp() {
  local backend=$1 issuer=$2 mode=$3
  section "[$backend] MCP TypeScript SDK ($mode) on default settings"
  stop_server
  unset OAUTHD_DEFAULT_AUDIENCE OAUTHD_SIGNING_ALG
  local tlsdir=$WORK/mcp-tls
  mkdir -p "$tlsdir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=oauthd interop CA" -keyout "$tlsdir/ca.key" -out "$tlsdir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tlsdir/key.pem" -out "$tlsdir/leaf.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$tlsdir/leaf.ext"
  openssl x509 -req -in "$tlsdir/leaf.csr" -CA "$tlsdir/ca.pem" -CAkey "$tlsdir/ca.key" -CAcreateserial \
    -days 1 -extfile "$tlsdir/leaf.ext" -out "$tlsdir/cert.pem" 2>/dev/null
  local doc_port mcp_port cb_port
  doc_port=$(free_port); mcp_port=$(free_port); cb_port=$(free_port)
  local mcp_url="https://127.0.0.1:$mcp_port/mcp"
  cli api create --identifier "$mcp_url" --name "Interop MCP server" --scope "mcp:tools" --json >/dev/null
  export OAUTHD_ALLOW_LOOPBACK_FETCH=true OAUTHD_FETCH_CA_FILE="$tlsdir/ca.pem"
  # The DCR run needs registration on; the CIMD run uses the defaults.
  if [ "$mode" = dcr ]; then export OAUTHD_REGISTRATION=open; else unset OAUTHD_REGISTRATION; fi
  local mcpconfig=$WORK/mcp-$mode.json
  ISSUER="$issuer" MCP_URL="$mcp_url" DOC="https://127.0.0.1:$doc_port/oauth/client.json" \
    CB="http://127.0.0.1:$cb_port/callback" TLS="$tlsdir" USERNAME="$USERNAME" PASSWORD="$PASSWORD" \
    "$PY" - "$mcpconfig" <<'EOF2'
import json, os, sys
e = os.environ
doc = {"issuer": e["ISSUER"], "mcp_url": e["MCP_URL"], "doc_url": e["DOC"], "redirect_uri": e["CB"],
       "user": {"username": e["USERNAME"], "password": e["PASSWORD"]},
       "tls": {"cert": e["TLS"] + "/cert.pem", "key": e["TLS"] + "/key.pem"}}
json.dump(doc, open(sys.argv[1], "w"), indent=2)
EOF2
  start_server "$backend" "$issuer" || return 1
  local rc=0
  (cd "$HERE/node" && NODE_EXTRA_CA_CERTS="$tlsdir/ca.pem" OAUTHD_MCP_CONFIG="$mcpconfig" OAUTHD_MCP_MODE="$mode" \
    node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$WORK/mcp-$mode.tap" mcp.test.mjs) || rc=$?
  local p f s
  read -r p f s < <(node_counts "$WORK/mcp-$mode.tap")
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  echo "MCP $mode $p $f $s $rc" >>"$RESULT"
  stop_server
  unset OAUTHD_ALLOW_LOOPBACK_FETCH OAUTHD_FETCH_CA_FILE OAUTHD_REGISTRATION
}

run_backend() {
  local backend=$1
  section "Backend: $backend"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/oauthd-interop-$backend.XXXXXX")
  local db_url
  case "$backend" in
    sqlite)
      db_url="sqlite://$WORK/oauthd.db"
      ;;
    postgres)
      DB_NAME="oauthd_interop_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      note "creating database $DB_NAME on $PG_BASE"
      psql "$PG_BASE/postgres" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
      db_url="$PG_BASE/$DB_NAME"
      ;;
    *)
      echo "unknown backend $backend" >&2
      return 1
      ;;
  esac
  local port
  port=$(free_port)
  local issuer="http://127.0.0.1:$port"

  # The server and the CLI see the same settings. They run in $WORK so that no
  # config/oauthd.toml of the checkout is picked up.
  export OAUTHD_DATABASE_URL="$db_url"
  export OAUTHD_BIND="127.0.0.1:$port"
  export OAUTHD_ARGON2_MEMORY_KIB=1024
  export OAUTHD_DEFAULT_AUDIENCE="$API"
  export OAUTHD_SIGNING_ALG=RS256
  export OAUTHD_KEY_REFRESH_INTERVAL=1
  # The Node suite registers a client of its own with openid-client (RFC 7591).
  export OAUTHD_REGISTRATION=open
  export RUST_LOG=warn
  cli() { (cd "$WORK" && "$BIN" "$@"); }

  section "[$backend] Provisioning through the CLI"
  cli migrate
  cli api create --identifier "$API" --name "Interop API" --scope "read:x write:x" --json
  cli api create --identifier "$API2" --name "Interop API 2" --scope "read:y" --json

  local cc pw spa web dpopm2m
  cc=$(cli client create --name "Interop M2M" --grant client_credentials --api "$API" --scope "read:x write:x" --json)
  # DPoP (RFC 9449): every token request must carry a proof, and every proof a server nonce.
  dpopm2m=$(cli client create --name "Interop DPoP M2M" --grant client_credentials --api "$API" --scope "read:x" \
    --dpop-bound-access-tokens --require-dpop-nonce --json)
  cli api grant --client "$(json_field client_id <<<"$cc")" --api "$API2" --scope "read:y"
  pw=$(cli client create --name "Interop Password" --grant password --grant refresh_token \
    --api "$API" --scope "read:x" --json)
  spa=$(cli client create --name "Interop SPA" --public --first-party \
    --grant authorization_code --grant refresh_token --redirect-uri "$REDIRECT" \
    --allowed-origin "http://127.0.0.1:8976" --api "$API" --scope "read:x" --json)
  web=$(cli client create --name "Interop Third-Party Web" \
    --grant authorization_code --grant refresh_token --redirect-uri "$REDIRECT" \
    --api "$API" --scope "read:x" --json)
  # A first-party web client held to pushed authorization requests (RFC 9126).
  local par
  par=$(cli client create --name "Interop PAR Web" --first-party --require-par \
    --grant authorization_code --redirect-uri "$REDIRECT" --api "$API" --scope "read:x" --json)
  local user
  user=$(printf '%s' "$PASSWORD" | cli user create --username "$USERNAME" --email "$EMAIL" --password-stdin --json)

  # Key pairs the tests sign with (a private_key_jwt client's, an assertion issuer's); oauthd
  # is given only the public halves, through the CLI.
  local keys=$WORK/keys
  mkdir -p "$keys"
  "$PY" - "$keys" <<'EOF2'
import json, sys
from joserfc.jwk import ECKey, RSAKey
out = sys.argv[1]
for name, key, alg in (("client", RSAKey.generate_key(2048), "RS256"), ("idp", ECKey.generate_key("P-256"), "ES256")):
    private = key.as_dict(private=True)
    private.update({"kid": f"interop-{name}-{key.thumbprint()[:8]}", "alg": alg, "use": "sig"})
    public = {k: v for k, v in private.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
    json.dump(private, open(f"{out}/{name}.private.jwk", "w"))
    json.dump({"keys": [public]}, open(f"{out}/{name}.jwks.json", "w"))
EOF2
  local keyclient
  keyclient=$(cli client create --name "Interop Key Client" --auth-method private_key_jwt \
    --jwks-file "$keys/client.jwks.json" --grant client_credentials --grant "$JWT_BEARER" \
    --api "$API" --scope "read:x" --json)
  cli trust add --issuer "$IDP" --jwks-file "$keys/idp.jwks.json" --subjects "$IDP_SUBJECT" \
    --scope "read:x" --map link --json
  cli trust add --issuer "$IDP_OPEN" --jwks-file "$keys/idp.jwks.json" --subjects "$IDP_SUBJECT" \
    --scope "read:x" --map link --client-auth optional --json
  cli user link "$USERNAME" --issuer "$IDP" --subject "$IDP_SUBJECT"
  cli user link "$USERNAME" --issuer "$IDP_OPEN" --subject "$IDP_SUBJECT"

  for c in "$cc" "$pw" "$spa" "$web" "$par" "$keyclient"; do
    "$PY" -c 'import json, sys; c = json.load(sys.stdin); print("client", c["client_id"], c["name"], c["grant_types"], c["token_endpoint_auth_method"])' <<<"$c"
  done
  echo "user $user"

  local config=$WORK/interop.json
  CC="$cc" PW="$pw" SPA="$spa" WEB="$web" PAR="$par" KEYCLIENT="$keyclient" KEYS="$keys" DPOPM2M="$dpopm2m" \
    IDP="$IDP" IDP_OPEN="$IDP_OPEN" IDP_SUBJECT="$IDP_SUBJECT" \
    USER_JSON="$user" ISSUER="$issuer" BACKEND="$backend" \
    API="$API" API2="$API2" REDIRECT="$REDIRECT" USERNAME="$USERNAME" PASSWORD="$PASSWORD" EMAIL="$EMAIL" \
    "$PY" - "$config" <<'EOF2'
import json, os, sys
e = os.environ
def client(var):
    c = json.loads(e[var])
    return {"client_id": c["client_id"], "client_secret": c.get("client_secret")}
doc = {
    "backend": e["BACKEND"],
    "issuer": e["ISSUER"],
    "api": e["API"],
    "api2": e["API2"],
    "redirect_uri": e["REDIRECT"],
    "user": {"username": e["USERNAME"], "password": e["PASSWORD"], "email": e["EMAIL"],
             "user_id": json.loads(e["USER_JSON"])["user_id"]},
    "clients": {"m2m": client("CC"), "password": client("PW"), "spa": client("SPA"), "web": client("WEB"),
                "dpop_m2m": client("DPOPM2M"),
                "par": client("PAR"),
                "key": dict(client("KEYCLIENT"), private_jwk=json.load(open(e["KEYS"] + "/client.private.jwk")))},
    # Issuers trusted for the jwt-bearer grant (client auth required / optional), same key pair.
    "assertion_issuers": {
        "required": {"issuer": e["IDP"], "subject": e["IDP_SUBJECT"]},
        "optional": {"issuer": e["IDP_OPEN"], "subject": e["IDP_SUBJECT"]},
    },
    "assertion_private_jwk": json.load(open(e["KEYS"] + "/idp.private.jwk")),
}
with open(sys.argv[1], "w") as f:
    json.dump(doc, f, indent=2)
EOF2

  start_server "$backend" "$issuer" || return 1
  curl -fsS "$issuer/.well-known/openid-configuration" | "$PY" -c 'import json, sys; d = json.load(sys.stdin); print("grant_types_supported:", d["grant_types_supported"]); print("token_endpoint_auth_methods_supported:", d["token_endpoint_auth_methods_supported"])'

  export OAUTHD_INTEROP_CONFIG="$config"
  : >"$RESULT"
  local alg
  for alg in $ALGS; do
    run_suites "$backend" "$alg" "$issuer" "$config"
  done
  run_relying_parties "$backend" "$issuer"
  local mode
  for mode in ${OAUTHD_INTEROP_MCP_MODES:-cimd dcr}; do
    run_mcp "$backend" "$issuer" "$mode"
  done

  section "[$backend] Stopping oauthd"
  stop_server
  if grep -qiE '\b(ERROR|panicked)\b' "$WORK/server.log"; then
    note "server log had errors:"
    grep -iE '\b(ERROR|panicked)\b' "$WORK/server.log" | head -n 50
  fi
  drop_db
  rm -rf "$WORK"
  WORK=""
  unset OAUTHD_DATABASE_URL OAUTHD_BIND OAUTHD_ARGON2_MEMORY_KIB OAUTHD_DEFAULT_AUDIENCE OAUTHD_SIGNING_ALG \
    OAUTHD_KEY_REFRESH_INTERVAL OAUTHD_INTEROP_CONFIG

}

if [ -n "$CHILD_BACKEND" ]; then
  RESULT=${OAUTHD_INTEROP_CHILD_RESULT:?}
  run_backend "$CHILD_BACKEND"
  exit 0
fi

TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
SUMMARY=()
FAILED=0
RESULTS=$(mktemp -d "${TMPDIR:-/tmp}/oauthd-interop-results.XXXXXX")
for backend in $BACKENDS; do
  rc=0
  OAUTHD_INTEROP_CHILD_BIN="$BIN" OAUTHD_INTEROP_CHILD_RESULT="$RESULTS/$backend" \
    bash "$HERE/run.sh" --backend "$backend" || rc=$?
  if [ -s "$RESULTS/$backend" ]; then
    while read -r line; do
      # shellcheck disable=SC2086
      set -- $line
      if [ "$1" = MCP ]; then
        # MCP mode passed failed skipped rc
        SUMMARY+=("$(printf '%-9s MCP    TypeScript SDK (%s): %d passed, %d failed, %d skipped' "$backend" "$2" "$3" "$4" "$5")")
        TOTAL_PASS=$((TOTAL_PASS + $3))
        TOTAL_FAIL=$((TOTAL_FAIL + $4))
        TOTAL_SKIP=$((TOTAL_SKIP + $5))
        if [ "$6" != 0 ]; then FAILED=1; fi
        continue
      fi
      if [ "$1" = RP ]; then
        # RP go_passed go_failed pyoidc_passed pyoidc_failed pyoidc_skipped rust_passed rust_failed
        #    go_rc py_rc rust_rc express_passed express_failed express_skipped express_rc
        SUMMARY+=("$(printf '%-9s RPs    go-oidc: %d passed, %d failed   pyoidc: %d passed, %d failed, %d skipped   openidconnect: %d passed, %d failed   Express RPs: %d passed, %d failed, %d skipped' \
          "$backend" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "${12}" "${13}" "${14}")")
        TOTAL_PASS=$((TOTAL_PASS + $2 + $4 + $7 + ${12}))
        TOTAL_FAIL=$((TOTAL_FAIL + $3 + $5 + $8 + ${13}))
        TOTAL_SKIP=$((TOTAL_SKIP + $6 + ${14}))
        if [ "$9" != 0 ] || [ "${10}" != 0 ] || [ "${11}" != 0 ] || [ "${15}" != 0 ]; then FAILED=1; fi
        continue
      fi
      read -r alg py_p py_f py_s nd_p nd_f nd_s py_rc node_rc <<<"$line"
      SUMMARY+=("$(printf '%-9s %-6s python: %2d passed, %d failed, %d skipped   node: %2d passed, %d failed, %d skipped' \
        "$backend" "$alg" "$py_p" "$py_f" "$py_s" "$nd_p" "$nd_f" "$nd_s")")
      TOTAL_PASS=$((TOTAL_PASS + py_p + nd_p))
      TOTAL_FAIL=$((TOTAL_FAIL + py_f + nd_f))
      TOTAL_SKIP=$((TOTAL_SKIP + py_s + nd_s))
      if [ "$py_rc" != 0 ] || [ "$node_rc" != 0 ]; then FAILED=1; fi
    done <"$RESULTS/$backend"
  fi
  if [ "$rc" != 0 ]; then
    SUMMARY+=("$(printf '%-9s FAILED before its suites finished (exit %s); see the output above' "$backend" "$rc")")
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    FAILED=1
  fi
done
rm -rf "$RESULTS"

section "Interop summary"
for line in "${SUMMARY[@]}"; do echo "$line"; done
echo "interop: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
exit "$FAILED"
