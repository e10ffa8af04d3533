// express-openid-connect as a relying party against oauthd on default settings: an
// identity-only login with response_mode=form_post (the library's POST /callback, its state,
// nonce, PKCE and ID token checks), its userinfo request, and a back-channel logout token
// received on its /backchannel-logout route, verified by the library, ending the app's session.
//
// Reads the JSON file named by OAUTHD_RP_CONFIG (written by tests/interop/run.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import express from 'express';
import eoc from 'express-openid-connect';

const cfg = JSON.parse(readFileSync(process.env.OAUTHD_RP_CONFIG, 'utf8'));
const rp = cfg.clients.express;
const base = `http://127.0.0.1:${rp.port}`;

// A browser: one cookie jar (cookies ignore ports, as browsers do), redirects followed by hand.
const jar = new Map();
async function fetchAs(url, init = {}) {
  const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers || {}), cookie } });
  for (const c of res.headers.getSetCookie()) {
    const [pair, ...attrs] = c.split(';');
    const i = pair.indexOf('=');
    const [k, v] = [pair.slice(0, i).trim(), pair.slice(i + 1).trim()];
    if (v === '' || attrs.some((a) => /max-age=0\b/i.test(a.trim()))) jar.delete(k);
    else jar.set(k, v);
  }
  return res;
}
const unescape = (s) => s.replaceAll('&#x2f;', '/').replaceAll('&quot;', '"').replaceAll('&#x27;', "'")
  .replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
const hidden = (page) => [...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)]
  .map((m) => [unescape(m[1]), unescape(m[2])]);
const abs = (loc) => (loc.startsWith('/') ? cfg.issuer + loc : loc);

const logoutTokens = [];
const loggedOutSids = new Set();
const app = express();
app.use(eoc.auth({
  issuerBaseURL: cfg.issuer,
  baseURL: base,
  clientID: rp.client_id,
  clientSecret: rp.client_secret,
  secret: 'interop-only cookie secret, at least 32 characters long',
  authRequired: false,
  authorizationParams: { response_type: 'code', response_mode: 'form_post', scope: 'openid profile email' },
  backchannelLogout: {
    // No session store: the test keeps what the hooks need (the default onLogin needs a store).
    onLogin: false,
    onLogoutToken: async (token) => { logoutTokens.push(token); loggedOutSids.add(token.sid); },
    isLoggedOut: async (req) => loggedOutSids.has(req.oidc.idTokenClaims?.sid),
  },
}));
app.get('/me', async (req, res) => {
  if (!req.oidc.isAuthenticated()) return res.json({ authenticated: false });
  res.json({ authenticated: true, claims: req.oidc.idTokenClaims, userinfo: await req.oidc.fetchUserInfo() });
});
const server = await new Promise((ok) => { const s = app.listen(rp.port, '127.0.0.1', () => ok(s)); });

test.after(() => server.close());

test('identity-only login by form post, checked by express-openid-connect', async () => {
  let res = await fetchAs(`${base}/login`);
  assert.equal(res.status, 302);
  let loc = res.headers.get('location');
  assert.ok(loc.startsWith(`${cfg.issuer}/authorize?`) && loc.includes('response_mode=form_post'), loc);
  let page;
  for (let i = 0; i < 6; i++) {
    res = await fetchAs(abs(loc));
    if (res.status === 303) { loc = res.headers.get('location'); continue; }
    page = await res.text();
    if (!page.includes('name="password"')) break;
    const form = new URLSearchParams(hidden(page));
    form.set('username', cfg.user.username);
    form.set('password', cfg.user.password);
    res = await fetchAs(`${cfg.issuer}/login`, { method: 'POST', body: form });
    assert.equal(res.status, 303);
    loc = res.headers.get('location');
  }
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy'), /form-action http:\/\/127\.0\.0\.1:\d+/);
  const action = unescape(page.match(/<form method="post" action="([^"]+)">/)[1]);
  assert.equal(action, `${base}/callback`);
  res = await fetchAs(action, { method: 'POST', body: new URLSearchParams(hidden(page)) });
  assert.equal(res.status, 302, await res.clone().text());
  const me = await (await fetchAs(`${base}/me`)).json();
  assert.equal(me.authenticated, true);
  assert.equal(me.claims.sub, cfg.user.user_id);
  assert.ok(me.claims.sid && me.claims.acr);
  assert.equal(me.userinfo.sub, cfg.user.user_id);
  assert.equal(me.userinfo.email, cfg.user.email);
});

test('a back-channel logout token is verified by express-openid-connect and ends the app session', async () => {
  const before = (await (await fetchAs(`${base}/me`)).json()).claims;
  const res = await fetchAs(`${cfg.issuer}/logout`);
  assert.equal(res.status, 200);
  for (let i = 0; i < 150 && logoutTokens.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(logoutTokens.length, 1, 'one logout token within 15 s');
  assert.equal(logoutTokens[0].sid, before.sid);
  assert.equal(logoutTokens[0].sub, before.sub);
  const me = await (await fetchAs(`${base}/me`)).json();
  assert.equal(me.authenticated, false);
});
