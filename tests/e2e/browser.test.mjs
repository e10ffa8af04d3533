// Real-browser end-to-end test of the authorization code + PKCE flow: Debian's Chromium (driven by
// playwright-core) runs a plain single-page app (spa/index.html) against a fresh oauthd.
//
//   OAUTHD_BIN=target/release/oauthd OAUTHD_TEST_BACKEND=sqlite node --test tests/e2e/
//
// Environment:
//   OAUTHD_BIN           the oauthd binary (default: target/release/oauthd of this checkout)
//   OAUTHD_TEST_BACKEND  sqlite (default) | postgres
//   OAUTHD_TEST_PG_URL   PostgreSQL base URL without a database (default postgres://postgres@127.0.0.1:5432)
//   CHROMIUM_PATH        the browser (default /usr/bin/chromium; see scripts/ensure-browser.sh)
//
// Everything is provisioned through the CLI; the database, the servers and the browser are
// created for this file and removed afterwards, whether the tests pass or not.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

import { startSpaServer } from './serve-spa.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');

const BACKEND = process.env.OAUTHD_TEST_BACKEND || 'sqlite';
const PG_BASE = (process.env.OAUTHD_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432').replace(/\/+$/, '');
const BIN = path.resolve(process.env.OAUTHD_BIN || path.join(ROOT, 'target', 'release', 'oauthd'));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

const API = 'https://api.e2e';
const SCOPE = 'openid profile email offline_access read:x';
const USERNAME = 'e2e-user';
const PASSWORD = 'pw-e2e-123';
const EMAIL = 'e2e@example.com';

const TEST_TIMEOUT = 60_000;
const STEP_TIMEOUT = 15_000;

// ------------------------------------------------------------------------------------ helpers

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}

