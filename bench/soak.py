#!/usr/bin/env python3
"""Soak load generator for oauthd (stdlib only).

Concurrent asyncio workers, each with its own keep-alive HTTP/1.1 connection, mix:

  client_credentials  most of the traffic
  introspect          POST /introspect (Basic auth of a confidential client) on a recent access token
  refresh_token       each worker owns one refresh-token family and rotates it, keeping the newest
  password            paced separately (Argon2 costs tens of ms of CPU per login)

and report per grant: requests, req/s, p50/p99 latency, errors by status, plus the server's RSS
(VmRSS from /proc/<pid>/status) at the start, its peak and at the end.

Configuration comes from the environment (see bench/soak.sh, which sets it):
  SOAK_URL, SOAK_SECONDS, SOAK_WORKERS, SOAK_PASSWORD_RPS, SOAK_SERVER_PID, SOAK_AUDIENCE,
  SOAK_CC_ID/SOAK_CC_SECRET, SOAK_RS_ID/SOAK_RS_SECRET, SOAK_USER_CLIENT_ID/SOAK_USER_CLIENT_SECRET,
  SOAK_USERS ("name:password name:password ..."), SOAK_OUT (markdown file), SOAK_HEADER (a line
  written above the table).
Exit status: 0 when no request got a 5xx or failed at the transport level, 1 otherwise.
"""

import asyncio
import base64
import json
import math
import os
import random
import sys
import time
import urllib.parse

GRANTS = ["client_credentials", "password", "refresh_token", "introspect"]


def env(name, default=None):
    v = os.environ.get(name, default)
    if v is None:
        sys.exit(f"soak.py: {name} is required")
    return v


def basic(client_id, secret):
    raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Stats:
    def __init__(self):
        self.lat = {g: [] for g in GRANTS}
        self.status = {g: {} for g in GRANTS}
        self.transport = {g: 0 for g in GRANTS}  # connection errors, timeouts
        self.invalid = {g: 0 for g in GRANTS}  # 200 with an unexpected body
        self.samples = []  # first few non-2xx bodies, for the notes

    def record(self, grant, status, ms):
        self.lat[grant].append(ms)
        self.status[grant][status] = self.status[grant].get(status, 0) + 1


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
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/x-www-form-urlencoded",
            "Accept: application/json",
            f"Content-Length: {len(body)}",
            *headers,
        ]
        req = ("\r\n".join(head) + "\r\n\r\n").encode() + body
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
        length, chunked, close = None, False, False
        while True:
            line = await self.r.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            k, v = k.strip().lower(), v.strip()
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
        return status, data


