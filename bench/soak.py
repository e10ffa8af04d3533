#!/usr/bin/env python3
"""Soak load generator for oauthd.

Concurrent asyncio workers, each with its own keep-alive HTTP/1.1 connection, mix:

  client_credentials       most of the traffic (client_secret_basic)
  client_credentials + private_key_jwt
                           a client that authenticates with an RS256 client assertion
                           (RFC 7523 §2.2), fresh jti each time
  jwt-bearer               an ES256 assertion of a trusted issuer (RFC 7523 §2.1), fresh jti each
  introspect               POST /introspect (Basic auth of a confidential client) on a recent token
  refresh_token            each worker owns one refresh-token family and rotates it, keeping the newest

and, paced separately because each costs an Argon2 verification (tens of ms of CPU):

  password                 grant_type=password logins
  authorization_code       the whole browser flow with PKCE (S256), one cookie jar per flow:
                           GET /authorize (login form, CSRF cookie), POST /login (303, session
                           cookie), GET /authorize again (303 to the loopback redirect URI with the
                           code; the redirect URI itself is never contacted), POST /token.

It reports per grant (and per step of the code flow): requests, req/s, p50/p99 latency, 4xx/5xx,
transport errors, bad 200 bodies and unexpected statuses, plus the server's RSS (VmRSS from
/proc/<pid>/status) at the start, its peak and at the end.

Needs the `cryptography` package (bench/soak.sh provides it). `soak.py keygen ALG KID PEM JWKS`
writes a fresh ES256 or RS256 key pair: the private key as PEM and the public key as a JWK set.

Configuration comes from the environment (see bench/soak.sh, which sets it):
  SOAK_URL, SOAK_ISSUER, SOAK_SECONDS, SOAK_WORKERS, SOAK_PASSWORD_RPS, SOAK_AUTHCODE_RPS,
  SOAK_SERVER_PID, SOAK_AUDIENCE, SOAK_CC_ID/SOAK_CC_SECRET, SOAK_RS_ID/SOAK_RS_SECRET,
  SOAK_USER_CLIENT_ID/SOAK_USER_CLIENT_SECRET, SOAK_USERS ("name:password name:password ..."),
  SOAK_PKJ_ID/SOAK_PKJ_KEY/SOAK_PKJ_KID (private_key_jwt client, PEM path),
  SOAK_JB_ISSUER/SOAK_JB_KEY/SOAK_JB_KID (jwt-bearer issuer, PEM path),
  SOAK_CODE_CLIENT_ID/SOAK_REDIRECT_URI (public first-party client of the code flow),
  SOAK_OUT (markdown file), SOAK_HEADER (a line written above the table).
Before the load, one request of every kind must succeed, or the run stops with exit status 2
(a provisioning mistake should fail fast, not as a minute of 4xx).
Exit status: 0 when no request got a 5xx or failed at the transport level, 1 otherwise.
"""

import asyncio
import base64
import hashlib
import html
import json
import math
import os
import random
import re
import secrets
import sys
import time
import urllib.parse

CC, PKJ, JB = "client_credentials", "client_credentials + private_key_jwt", "jwt-bearer"
AUTHZ, LOGIN, CODE = "code flow: GET /authorize", "code flow: POST /login", "authorization_code"
# Table rows, in order, with the statuses that count as success for each.
ROWS = {
    CC: {200},
    PKJ: {200},
    JB: {200},
    "password": {200},
    "refresh_token": {200},
    AUTHZ: {200, 303},  # the login form, then (with the session) the redirect carrying the code
    LOGIN: {303},
    CODE: {200},
    "introspect": {200},
}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def env(name, default=None):
    v = os.environ.get(name, default)
    if v is None:
        sys.exit(f"soak.py: {name} is required")
    return v


def basic(client_id, secret):
    raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------- JWS (ES256, RS256)