function psql(sql) {
  return execFileSync('psql', [`${PG_BASE}/postgres`, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
}

/**
 * Drops the test database. DROP DATABASE waits for a checkpoint, which on a busy machine (a
 * parallel cargo build) has been seen to take over a minute; after 90 s this only warns: the
 * server finishes the drop even once psql is gone.
 */
async function dropDatabase(name) {
  const sql = `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`;
  try {
    await promisify(execFile)('psql', [`${PG_BASE}/postgres`, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
      timeout: 90_000,
    });
  } catch (e) {
    if (e.killed || e.signal) {
      console.error(`e2e: WARNING: ${sql} did not finish within 90 s (PostgreSQL busy with a checkpoint); left to the server`);
      return;
    }
    throw new Error(`${sql} failed: ${e.stderr || e.message}`);
  }
}

/** State shared by the tests of this file; filled by before(), emptied by after(). */
const env = {
  work: null,
  dbName: null,
  dbUrl: null,
  issuer: null,
  server: null, // ChildProcess
  serverLog: '',
  serverExit: null,
  spa: null,
  clientId: null,
  userId: null,
  browser: null,
};

function oauthdEnv() {
  return {
    ...process.env,
    OAUTHD_DATABASE_URL: env.dbUrl,
    OAUTHD_BIND: new URL(env.issuer).host,
    RUST_LOG: 'warn',
    OAUTHD_ARGON2_MEMORY_KIB: '1024',
    // The device flow test polls every second rather than every five.
    OAUTHD_DEVICE_POLL_INTERVAL: '1',
  };
}

/** Runs an admin command of the CLI with the server's settings; returns stdout. */
function cli(args, input) {
  try {
    return execFileSync(BIN, args, {
      cwd: env.work, // so that no config/oauthd.toml of the checkout is picked up
      env: oauthdEnv(),
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    });
  } catch (e) {
    throw new Error(
      `oauthd ${args.join(' ')} failed (status ${e.status ?? e.signal}):\n${e.stdout ?? ''}\n${e.stderr ?? e.message}`,
    );
  }
}

async function startOauthd() {
  const child = spawn(BIN, ['serve'], { cwd: env.work, env: oauthdEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  env.server = child;
  const collect = (chunk) => {
    env.serverLog += chunk.toString();
    if (env.serverLog.length > 200_000) env.serverLog = env.serverLog.slice(-100_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.on('exit', (code, signal) => {
    env.serverExit = signal ?? code;
  });
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    if (env.serverExit !== null) {
      throw new Error(`oauthd serve exited (${env.serverExit}) before becoming healthy; its log:\n${env.serverLog}`);
    }
    try {
      const r = await fetch(`${env.issuer}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await sleep(100);
  }
  throw new Error(`oauthd did not answer GET /healthz within 20 s (last: ${last}); its log:\n${env.serverLog}`);
}

async function stopOauthd() {
  const child = env.server;
  env.server = null;
  if (!child || env.serverExit !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(2_000)]);
  }
}

// Never leave a server behind, even if the runner is interrupted.
process.on('exit', () => {
  if (env.server && env.serverExit === null) env.server.kill('SIGKILL');
});

const navLine = (n) => `${n.status} ${n.method} ${n.url}${n.location ? `  -> Location: ${n.location}` : ''}`;

/**
 * A browser context with a fresh cookie jar, and a record of what happened in it: every
 * top-level navigation (status, method, URL, Location), console messages, page errors and
 * failed requests. `explain()` turns that, the current page and the server log into text for
 * an assertion message.
 */
async function openPage() {
  const context = await env.browser.newContext();
  context.setDefaultTimeout(STEP_TIMEOUT);
  const page = await context.newPage();
  const nav = [];
  const logs = [];
  page.on('response', (r) => {
    const req = r.request();
    if (req.isNavigationRequest() && r.frame() === page.mainFrame()) {
      const loc = r.headers().location;
      nav.push({ status: r.status(), method: req.method(), url: r.url(), location: loc ?? null });
    }
  });
  page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => logs.push(`requestfailed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));

  async function explain(what) {
    let current = '(unknown)';
    let html = '';
    try {
      current = page.url();
      html = await page.content();
    } catch (e) {
      html = `(could not read the page: ${e.message})`;
    }
    const text = html
      .replace(/<style[\s\S]*?<\/style>/g, '<style>…</style>')
      .replace(/<script[\s\S]*?<\/script>/g, '<script>…</script>');
    return [
      what,
      `current URL: ${current}`,
      `top-level navigations:\n  ${nav.map(navLine).join('\n  ') || '(none)'}`,
      `browser log:\n  ${logs.join('\n  ') || '(none)'}`,
      `page HTML (first 2000 characters):\n${text.slice(0, 2000)}`,
      `oauthd log (last lines):\n${tail(env.serverLog) || '(empty)'}`,
    ].join('\n');
  }

  /** Runs `step`; if it throws, rethrows with everything explain() knows. */
  async function step(what, fn) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      throw new Error(await explain(`${what}: ${e.message.split('\n')[0]}`), { cause: e });
    }
  }

  return { context, page, nav, logs, explain, step };
}

/** Opens the SPA, clicks #login, returns the /authorize request URL the browser went to. */
async function startLogin(p) {
  const { page, step } = p;
  await step('open the SPA', async () => {
    await page.goto(`${env.spa.origin}/`);
    await page.waitForSelector('#login:not([disabled])');
  });
  return step('click #login', async () => {
    const authz = page.waitForRequest((r) => r.url().startsWith(`${env.issuer}/authorize?`) && r.isNavigationRequest());
    await page.click('#login');
    return new URL((await authz).url());
  });
}

async function waitForLoginForm(p) {
  await p.step('wait for the login form (input[name=username], input[name=password], button[type=submit])', async () => {
    await p.page.waitForSelector('form input[name=username]', { state: 'visible' });
    await p.page.waitForSelector('form input[name=password]', { state: 'visible' });
    await p.page.waitForSelector('form button[type=submit]', { state: 'visible' });
  });
}

async function submitLogin(p, username, password) {
  await p.step('fill in and submit the login form', async () => {
    await p.page.fill('input[name=username]', username);
    await p.page.fill('input[name=password]', password);
    const posted = p.page.waitForResponse(
      (r) => r.request().method() === 'POST' && r.request().isNavigationRequest() && r.url().startsWith(env.issuer),
    );
    await p.page.click('button[type=submit]');
    await posted;
  });
}

// ------------------------------------------------------------------------------------ suite

describe(`oauthd in Chromium, authorization code + PKCE (${BACKEND})`, () => {
  before(
    async () => {
      if (!['sqlite', 'postgres'].includes(BACKEND)) throw new Error(`OAUTHD_TEST_BACKEND must be sqlite or postgres, not ${BACKEND}`);
      if (!existsSync(BIN)) throw new Error(`no oauthd binary at ${BIN}: build it (cargo build --release) or set OAUTHD_BIN`);
      if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: run scripts/ensure-browser.sh`);
      env.work = mkdtempSync(path.join(os.tmpdir(), `oauthd-e2e-${BACKEND}-`));

      if (BACKEND === 'sqlite') {
        env.dbUrl = `sqlite://${path.join(env.work, 'oauthd.db')}`;
      } else {
        const name = `oauthd_e2e_${randomBytes(6).toString('hex')}`;
        psql(`CREATE DATABASE "${name}"`);
        env.dbName = name;
        env.dbUrl = `${PG_BASE}/${name}`;
      }

      env.issuer = `http://127.0.0.1:${await freePort()}`;
      await startOauthd();

      const config = { issuer: env.issuer, client_id: '', audience: API, scope: SCOPE };
      env.spa = await startSpaServer({ config: () => config });
      const origin = env.spa.origin;

      cli(['api', 'create', '--identifier', API, '--scope', 'read:x']);
      const client = JSON.parse(
        cli([
          'client', 'create', '--name', 'spa', '--public', '--first-party',
          '--grant', 'authorization_code', '--grant', 'refresh_token',
          '--redirect-uri', `${origin}/callback`, '--allowed-origin', origin,
          '--api', API, '--scope', 'read:x', '--json',
        ]),
      );
      assert.ok(client.client_id, `client create printed no client_id: ${JSON.stringify(client)}`);
      env.clientId = client.client_id;
      config.client_id = client.client_id;
      const user = JSON.parse(
        cli(['user', 'create', '--username', USERNAME, '--email', EMAIL, '--password-stdin', '--json'], PASSWORD),
      );
      env.userId = user.user_id ?? null;

      // chromium.launch gives every run a fresh temporary profile (user-data-dir) of its own.
      env.browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: 30_000,
      });
    },
    { timeout: TEST_TIMEOUT },
  );

  after(
    async () => {
      const problems = [];
      const attempt = async (what, fn) => {
        try {
          await fn();
        } catch (e) {
          problems.push(`${what}: ${e.message}`);
        }
      };
      await attempt('close the browser', async () => env.browser && (await env.browser.close()));
      env.browser = null;
      await attempt('stop the SPA server', async () => env.spa && (await env.spa.close()));
      env.spa = null;
      await attempt('stop oauthd', stopOauthd);
      if (env.dbName) {
        const name = env.dbName;
        await attempt(`drop database ${name}`, () => dropDatabase(name));
        env.dbName = null;
      }
      if (env.work) {
        if (problems.length === 0 && !process.env.OAUTHD_E2E_KEEP) {
          rmSync(env.work, { recursive: true, force: true });
        } else {
          writeFileSync(path.join(env.work, 'server.log'), env.serverLog);
          console.error(`e2e: kept ${env.work} (server.log inside)`);
        }
      }
      if (problems.length) throw new Error(`cleanup failed:\n${problems.join('\n')}`);
    },
    { timeout: 120_000 },
  );

  test('the SPA sends a complete PKCE (S256) authorization request', { timeout: TEST_TIMEOUT }, async () => {
    // The authorization server is stubbed out here: this checks only what the browser asks for.
    const p = await openPage();
    try {
      await p.page.route(`${env.issuer}/authorize?**`, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>stub</title><p id="stub">authorize</p>' }),
      );
      const url = await startLogin(p);
      await p.page.waitForSelector('#stub');
      const q = url.searchParams;
      const spa = env.spa.origin;
      assert.equal(url.origin + url.pathname, `${env.issuer}/authorize`);
      assert.equal(q.get('response_type'), 'code');
      assert.equal(q.get('client_id'), env.clientId);
      assert.equal(q.get('redirect_uri'), `${spa}/callback`);
      assert.equal(q.get('scope'), SCOPE);
      assert.equal(q.get('audience'), API);
      assert.equal(q.get('code_challenge_method'), 'S256');
      assert.match(q.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.match(q.get('state') ?? '', /^[A-Za-z0-9_-]{16,}$/);
      assert.match(q.get('nonce') ?? '', /^[A-Za-z0-9_-]{16,}$/);

      // The challenge is the S256 of the verifier the SPA kept for the callback (sessionStorage is
      // per tab and origin: back in the same tab, on the SPA's origin, it is still there).
      await p.page.goto(`${spa}/`);
      const stored = JSON.parse(await p.page.evaluate(() => sessionStorage.getItem('oauthd-e2e') ?? 'null'));
      assert.ok(stored, 'the SPA kept no login state in sessionStorage');
      assert.match(stored.verifier, /^[A-Za-z0-9_-]{43,128}$/);
      assert.equal(createHash('sha256').update(stored.verifier).digest('base64url'), q.get('code_challenge'));
      assert.equal(stored.state, q.get('state'));
      assert.equal(stored.nonce, q.get('nonce'));
    } finally {
      await p.context.close();
    }
  });

  test('sign in through the login page; the SPA gets tokens and calls /userinfo (CORS)', { timeout: TEST_TIMEOUT }, async () => {
    const p = await openPage();
    try {
      const authz = await startLogin(p);
      const nonce = authz.searchParams.get('nonce');
      const state = authz.searchParams.get('state');
      await waitForLoginForm(p);
      await submitLogin(p, USERNAME, PASSWORD);

      const callback = await p.step(`wait for the redirect back to ${env.spa.origin}/callback`, async () => {
        await p.page.waitForURL((u) => u.href.startsWith(`${env.spa.origin}/callback`));
        return new URL(p.nav.find((n) => n.url.startsWith(`${env.spa.origin}/callback?`)).url);
      });
      assert.equal(callback.searchParams.get('state'), state, await p.explain('state on the redirect back'));
      assert.equal(callback.searchParams.get('iss'), env.issuer, await p.explain('iss on the redirect back (RFC 9207)'));
      assert.ok(callback.searchParams.get('code'), await p.explain('a code on the redirect back'));

      const text = await p.step('wait for the SPA to write JSON into #result', async () => {
        await p.page.waitForFunction(() => {
          const t = document.querySelector('#result')?.textContent ?? '';
          try {
            JSON.parse(t);
            return true;
          } catch {
            return false;
          }
        });
        return p.page.textContent('#result');
      });
      const r = JSON.parse(text);
      const why = async (what) => p.explain(`${what}; the SPA wrote:\n${text}`);
      if (r.error) assert.fail(await why('the SPA reported an error'));
      assert.equal(r.token_status, 200, await why('POST /token status'));
      assert.match(String(r.token_type), /^bearer$/i, await why('token_type'));
      assert.equal(r.has_id_token, true, await why('id_token in the token response'));
      assert.equal(r.has_refresh_token, true, await why('refresh_token in the token response (offline_access)'));
      assert.equal(r.userinfo_status, 200, await why('GET /userinfo status'));
      assert.ok(typeof r.sub === 'string' && r.sub.startsWith('local|'), await why('userinfo sub starts with "local|"'));
      assert.equal(r.id_token_nonce, nonce, await why('the id_token nonce is the one the SPA sent'));
      assert.equal(r.id_token_sub, r.sub, await why('the id_token sub equals the userinfo sub'));
    } finally {
      await p.context.close();
    }
  });

  test('a wrong password shows the login form again with a generic error, and nothing reaches the SPA', { timeout: TEST_TIMEOUT }, async () => {
    const p = await openPage();
    try {
      const before = env.spa.requests.length;
      await startLogin(p);
      await waitForLoginForm(p);
      const wrong = 'not-the-password-9f3a';
      await submitLogin(p, USERNAME, wrong);
      await p.step('wait for the page after the failed login', () => p.page.waitForLoadState('load'));

      const url = new URL(p.page.url());
      assert.equal(url.origin, env.issuer, await p.explain('after a wrong password the browser is still on oauthd'));
      assert.equal(
        await p.page.locator('form input[name=password]').count(),
        1,
        await p.explain('after a wrong password the login form (input[name=password]) is shown again'),
      );
      assert.equal(await p.page.inputValue('input[name=password]'), '', await p.explain('the password field is empty'));
      assert.ok(!(await p.page.content()).includes(wrong), await p.explain('the page does not echo the wrong password'));
      const alert = p.page.locator('[role=alert], .error');
      assert.ok((await alert.count()) >= 1, await p.explain('an error message is shown'));
      const message = (await alert.first().textContent()).trim();
      assert.ok(message.length > 0, await p.explain('the error message is not empty'));
      // Generic: it must not tell which of the two was wrong.
      assert.doesNotMatch(message, /no such user|unknown user|user not found|does not exist|incorrect password$/i, await p.explain(`the error is generic (got ${JSON.stringify(message)})`));

      const toSpa = p.nav.filter((n) => n.url.startsWith(`${env.spa.origin}/callback`)).map(navLine);
      assert.deepEqual(toSpa, [], await p.explain('no redirect to the SPA callback happened'));
      const spaHits = env.spa.requests.slice(before).filter((r) => r.includes('/callback'));
      assert.deepEqual(spaHits, [], 'the SPA server saw no /callback request');
    } finally {
      await p.context.close();
    }
  });

  test('device flow: the test polls /token while Chromium enters the code on /device and approves', { timeout: TEST_TIMEOUT }, async () => {
    const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
    const cliClient = JSON.parse(
      cli(['client', 'create', '--name', 'E2E CLI', '--public', '--grant', GRANT, '--api', API, '--scope', 'read:x', '--json']),
    ).client_id;
    const started = await fetch(`${env.issuer}/device_authorization`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: cliClient, audience: API, scope: 'openid read:x' }),
    });
    assert.equal(started.status, 200, await started.clone().text());
    const da = await started.json();
    assert.match(da.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(da.verification_uri, `${env.issuer}/device`);

    // The device polls at the interval it was given, until it gets tokens or a final error.
    const answers = [];
    let stop = false;
    const polling = (async () => {
      let interval = da.interval;
      while (!stop) {
        await sleep(interval * 1000);
        const r = await fetch(`${env.issuer}/token`, {
          method: 'POST',
          body: new URLSearchParams({ grant_type: GRANT, device_code: da.device_code, client_id: cliClient }),
        });
        const body = await r.json();
        answers.push(r.status === 200 ? 'tokens' : body.error);
        if (r.status === 200) return body;
        if (body.error === 'slow_down') interval += 5;
        else if (body.error !== 'authorization_pending') throw new Error(`polling ended with ${JSON.stringify(body)}`);
      }
      return null;
    })();

    const p = await openPage();
    try {
      await p.step('open the verification page and enter the code', async () => {
        await p.page.goto(da.verification_uri);
        await p.page.fill('input[name=user_code]', da.user_code.toLowerCase().replace('-', ' '));
        await p.page.click('button[type=submit]');
      });
      await waitForLoginForm(p);
      assert.ok((await p.page.content()).includes('E2E CLI'), await p.explain('the login form names the device client'));
      await submitLogin(p, USERNAME, PASSWORD);
      await p.step('approve on the confirmation page', async () => {
        await p.page.waitForSelector('button[value=allow]', { state: 'visible' });
        assert.ok(answers.every((a) => a === 'authorization_pending'), `before approval: ${answers}`);
        await p.page.click('button[value=allow]');
        await p.page.waitForSelector('text=is now connected');
      });
      const tokens = await Promise.race([polling, sleep(20_000).then(() => null)]);
      assert.ok(tokens, await p.explain(`the device got no tokens; it heard ${answers}`));
      assert.ok(answers.includes('authorization_pending'), `the device polled before approval: ${answers}`);
      const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
      assert.equal(claims.gty, 'device-code');
      assert.equal(claims.client_id, cliClient);
      if (env.userId) assert.equal(claims.sub, env.userId);
      assert.ok(tokens.id_token, 'openid gives an ID token');
    } finally {
      stop = true;
      await p.context.close();
    }
  });
});