class Soak:
    def __init__(self):
        u = urllib.parse.urlsplit(env("SOAK_URL"))
        self.host, self.port = u.hostname, u.port
        self.seconds = float(env("SOAK_SECONDS", "60"))
        self.workers = int(env("SOAK_WORKERS", "16"))
        self.password_rps = float(env("SOAK_PASSWORD_RPS", "4"))
        self.pid = env("SOAK_SERVER_PID", "")
        self.audience = env("SOAK_AUDIENCE")
        self.cc_auth = basic(env("SOAK_CC_ID"), env("SOAK_CC_SECRET"))
        self.rs_auth = basic(env("SOAK_RS_ID"), env("SOAK_RS_SECRET"))
        self.user_auth = basic(env("SOAK_USER_CLIENT_ID"), env("SOAK_USER_CLIENT_SECRET"))
        self.users = [tuple(p.split(":", 1)) for p in env("SOAK_USERS").split()]
        self.weights = {"client_credentials": 75, "introspect": 15, "refresh_token": 10}
        self.stats = Stats()
        self.tokens = []  # recent access tokens, for introspection
        self.deadline = 0.0
        self.rss = []  # (seconds since start, KiB)

    # ------------------------------------------------------------------ one request per grant

    async def call(self, conn, grant, path, form, auth):
        t0 = time.perf_counter()
        try:
            status, data = await conn.post(path, form, [f"Authorization: {auth}"])
        except Exception as e:  # noqa: BLE001 - every transport failure is counted
            self.stats.transport[grant] += 1
            if len(self.stats.samples) < 5:
                self.stats.samples.append(f"{grant}: transport error {type(e).__name__}: {e}")
            return None
        ms = (time.perf_counter() - t0) * 1000
        self.stats.record(grant, status, ms)
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            doc = None
        if status != 200 and len(self.stats.samples) < 5:
            self.stats.samples.append(f"{grant}: {status} {data[:200].decode('utf-8', 'replace')}")
        if status == 200 and not isinstance(doc, dict):
            self.stats.invalid[grant] += 1
            return None
        return doc if status == 200 else None

    def remember(self, token):
        self.tokens.append(token)
        if len(self.tokens) > 256:
            del self.tokens[:128]

    async def client_credentials(self, conn):
        form = {"grant_type": "client_credentials", "audience": self.audience}
        doc = await self.call(conn, "client_credentials", "/token", form, self.cc_auth)
        if doc is not None:
            if "access_token" in doc:
                self.remember(doc["access_token"])
            else:
                self.stats.invalid["client_credentials"] += 1

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

    # ------------------------------------------------------------------ workers

    async def worker(self, i):
        conn = Conn(self.host, self.port, 30)
        rt = None  # this worker's refresh-token family; nobody else rotates it
        ops, w = zip(*self.weights.items())
        try:
            while time.monotonic() < self.deadline:
                op = random.choices(ops, w)[0]
                if op == "client_credentials":
                    await self.client_credentials(conn)
                elif op == "introspect":
                    await self.introspect(conn)
                else:
                    if rt is None:  # start (or restart after a failure) a family with a login
                        rt = await self.password(conn, self.users[i % len(self.users)])
                    else:
                        rt = await self.refresh(conn, rt)
        finally:
            await conn.close()

    async def password_pacer(self):
        """Logins at about SOAK_PASSWORD_RPS, round-robin over the users."""
        if self.password_rps <= 0:
            return
        conn = Conn(self.host, self.port, 30)
        n, start = 0, time.monotonic()
        try:
            while time.monotonic() < self.deadline:
                await self.password(conn, self.users[n % len(self.users)])
                n += 1
                delay = start + n / self.password_rps - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            await conn.close()

    async def rss_sampler(self, t0):
        while True:
            kib = rss_kib(self.pid) if self.pid else None
            if kib is not None:
                self.rss.append((time.monotonic() - t0, kib))
            if time.monotonic() >= self.deadline:
                return
            await asyncio.sleep(1)

    async def run(self):
        t0 = time.monotonic()
        self.deadline = t0 + self.seconds
        sampler = asyncio.create_task(self.rss_sampler(t0))
        await asyncio.gather(self.password_pacer(), *(self.worker(i) for i in range(self.workers)))
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
        for g in GRANTS:
            st, lat = self.stats.status[g], self.stats.lat[g]
            n = sum(st.values()) + self.stats.transport[g]
            c4 = sum(v for k, v in st.items() if 400 <= k < 500)
            c5 = sum(v for k, v in st.items() if k >= 500)
            other = {k: v for k, v in st.items() if not 200 <= k < 300}
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
        all_lat = [x for g in GRANTS for x in self.stats.lat[g]]
        rows.append(
            f"| **all** | {total['n']} | {total['n'] / elapsed:.1f} | {pct(all_lat, 50):.2f} "
            f"| {pct(all_lat, 99):.2f} | {total['4xx']} | {total['5xx']} | {total['tr']} | {total['inv']} | |"
        )
        out = [
            "| grant | requests | req/s | p50 (ms) | p99 (ms) | 4xx | 5xx | transport errors | bad 200 bodies | non-2xx statuses |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
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
            trend = [f"{t:.0f}s {k / 1024:.1f}" for t, k in self.rss[:: max(1, len(self.rss) // 12)]]
            out += ["", f"RSS samples (MiB): {', '.join(trend)}"]
        if self.stats.samples:
            out += ["", "First non-2xx / failed requests:"]
            out += [f"- `{s}`" for s in self.stats.samples]
        ok = total["5xx"] == 0 and total["tr"] == 0
        return "\n".join(out), ok


async def main():
    s = Soak()
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


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
