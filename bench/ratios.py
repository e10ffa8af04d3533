#!/usr/bin/env python3
"""Helpers of bench/ratios.sh (standard library only). Subcommands:

  lines OUT AUTH_ID SECRET BODY...     one wrk request line per BODY, all with the client's Basic auth
  login-lines OUT ID SECRET AUD SCOPE USERS_FILE
                                       one password-grant line per "username<TAB>password" of USERS_FILE
  clients N SQL_OUT LINES_OUT AUD SCOPE
                                       N confidential client_credentials clients granted SCOPE on AUD:
                                       the SQL that inserts them (clients + client_grants, secrets stored
                                       as hex SHA-256 like src/oauth/secret.rs) and their wrk lines
  parallel URL ID SECRET USER PASSWORD AUD SCOPE N ROUNDS
                                       ROUNDS times, N correct password-grant requests for one user at
                                       once (a barrier releases them together); prints JSON
  idle PID MAX_S SINCE [QUIET_S]       samples utime+stime of PID every 100 ms; prints the seconds from
                                       SINCE (unix time) to the last growth before QUIET_S (0.3) of none
                                       ("> MAX_S" when it was still growing by then)
  flood URL LINES N SECONDS TIMEOUT_S  N connections sending the LINES requests in turn for SECONDS; a
                                       request unanswered after TIMEOUT_S is abandoned (connection
                                       closed, a new one opened), as an impatient client does; JSON
  ticks PID                            utime and stime of PID, in clock ticks
  claims REF_JSON OAUTHD_JSON          exits 1 unless both tokens have the same alg, typ, header and claim names
  wrk FILE                             wrk output (with lines.lua/token.lua's BENCH line) as JSON
  metrics URL                          the server's token-request and security-event counters
"""

import asyncio
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
import urllib.request

quote = lambda s: urllib.parse.quote(s, safe="-._~")


def basic(client_id, secret):
    # RFC 6749 §2.3.1: form-urlencode both halves before the Basic encoding.
    return "Basic " + base64.b64encode(f"{quote(client_id)}:{quote(secret)}".encode()).decode()


def form(**kv):
    return urllib.parse.urlencode(kv, quote_via=urllib.parse.quote)


def cmd_lines(out, cid, secret, *bodies):
    with open(out, "w") as f:
        for b in bodies:
            f.write(f"{basic(cid, secret)}\t{b}\n")


def cmd_login_lines(out, cid, secret, aud, scope, users_file):
    auth = basic(cid, secret)
    with open(users_file) as uf, open(out, "w") as f:
        for line in uf:
            user, pw = line.rstrip("\n").split("\t", 1)
            body = form(grant_type="password", username=user, password=pw, audience=aud, scope=scope)
            f.write(f"{auth}\t{body}\n")


def cmd_clients(n, sql_out, lines_out, aud, scope):
    n, now = int(n), int(time.time())
    body = form(grant_type="client_credentials", audience=aud)
    sq = lambda s: "'" + s.replace("'", "''") + "'"
    with open(sql_out, "w") as sql, open(lines_out, "w") as lines:
        sql.write("begin;\n")
        batch_c, batch_g = [], []

        def flush():
            if batch_c:
                sql.write("insert into clients (id, name, secret_hash, public, grant_types, redirect_uris, "
                          "allowed_origins, first_party, disabled, created_at, updated_at, "
                          "post_logout_redirect_uris, auth_method) values\n" + ",\n".join(batch_c) + ";\n")
                sql.write("insert into client_grants (client_id, api, scopes) values\n" + ",\n".join(batch_g) + ";\n")
                batch_c.clear()
                batch_g.clear()

        for i in range(n):
            cid = f"bench{i:06d}x{secrets.token_hex(6)}"
            secret = secrets.token_urlsafe(32)
            digest = hashlib.sha256(secret.encode()).hexdigest()
            batch_c.append(f"({sq(cid)}, {sq('bench-' + str(i))}, {sq(digest)}, false, 'client_credentials', '', "
                           f"'', false, false, {now}, {now}, '', '')")
            batch_g.append(f"({sq(cid)}, {sq(aud)}, {sq(scope)})")
            lines.write(f"{basic(cid, secret)}\t{body}\n")
            if len(batch_c) == 1000:
                flush()
        flush()
        sql.write("commit;\n")


