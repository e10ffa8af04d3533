// passport-openidconnect as a relying party against oauthd on default settings: a confidential
// client with no PKCE (the library has none), an identity-only login through the login page,
// the library's state, nonce and ID token claim checks, client_secret_post at the token
// endpoint and its userinfo request with a Bearer header.
//
// Reads the JSON file named by OAUTHD_RP_CONFIG (written by tests/interop/run.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import OpenIDConnectStrategy from 'passport-openidconnect';

const cfg = JSON.parse(readFileSync(process.env.OAUTHD_RP_CONFIG, 'utf8'));
const rp = cfg.clients.passport;
const base = `http://127.0.0.1:${rp.port}`;

const jar = new Map();
async function fetchAs(url, init = {}) {
  const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers || {}), cookie } });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  return res;
}
const unescape = (s) => s.replaceAll('&#x2f;', '/').replaceAll('&quot;', '"').replaceAll('&#x27;', "'")
  .replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
const hidden = (page) => [...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)]
  .map((m) => [unescape(m[1]), unescape(m[2])]);
const abs = (loc) => (loc.startsWith('/') ? cfg.issuer + loc : loc);

const discovery = await (await fetch(`${cfg.issuer}/.well-known/openid-configuration`)).json();
passport.use(new OpenIDConnectStrategy({
  issuer: discovery.issuer,
  authorizationURL: discovery.authorization_endpoint,
  tokenURL: discovery.token_endpoint,
  userInfoURL: discovery.userinfo_endpoint,
  clientID: rp.client_id,
  clientSecret: rp.client_secret,
  callbackURL: `${base}/callback`,
  scope: ['profile', 'email'],
  nonce: true,
}, (issuer, uiProfile, idProfile, context, idToken, accessToken, refreshToken, params, done) => {
  done(null, { issuer, uiProfile, idProfile, context, idToken });
}));
passport.serializeUser((u, done) => done(null, u));
passport.deserializeUser((u, done) => done(null, u));

const failures = [];
const app = express();
app.use(session({ secret: 'interop-only session secret', resave: false, saveUninitialized: false }));
app.use(passport.authenticate('session'));
app.get('/login', passport.authenticate('openidconnect'));
app.get('/callback', (req, res, next) => passport.authenticate('openidconnect', (err, user, info) => {
  if (err || !user) { failures.push(String(err || JSON.stringify(info))); return res.status(401).end(); }
  req.logIn(user, (e) => (e ? next(e) : res.redirect('/me')));
})(req, res, next));
app.get('/me', (req, res) => res.json(req.user ?? null));
const server = await new Promise((ok) => { const s = app.listen(rp.port, '127.0.0.1', () => ok(s)); });
test.after(() => server.close());

test('identity-only login without PKCE, checked by passport-openidconnect', async () => {
  let res = await fetchAs(`${base}/login`);
  assert.equal(res.status, 302);
  let loc = res.headers.get('location');
  const asked = new URL(loc);
  assert.equal(asked.origin + asked.pathname, discovery.authorization_endpoint);
  assert.equal(asked.searchParams.get('code_challenge'), null, 'the library sends no PKCE');
  for (let i = 0; i < 8 && !loc.startsWith(base); i++) {
    res = await fetchAs(abs(loc));
    if (res.status === 200) {
      const page = await res.text();
      assert.ok(page.includes('name="password"'), page);
      const form = new URLSearchParams(hidden(page));
      form.set('username', cfg.user.username);
      form.set('password', cfg.user.password);
      res = await fetchAs(`${cfg.issuer}/login`, { method: 'POST', body: form });
    }
    assert.ok([302, 303].includes(res.status), `status ${res.status}`);
    loc = abs(res.headers.get('location'));
  }
  assert.ok(loc.startsWith(`${base}/callback?`), loc);
  res = await fetchAs(loc);
  assert.deepEqual(failures, []);
  assert.equal(res.status, 302);
  const me = await (await fetchAs(`${base}/me`)).json();
  assert.equal(me.issuer, cfg.issuer);
  assert.equal(me.idProfile.id, cfg.user.user_id);
  assert.equal(me.uiProfile.id, cfg.user.user_id, 'userinfo answered for the same subject');
  assert.equal(me.uiProfile.emails[0].value, cfg.user.email);
  assert.equal(me.uiProfile.name.givenName, cfg.user.claims.given_name);
  assert.equal(me.uiProfile.displayName, cfg.user.claims.name);
});