class Signer:
    """Signs compact JWS with one private key (PEM), ES256 for EC P-256 and RS256 for RSA."""

    def __init__(self, pem_path, kid):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

        with open(pem_path, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        self.kid = kid
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            self.alg = "ES256"

            def sign(data):
                r, s = utils.decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        elif isinstance(self.key, rsa.RSAPrivateKey):
            self.alg = "RS256"

            def sign(data):
                return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

        else:
            raise SystemExit(f"soak.py: unsupported key type in {pem_path}")
        self._sign = sign
        self.header = b64u(json.dumps({"alg": self.alg, "typ": "JWT", "kid": kid}, separators=(",", ":")).encode())

    def jwt(self, claims):
        body = b64u(json.dumps(claims, separators=(",", ":")).encode())
        data = f"{self.header}.{body}".encode()
        return f"{self.header}.{body}.{b64u(self._sign(data))}"


def keygen(alg, kid, pem_path, jwks_path):
    """Writes a new private key (PEM, mode 0600) and its public JWK set."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
        n = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
    elif alg == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")), "e": b64u(n.e.to_bytes(3, "big"))}
    else:
        raise SystemExit(f"soak.py keygen: unsupported alg {alg} (ES256 or RS256)")
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(pem_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    with open(jwks_path, "w") as f:
        json.dump({"keys": [jwk]}, f)


# ---------------------------------------------------------------------- statistics and HTTP


class Stats:
    def __init__(self):
        self.lat = {g: [] for g in ROWS}
        self.status = {g: {} for g in ROWS}
        self.transport = {g: 0 for g in ROWS}  # connection errors, timeouts
        self.invalid = {g: 0 for g in ROWS}  # expected status with an unexpected body or Location
        self.samples = []  # first few failed requests, for the notes
        self.flows = {"started": 0, "completed": 0, "ms": []}  # whole code flows

    def record(self, grant, status, ms):
        self.lat[grant].append(ms)
        self.status[grant][status] = self.status[grant].get(status, 0) + 1

    def sample(self, text):
        if len(self.samples) < 8:
            self.samples.append(text)


class Conn:
    """One keep-alive HTTP/1.1 connection; reconnects after an error or `Connection: close`."""

    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.r = self.w = None

    async def close(self):
        if self.w is not None:
            self.w.close()
            try:
                await self.w.wait_closed()
            except Exception:
                pass
        self.r = self.w = None

    async def post(self, path, form, headers=()):
        body = urllib.parse.urlencode(form).encode()
        status, _, data = await self.request("POST", path, body, headers)
        return status, data

    async def request(self, method, path, body=None, headers=()):
        """Returns (status, [(lower-case name, value)], body bytes)."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body is not None:
            head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        head += list(headers)
        req = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
        try:
            return await asyncio.wait_for(self._roundtrip(req), self.timeout)
        except BaseException:
            await self.close()
            raise

    async def _roundtrip(self, req):
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(self.host, self.port)
        self.w.write(req)
        await self.w.drain()
        status_line = await self.r.readline()
        if not status_line:
            raise ConnectionError("connection closed by the server")
        status = int(status_line.split()[1])
        length, chunked, close, headers = None, False, False, []
        while True:
            line = await self.r.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            k, v = k.strip().lower(), v.strip()
            headers.append((k, v))
            if k == "content-length":
                length = int(v)
            elif k == "transfer-encoding" and "chunked" in v.lower():
                chunked = True
            elif k == "connection" and v.lower() == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.r.readline()).split(b";")[0], 16)
                if size == 0:
                    while (await self.r.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(await self.r.readexactly(size))
                await self.r.readexactly(2)
            data = b"".join(parts)
        elif length is not None:
            data = await self.r.readexactly(length)
        else:
            data = await self.r.read()
            close = True
        if close:
            await self.close()
        return status, headers, data


class Jar:
    """The cookies of one browser (one code flow): name -> value, honouring Max-Age=0."""

    def __init__(self):
        self.cookies = {}

    def update(self, headers):
        for k, v in headers:
            if k != "set-cookie":
                continue
            first, *attrs = v.split(";")
            name, _, value = first.strip().partition("=")
            gone = any(a.strip().lower() in ("max-age=0", "max-age=-1") for a in attrs)
            if gone:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def header(self):
        if not self.cookies:
            return []
        return ["Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items())]


HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
FORM_ACTION = re.compile(r'<form method="post" action="([^"]*)">')


def header(headers, name):
    return next((v for k, v in headers if k == name), None)


# ---------------------------------------------------------------------- the load


class Soak:
    def __init__(self):
        u = urllib.parse.urlsplit(env("SOAK_URL"))
        self.host, self.port = u.hostname, u.port
        self.issuer = env("SOAK_ISSUER", env("SOAK_URL").rstrip("/"))
        self.token_endpoint = self.issuer + "/token"
        self.seconds = float(env("SOAK_SECONDS", "60"))
        self.workers = int(env("SOAK_WORKERS", "16"))
        self.password_rps = float(env("SOAK_PASSWORD_RPS", "4"))
        self.authcode_rps = float(env("SOAK_AUTHCODE_RPS", "2"))
        self.pid = env("SOAK_SERVER_PID", "")
        self.audience = env("SOAK_AUDIENCE")
        self.cc_auth = basic(env("SOAK_CC_ID"), env("SOAK_CC_SECRET"))
        self.rs_auth = basic(env("SOAK_RS_ID"), env("SOAK_RS_SECRET"))
        self.user_auth = basic(env("SOAK_USER_CLIENT_ID"), env("SOAK_USER_CLIENT_SECRET"))
        self.users = [tuple(p.split(":", 1)) for p in env("SOAK_USERS").split()]
        self.pkj_id = env("SOAK_PKJ_ID")
        self.pkj = Signer(env("SOAK_PKJ_KEY"), env("SOAK_PKJ_KID"))
        self.jb_issuer = env("SOAK_JB_ISSUER")
        self.jb = Signer(env("SOAK_JB_KEY"), env("SOAK_JB_KID"))
        self.code_client = env("SOAK_CODE_CLIENT_ID")
        self.redirect_uri = env("SOAK_REDIRECT_URI")
        self.weights = {CC: 55, "introspect": 15, "refresh_token": 10, JB: 10, PKJ: 10}
        self.stats = Stats()
        self.tokens = []  # recent access tokens, for introspection
        self.deadline = 0.0
        self.rss = []  # (seconds since start, KiB)

    # ------------------------------------------------------------------ one request per grant

    async def call(self, conn, grant, path, form, auth=None):
        t0 = time.perf_counter()
        try:
            status, data = await conn.post(path, form, ["Accept: application/json"] + ([f"Authorization: {auth}"] if auth else []))
        except Exception as e:  # noqa: BLE001 - every transport failure is counted
            self.stats.transport[grant] += 1
            self.stats.sample(f"{grant}: transport error {type(e).__name__}: {e}")
            return None
        ms = (time.perf_counter() - t0) * 1000
        self.stats.record(grant, status, ms)
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            doc = None
        if status != 200:
            self.stats.sample(f"{grant}: {status} {data[:200].decode('utf-8', 'replace')}")
        if status == 200 and not isinstance(doc, dict):
            self.stats.invalid[grant] += 1
            return None
        return doc if status == 200 else None

    def remember(self, token):
        self.tokens.append(token)
        if len(self.tokens) > 256:
            del self.tokens[:128]

    def access_token(self, grant, doc):
        """Counts a 200 without an access token as a bad body; keeps the token for introspection."""
        if doc is None:
            return False
        if "access_token" not in doc:
            self.stats.invalid[grant] += 1
            return False
        self.remember(doc["access_token"])
        return True

    async def client_credentials(self, conn):
        form = {"grant_type": "client_credentials", "audience": self.audience}
        return self.access_token(CC, await self.call(conn, CC, "/token", form, self.cc_auth))

    async def private_key_jwt(self, conn):
        now = int(time.time())
        assertion = self.pkj.jwt(
            {
                "iss": self.pkj_id,
                "sub": self.pkj_id,
                "aud": self.token_endpoint,
                "iat": now,
                "exp": now + 60,
                "jti": secrets.token_urlsafe(16),
            }
        )
        form = {
            "grant_type": "client_credentials",
            "audience": self.audience,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        return self.access_token(PKJ, await self.call(conn, PKJ, "/token", form))

    async def jwt_bearer(self, conn, sub):
        now = int(time.time())
        assertion = self.jb.jwt(
            {
                "iss": self.jb_issuer,
                "sub": sub,
                "aud": self.issuer,
                "iat": now,
                "exp": now + int(env("SOAK_ASSERTION_SECONDS", "300")),
                "jti": secrets.token_urlsafe(16),
            }
        )
        form = {"grant_type": JWT_BEARER, "assertion": assertion, "scope": "read:soak"}
        return self.access_token(JB, await self.call(conn, JB, "/token", form))

    async def password(self, conn, user):
        name, pw = user
        form = {
            "grant_type": "password",
            "username": name,
            "password": pw,
            "audience": self.audience,
            "scope": "read:soak offline_access",
        }
        doc = await self.call(conn, "password", "/token", form, self.user_auth)
        if doc is None:
            return None
        if "access_token" not in doc or "refresh_token" not in doc:
            self.stats.invalid["password"] += 1
            return None
        self.remember(doc["access_token"])
        return doc["refresh_token"]

    async def refresh(self, conn, rt):
        form = {"grant_type": "refresh_token", "refresh_token": rt}
        doc = await self.call(conn, "refresh_token", "/token", form, self.user_auth)
        if doc is None:
            return None
        new = doc.get("refresh_token")
        if not new or new == rt or "access_token" not in doc:
            self.stats.invalid["refresh_token"] += 1
            return None
        self.remember(doc["access_token"])
        return new

    async def introspect(self, conn):
        if not self.tokens:
            return await self.client_credentials(conn)
        token = random.choice(self.tokens)
        doc = await self.call(conn, "introspect", "/introspect", {"token": token}, self.rs_auth)
        if doc is not None and doc.get("active") is not True:
            self.stats.invalid["introspect"] += 1
        return doc is not None

    # ------------------------------------------------------------------ the code flow

    async def front(self, conn, row, jar, method, path, form=None):
        """One front-channel request with the flow's cookies; None after a transport error."""
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        t0 = time.perf_counter()
        try:
            status, headers, data = await conn.request(method, path, body, ["Accept: text/html"] + jar.header())
        except Exception as e:  # noqa: BLE001
            self.stats.transport[row] += 1
            self.stats.sample(f"{row}: transport error {type(e).__name__}: {e}")
            return None
        self.stats.record(row, status, (time.perf_counter() - t0) * 1000)
        jar.update(headers)
        if status not in ROWS[row]:
            text = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", data.decode("utf-8", "replace"))).strip()
            self.stats.sample(f"{row}: {status} {text[:200]}")
            return None
        return status, headers, data

    def bad(self, row, what):
        self.stats.invalid[row] += 1
        self.stats.sample(f"{row}: {what}")

    async def code_flow(self, conn, user):
        """GET /authorize → login form; POST /login → 303; GET /authorize → 303 with the code;
        POST /token with the PKCE verifier. A fresh cookie jar, as a new browser would have."""
        t0 = time.perf_counter()
        self.stats.flows["started"] += 1
        jar = Jar()
        verifier = secrets.token_urlsafe(48)
        challenge = b64u(hashlib.sha256(verifier.encode()).digest())
        state = secrets.token_urlsafe(16)
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.code_client,
                "redirect_uri": self.redirect_uri,
                "scope": "read:soak",
                "audience": self.audience,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        r = await self.front(conn, AUTHZ, jar, "GET", "/authorize?" + query)
        if r is None:
            return False
        if r[0] != 200:
            return self.bad(AUTHZ, f"{r[0]} without a session (expected the login form)")
        page = r[2].decode("utf-8", "replace")
        action = FORM_ACTION.search(page)
        form = {html.unescape(k): html.unescape(v) for k, v in HIDDEN.findall(page)}
        if action is None or "csrf" not in form:
            return self.bad(AUTHZ, "the login page has no form or no csrf field")
        form["username"], form["password"] = user
        r = await self.front(conn, LOGIN, jar, "POST", html.unescape(action.group(1)), form)
        if r is None:
            return False
        back = header(r[1], "location") or ""
        if not back.startswith("/authorize?") or "oauthd_session" not in jar.cookies:
            return self.bad(LOGIN, f"303 to {back[:80]!r}, session cookie set: {'oauthd_session' in jar.cookies}")
        r = await self.front(conn, AUTHZ, jar, "GET", back)
        if r is None:
            return False
        location = header(r[1], "location") or ""
        if r[0] != 303 or not location.startswith(self.redirect_uri + "?"):
            return self.bad(AUTHZ, f"{r[0]} to {location[:80]!r} with a session (expected the redirect URI)")
        got = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        if got.get("state") != state or got.get("iss") != self.issuer or "code" not in got:
            return self.bad(AUTHZ, f"redirect without code, or wrong state/iss: {sorted(got)}")
        form = {
            "grant_type": "authorization_code",
            "code": got["code"],
            "redirect_uri": self.redirect_uri,
            "client_id": self.code_client,
            "code_verifier": verifier,
        }
        if not self.access_token(CODE, await self.call(conn, CODE, "/token", form)):
            return False
        self.stats.flows["completed"] += 1
        self.stats.flows["ms"].append((time.perf_counter() - t0) * 1000)
        return True

    # ------------------------------------------------------------------ workers

    async def worker(self, i):
        conn = Conn(self.host, self.port, 30)
        rt = None  # this worker's refresh-token family; nobody else rotates it
        born = 0.0
        family_s = float(env("SOAK_FAMILY_SECONDS", "0"))
        ops, w = zip(*self.weights.items())
        try:
            while time.monotonic() < self.deadline:
                op = random.choices(ops, w)[0]
                if op == CC:
                    await self.client_credentials(conn)
                elif op == PKJ:
                    await self.private_key_jwt(conn)
                elif op == JB:
                    await self.jwt_bearer(conn, f"soak-subject-{i}")
                elif op == "introspect":
                    await self.introspect(conn)
                else:
                    # Start (or restart after a failure, or when it is SOAK_FAMILY_SECONDS old, so
                    # that old families expire during the run) a family with a login.
                    if rt is None or (family_s and time.monotonic() - born > family_s):
                        rt = await self.password(conn, self.users[i % len(self.users)])
                        born = time.monotonic()
                    else:
                        rt = await self.refresh(conn, rt)
        finally:
            await conn.close()

    async def pacer(self, rps, step):
        """Runs `step(conn, n)` about `rps` times a second, one at a time, until the deadline."""
        if rps <= 0:
            return
        conn = Conn(self.host, self.port, 30)
        n, start = 0, time.monotonic()
        try:
            while time.monotonic() < self.deadline:
                await step(conn, n)
                n += 1
                delay = start + n / rps - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            await conn.close()

    async def password_pacer(self):
        """Logins at about SOAK_PASSWORD_RPS, round-robin over the users."""
        await self.pacer(self.password_rps, lambda c, n: self.password(c, self.users[n % len(self.users)]))

    async def authcode_pacer(self):
        """Code flows at about SOAK_AUTHCODE_RPS, round-robin over the users."""
        await self.pacer(self.authcode_rps, lambda c, n: self.code_flow(c, self.users[(n + 1) % len(self.users)]))

    async def rss_sampler(self, t0):
        while True:
            kib = rss_kib(self.pid) if self.pid else None
            if kib is not None:
                self.rss.append((time.monotonic() - t0, kib))
            if time.monotonic() >= self.deadline:
                return
            await asyncio.sleep(1)

    async def preflight(self):
        """One request of every kind, sequentially; returns the failures (empty when all passed)."""
        conn = Conn(self.host, self.port, 30)
        try:
            checks = [
                (CC, self.client_credentials(conn)),
                (PKJ, self.private_key_jwt(conn)),
                (JB, self.jwt_bearer(conn, "soak-preflight")),
                ("introspect", self.introspect(conn)),
                ("password", self.password(conn, self.users[0])),
                (CODE + " flow", self.code_flow(conn, self.users[0])),
            ]
            failed = []
            for name, coro in checks:
                if not await coro:
                    failed.append(name)
            failed += [f"{g} (bad body)" for g, n in self.stats.invalid.items() if n]
            return failed
        finally:
            await conn.close()

    async def run(self):
        t0 = time.monotonic()
        self.deadline = t0 + self.seconds
        sampler = asyncio.create_task(self.rss_sampler(t0))
        await asyncio.gather(
            self.password_pacer(), self.authcode_pacer(), *(self.worker(i) for i in range(self.workers))
        )
        elapsed = time.monotonic() - t0
        await sampler
        kib = rss_kib(self.pid) if self.pid else None
        if kib is not None:
            self.rss.append((time.monotonic() - t0, kib))
        return elapsed

    # ------------------------------------------------------------------ report

    def report(self, elapsed):
        def pct(xs, p):
            if not xs:
                return float("nan")
            xs = sorted(xs)  # nearest rank
            return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]

        rows, total = [], {"n": 0, "4xx": 0, "5xx": 0, "tr": 0, "inv": 0}
        for g, ok_statuses in ROWS.items():
            st, lat = self.stats.status[g], self.stats.lat[g]
            n = sum(st.values()) + self.stats.transport[g]
            c4 = sum(v for k, v in st.items() if 400 <= k < 500)
            c5 = sum(v for k, v in st.items() if k >= 500)
            other = {k: v for k, v in st.items() if k not in ok_statuses}
            detail = ", ".join(f"{k}×{v}" for k, v in sorted(other.items())) or "-"
            rows.append(
                f"| {g} | {n} | {n / elapsed:.1f} | {pct(lat, 50):.2f} | {pct(lat, 99):.2f} "
                f"| {c4} | {c5} | {self.stats.transport[g]} | {self.stats.invalid[g]} | {detail} |"
            )
            total["n"] += n
            total["4xx"] += c4
            total["5xx"] += c5
            total["tr"] += self.stats.transport[g]
            total["inv"] += self.stats.invalid[g]
        all_lat = [x for g in ROWS for x in self.stats.lat[g]]
        rows.append(
            f"| **all** | {total['n']} | {total['n'] / elapsed:.1f} | {pct(all_lat, 50):.2f} "
            f"| {pct(all_lat, 99):.2f} | {total['4xx']} | {total['5xx']} | {total['tr']} | {total['inv']} | |"
        )
        out = [
            "| grant | requests | req/s | p50 (ms) | p99 (ms) | 4xx | 5xx | transport errors | bad bodies | unexpected statuses |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
        ]
        fl = self.stats.flows
        out += [
            "",
            f"Code flows (4 requests each, one Argon2 login): {fl['started']} started, {fl['completed']} completed "
            f"({fl['completed'] / elapsed:.2f}/s), whole flow p50 {pct(fl['ms'], 50):.1f} ms, p99 {pct(fl['ms'], 99):.1f} ms.",
        ]
        if self.rss:
            mib = lambda k: k / 1024  # noqa: E731
            start, end = self.rss[0][1], self.rss[-1][1]
            peak = max(k for _, k in self.rss)
            # "Settled": the first sample after 10 % of the run, once pools and caches are warm.
            settled = next((k for t, k in self.rss if t >= self.seconds * 0.1), start)
            out += [
                "",
                "| server RSS | MiB |",
                "|---|---:|",
                f"| start (before load) | {mib(start):.1f} |",
                f"| after 10 % of the run | {mib(settled):.1f} |",
                f"| peak | {mib(peak):.1f} |",
                f"| end | {mib(end):.1f} |",
                f"| end − after 10 % | {mib(end - settled):+.1f} |",
            ]
            # Each Argon2 verification holds its memory (19 MiB by default) only while it runs, so
            # single samples swing by that much; the lowest sample of each half of the run is the
            # baseline without them, and a growing baseline is what a leak would look like.
            loaded = [(t, k) for t, k in self.rss[1:-1]] or self.rss
            half = self.seconds / 2
            first = [k for t, k in loaded if t < half]
            second = [k for t, k in loaded if t >= half]
            if first and second:
                out += [
                    f"| lowest sample, first half | {mib(min(first)):.1f} |",
                    f"| lowest sample, second half | {mib(min(second)):.1f} |",
                ]
            trend = [f"{t:.0f}s {k / 1024:.1f}" for t, k in self.rss[:: max(1, len(self.rss) // 12)]]
            out += ["", f"RSS samples (MiB): {', '.join(trend)}"]
        if self.stats.samples:
            out += ["", "First failed requests:"]
            out += [f"- `{s}`" for s in self.stats.samples]
        ok = total["5xx"] == 0 and total["tr"] == 0
        return "\n".join(out), ok


async def main():
    s = Soak()
    failed = await s.preflight()
    if failed:
        print(f"soak.py: preflight failed for: {', '.join(failed)}", file=sys.stderr)
        for line in s.stats.samples:
            print(f"  {line}", file=sys.stderr)
        return 2
    s.stats, s.tokens = Stats(), []
    elapsed = await s.run()
    table, ok = s.report(elapsed)
    header = os.environ.get("SOAK_HEADER", "")
    text = (header + "\n" if header else "") + table + "\n"
    print(text, end="")
    out = os.environ.get("SOAK_OUT")
    if out:
        with open(out, "w") as f:
            f.write(text)
    return 0 if ok else 1


def tables(path, seconds):
    """The table check: row counts sampled during the run must level off. Each table's highest
    count in the last third of the run may exceed its highest in the middle third by at most 25 %
    (plus 20 rows of noise). Prints a markdown table; exit status 1 if a table kept growing."""
    names = os.environ["SOAK_TABLES"].split()
    rows = []
    for line in open(path):
        parts = line.split()
        if len(parts) == len(names) + 1:
            rows.append((int(parts[0]), [int(x) for x in parts[1:]]))
    seconds = float(seconds)
    mid = [r for t, r in rows if seconds / 3 <= t < 2 * seconds / 3]
    last = [r for t, r in rows if t >= 2 * seconds / 3]
    out = ["| table | rows at 1/3 | most, middle third | most, last third | at the end | levels off |",
           "|---|---:|---:|---:|---:|---|"]
    grew = []
    for k, name in enumerate(names):
        m = max((r[k] for r in mid), default=None)
        e = max((r[k] for r in last), default=None)
        if m is None or e is None:
            out.append(f"| {name} | - | - | - | - | not enough samples |")
            grew.append(name)
            continue
        ok = e <= m * 1.25 + 20
        if not ok:
            grew.append(name)
        out.append(f"| {name} | {mid[0][k]} | {m} | {e} | {last[-1][k]} | {'yes' if ok else '**no**'} |")
    out.append("")
    out.append(f"Rows sampled every 2 s ({len(rows)} samples). " + (f"Still growing: {', '.join(grew)}." if grew else "Every table levelled off."))
    print("\n".join(out))
    return 1 if grew else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--tables":
        sys.exit(tables(sys.argv[2], sys.argv[3]))
    if len(sys.argv) > 1 and sys.argv[1] == "keygen":
        if len(sys.argv) != 6:
            sys.exit("usage: soak.py keygen ES256|RS256 KID PRIVATE.pem JWKS.json")
        keygen(*sys.argv[2:])
        sys.exit(0)
    sys.exit(asyncio.run(main()))