def cmd_parallel(url, cid, secret, user, pw, aud, scope, n, rounds):
    n, rounds = int(n), int(rounds)
    u = urllib.parse.urlsplit(url)
    body = form(grant_type="password", username=user, password=pw, audience=aud, scope=scope)
    headers = {"Authorization": basic(cid, secret), "Content-Type": "application/x-www-form-urlencoded"}
    results, lock = [], threading.Lock()
    barrier = threading.Barrier(n)

    def one():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.connect()  # connected before the barrier, so the requests leave together
        barrier.wait()
        t0 = time.monotonic()
        try:
            conn.request("POST", u.path, body, headers)
            r = conn.getresponse()
            data = r.read()
            code = "ok" if r.status == 200 else json.loads(data or b"{}").get("error", "?")
            res = (r.status, code, time.monotonic() - t0)
        except Exception as e:  # a transport failure counts as refused too
            res = (0, type(e).__name__, time.monotonic() - t0)
        finally:
            conn.close()
        with lock:
            results.append(res)

    per_round = []
    for _ in range(rounds):
        before = len(results)
        ts = [threading.Thread(target=one) for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        per_round.append(sum(1 for s, _, _ in results[before:] if s != 200))
        time.sleep(0.2)
    codes = {}
    for s, c, _ in results:
        if s != 200:
            key = f"{s} {c}"
            codes[key] = codes.get(key, 0) + 1
    print(json.dumps({"total": len(results), "refused": sum(per_round), "per_round": per_round, "codes": codes,
                      "max_s": round(max(d for _, _, d in results), 3)}))


def cmd_flood(url, lines_file, n, seconds, timeout):
    n, seconds, timeout = int(n), float(seconds), float(timeout)
    u = urllib.parse.urlsplit(url)
    reqs = []
    for line in open(lines_file):
        auth, body = line.rstrip("\n").split("\t", 1)
        reqs.append((f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: {auth}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
    st = {"sent": 0, "answered": 0, "abandoned": 0, "errors": 0, "statuses": {}}
    nxt = [0]

    async def read_response(reader):
        status = int((await reader.readline()).split()[1])
        length = 0
        while (h := await reader.readline()) not in (b"\r\n", b""):
            k, _, v = h.decode().partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        await reader.readexactly(length)
        return status

    async def worker(deadline):
        conn = None
        while time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = await asyncio.open_connection(u.hostname, u.port)
                reader, writer = conn
                nxt[0] += 1
                writer.write(reqs[nxt[0] % len(reqs)])
                st["sent"] += 1
                left = max(deadline - time.monotonic(), 0.01)
                status = await asyncio.wait_for(read_response(reader), min(timeout, left))
                st["answered"] += 1
                st["statuses"][status] = st["statuses"].get(status, 0) + 1
            except asyncio.TimeoutError:
                if time.monotonic() < deadline:
                    st["abandoned"] += 1
                conn[1].close()
                conn = None
            except Exception:
                st["errors"] += 1
                if conn:
                    conn[1].close()
                conn = None
                await asyncio.sleep(0.05)
        if conn:
            conn[1].close()

    async def main():
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(worker(deadline) for _ in range(n)))

    t0 = time.monotonic()
    asyncio.run(main())
    st["seconds"] = round(time.monotonic() - t0, 2)
    st["ok_per_s"] = round(st["statuses"].get(200, 0) / st["seconds"], 1)
    print(json.dumps(st))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def cmd_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    print(fields[11], fields[12])


def cmd_claims(ref_json, oauthd_json):
    """Exits 1 unless both token responses carry JWTs with the same header and claim names."""
    pad = lambda s: s + "=" * (-len(s) % 4)
    names = []
    for path in (ref_json, oauthd_json):
        tok = json.load(open(path))["access_token"]
        h, c = (json.loads(base64.urlsafe_b64decode(pad(p))) for p in tok.split(".")[:2])
        names.append((h["alg"], h["typ"], sorted(h), sorted(c)))
    print(f"reference {names[0]}\noauthd    {names[1]}", file=sys.stderr)
    sys.exit(0 if names[0] == names[1] else 1)


def cmd_idle(pid, max_s, since, quiet_s="0.3"):
    max_s, since, quiet_s = float(max_s), float(since), float(quiet_s)
    prev, last_growth = cpu_ticks(pid), since
    while time.time() - since < max_s:
        time.sleep(0.1)
        cur = cpu_ticks(pid)
        if cur != prev:
            last_growth, prev = time.time(), cur
        elif time.time() - last_growth >= quiet_s:
            print(f"{max(last_growth - since, 0):.1f}")
            return
    print(f"> {max_s:.0f}")


def to_ms(v):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", v.strip())
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000, "h": 3600000}[m.group(2)] if m else None


def cmd_wrk(path):
    text = open(path).read()
    g = lambda pat, d=None: (re.search(pat, text, re.M) or [None, d])[1]
    requests, duration = int(g(r"BENCH requests=(\d+)", 0)), int(g(r"duration_us=(\d+)", 1))
    non2xx = int(g(r"Non-2xx or 3xx responses: (\d+)", 0))
    sock = sum(map(int, re.findall(r"(?:connect|read|write|timeout) (\d+)", g(r"Socket errors: (.*)$", "") or "")))
    p50, p99 = g(r"^\s+50%\s+(\S+)"), g(r"^\s+99%\s+(\S+)")
    print(json.dumps({
        "requests": requests, "seconds": duration / 1e6, "non2xx": non2xx, "socket_errors": sock,
        "ok_per_s": (requests - non2xx) / (duration / 1e6),
        "p50_ms": to_ms(p50) if p50 else None, "p99_ms": to_ms(p99) if p99 else None,
    }))


def cmd_metrics(url):
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except Exception as e:
        print(f"(metrics unavailable: {e})")
        return
    out = [re.sub(r"^oauthd_(token_requests|security_events)_total", "", l) for l in text.splitlines()
           if re.match(r"oauthd_(token_requests|security_events)_total\{", l)]
    print(" ".join(out) or "none")


if __name__ == "__main__":
    name, args = sys.argv[1].replace("-", "_"), sys.argv[2:]
    globals()["cmd_" + name](*args)
