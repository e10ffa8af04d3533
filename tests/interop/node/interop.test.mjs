// oauthd against real Node client libraries: openid-client v6 (relying party, grants, ID token
// validation, userinfo, introspection, revocation) and jose (RFC 9068 access token checks).
//
// tests/interop/run.sh provisions oauthd and passes a JSON file in OAUTHD_INTEROP_CONFIG.
// No workarounds: when a library rejects something oauthd sends, the test fails with the
// library's own error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as client from 'openid-client';
import * as jose from 'jose';

const configPath = process.env.OAUTHD_INTEROP_CONFIG;
if (!configPath) throw new Error('OAUTHD_INTEROP_CONFIG is not set: run tests/interop/run.sh');
const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
const issuer = new URL(cfg.issuer);
const USER_SCOPE = 'openid profile email offline_access read:x';

// openid-client v6 refuses plain http unless told; the server runs on 127.0.0.1.
const insecure = { execute: [client.allowInsecureRequests] };

/** A fetch that remembers what openid-client sent, to check the client authentication used. */
function recordingFetch() {
  const sent = [];
  const f = async (url, options) => {
    sent.push({ url: String(url), method: options.method, headers: new Headers(options.headers), body: options.body });
    return fetch(url, options);
  };
  f.sent = sent;
  f.lastTo = (endpoint) => {
    const r = [...sent].reverse().find((s) => s.url === endpoint);
    assert.ok(r, `no request was sent to ${endpoint}`);
    return r;
  };
  return f;
}

function bodyParams(body) {
  return new URLSearchParams(typeof body === 'string' ? body : body.toString());
}

async function discover(which, clientAuth, extra = {}) {
  const c = cfg.clients[which];
  return client.discovery(issuer, c.client_id, c.client_secret ?? undefined, clientAuth, { ...insecure, ...extra });
}

let jwksCache;
async function jwks() {
  if (!jwksCache) {
    const doc = await (await fetch(new URL('/.well-known/openid-configuration', issuer))).json();
    jwksCache = jose.createRemoteJWKSet(new URL(doc.jwks_uri));
  }
  return jwksCache;
}

/** run.sh runs the suite once per signing algorithm; make sure that is the one in use. */
function expectAlg(header) {
  if (cfg.signing_alg) assert.equal(header.alg, cfg.signing_alg, `signed with ${header.alg}, expected ${cfg.signing_alg}`);
}

/** RFC 9068 §4 with jose: signature from the JWKS, iss, aud, exp, typ at+jwt. */
async function verifyAccessToken(token, { audience, clientId, sub, scope }) {
  const { payload, protectedHeader } = await jose.jwtVerify(token, await jwks(), {
    issuer: cfg.issuer,
    audience,
    typ: 'at+jwt',
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
  });
  assert.equal(protectedHeader.typ, 'at+jwt');
  expectAlg(protectedHeader);
  assert.equal(payload.client_id, clientId);
  if (sub !== undefined) assert.equal(payload.sub, sub);
  if (scope !== undefined) assert.deepEqual(new Set(String(payload.scope ?? '').split(' ')), new Set(scope.split(' ')));
  return payload;
}

// ------------------------------------------------------------------------ the browser

function decodeEntities(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*"([^"]*)"/g)) out[m[1].toLowerCase()] = decodeEntities(m[2]);
  return out;
}

/** The first <form>: action, named inputs, named buttons. */
function parseForm(html) {
  const m = html.match(/<form\b[^>]*>([\s\S]*?)<\/form>/i);
  assert.ok(m, `the page has no form:\n${html.slice(0, 2000)}`);
  const action = attrs(m[0].match(/<form\b[^>]*>/i)[0]).action;
  const inputs = {};
  for (const t of m[1].matchAll(/<input\b[^>]*>/gi)) {
    const a = attrs(t[0]);
    if (a.name) inputs[a.name] = a.value ?? '';
  }
  const buttons = [];
  for (const t of m[1].matchAll(/<button\b[^>]*>/gi)) {
    const a = attrs(t[0]);
    if (a.name) buttons.push([a.name, a.value ?? '']);
  }
  return { action, inputs, buttons };
}

/**
 * Acts as the user's browser with fetch (redirect: 'manual') and a cookie jar: signs in,
 * allows consent if asked, and returns the URL that sends the browser back to the client.
 */
async function driveLogin(authorizationUrl, { consent }) {
  const jar = new Map();
  const trail = [];
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const step = async (method, url, form) => {
    const headers = { cookie: cookieHeader() };
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const r = await fetch(url, { method, headers, body, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const [pair, ...rest] = c.split(';');
      const i = pair.indexOf('=');
      const [name, value] = [pair.slice(0, i).trim(), pair.slice(i + 1).trim()];
      const expired = rest.some((p) => /^\s*max-age\s*=\s*0\s*$/i.test(p));
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
    trail.push([method, String(url).split('?')[0], r.status]);
    return r;
  };

  let url = new URL(authorizationUrl);
  let r = await step('GET', url);
  for (let i = 0; i < 10; i++) {
    if ([301, 302, 303, 307, 308].includes(r.status)) {
      const target = new URL(r.headers.get('location'), url);
      if (target.href.startsWith(cfg.redirect_uri)) return { callback: target, trail, jar };
      assert.equal(target.host, issuer.host, `redirect off the server: ${target}`);
      url = target;
      r = await step('GET', url);
      continue;
    }
    const html = await r.text();
    assert.equal(r.status, 200, `unexpected ${r.status} from ${url}: ${html.slice(0, 1000)}`);
    const form = parseForm(html);
    const fields = { ...form.inputs };
    if ('password' in fields) {
      assert.ok(fields.csrf, 'the login form has no csrf field');
      assert.ok(jar.get('oauthd_csrf'), 'no oauthd_csrf cookie was set with the login form');
      fields.username = cfg.user.username;
      fields.password = cfg.user.password;
    } else if (form.buttons.some(([n, v]) => n === 'decision' && v === 'allow')) {
      assert.ok(consent, 'a consent page was shown to a first-party client');
      fields.decision = 'allow';
    } else {
      assert.fail(`unexpected form page:\n${html.slice(0, 2000)}`);
    }
    url = new URL(form.action, url);
    r = await step('POST', url, fields);
  }
  assert.fail(`too many steps: ${JSON.stringify(trail)}`);
}

// ------------------------------------------------------------------------ discovery

test('discovery: OIDC and RFC 8414 documents accepted by openid-client', async () => {
  const oidc = await discover('m2m');
  assert.equal(oidc.serverMetadata().issuer, cfg.issuer);
  assert.ok(oidc.serverMetadata().supportsPKCE());
  const oauth = await discover('m2m', undefined, { algorithm: 'oauth2' });
  assert.equal(oauth.serverMetadata().issuer, cfg.issuer);
  assert.equal(oauth.serverMetadata().token_endpoint, oidc.serverMetadata().token_endpoint);
});

// ------------------------------------------------------------------------ client credentials

test('clientCredentialsGrant with client_secret_basic', async () => {
  const m2m = cfg.clients.m2m;
  const f = recordingFetch();
  const config = await discover('m2m', client.ClientSecretBasic(m2m.client_secret), { [client.customFetch]: f });
  const tokens = await client.clientCredentialsGrant(config, { scope: 'read:x' });
  const sent = f.lastTo(config.serverMetadata().token_endpoint);
  assert.match(sent.headers.get('authorization') ?? '', /^Basic /);
  assert.equal(bodyParams(sent.body).get('client_secret'), null);

  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.expiresIn() > 0);
  assert.equal(tokens.refresh_token, undefined);
  const claims = await verifyAccessToken(tokens.access_token, { audience: cfg.api, clientId: m2m.client_id, scope: 'read:x' });
  assert.ok(claims.sub, 'a client_credentials token still needs a sub (RFC 9068 §2.2)');
});

test('clientCredentialsGrant with client_secret_post (the default for a secret)', async () => {
  const m2m = cfg.clients.m2m;
  const f = recordingFetch();
  const config = await discover('m2m', undefined, { [client.customFetch]: f });
  const tokens = await client.clientCredentialsGrant(config);
  const sent = f.lastTo(config.serverMetadata().token_endpoint);
  assert.equal(sent.headers.get('authorization'), null);
  assert.equal(bodyParams(sent.body).get('client_secret'), m2m.client_secret);
  await verifyAccessToken(tokens.access_token, { audience: cfg.api, clientId: m2m.client_id, scope: 'read:x write:x' });
});

test('clientCredentialsGrant naming the audience explicitly (audience and RFC 8707 resource)', async () => {
  const m2m = cfg.clients.m2m;
  const f = recordingFetch();
  const config = await discover('m2m', client.ClientSecretBasic(m2m.client_secret), { [client.customFetch]: f });
  const byAudience = await client.clientCredentialsGrant(config, { audience: cfg.api2, scope: 'read:y' });
  assert.equal(bodyParams(f.lastTo(config.serverMetadata().token_endpoint).body).get('audience'), cfg.api2);
  await verifyAccessToken(byAudience.access_token, { audience: cfg.api2, clientId: m2m.client_id, scope: 'read:y' });
  await assert.rejects(
    jose.jwtVerify(byAudience.access_token, await jwks(), { issuer: cfg.issuer, audience: cfg.api, typ: 'at+jwt' }),
    (e) => e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'aud',
  );
  const byResource = await client.clientCredentialsGrant(config, { resource: cfg.api2 });
  await verifyAccessToken(byResource.access_token, { audience: cfg.api2, clientId: m2m.client_id, scope: 'read:y' });
});

test('clientCredentialsGrant with a wrong secret fails with invalid_client', async () => {
  const m2m = cfg.clients.m2m;
  const config = await client.discovery(issuer, m2m.client_id, undefined, client.ClientSecretBasic('wrong'), insecure);
  // RFC 6749 §5.2: a client that used Basic gets 401 with WWW-Authenticate; openid-client
  // surfaces that as a WWWAuthenticateChallengeError carrying the response.
  const e = await client.clientCredentialsGrant(config).then(
    () => assert.fail('a wrong secret was accepted'),
    (err) => err,
  );
  assert.ok(e instanceof client.WWWAuthenticateChallengeError, `${e?.name}: ${e?.message}`);
  assert.equal(e.status, 401);
  assert.equal(e.cause[0].scheme, 'basic');
  assert.equal((await e.response.json()).error, 'invalid_client');
});

// ------------------------------------------------------------------------ refresh

test('refreshTokenGrant with a refresh token from the password grant (plain fetch)', async () => {
  const pw = cfg.clients.password;
  const meta = (await discover('password')).serverMetadata();
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(pw.client_id)}:${encodeURIComponent(pw.client_secret)}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'password',
      username: cfg.user.username,
      password: cfg.user.password,
      scope: 'openid offline_access read:x',
    }),
  });
  const first = await res.json();
  assert.equal(res.status, 200, JSON.stringify(first));
  assert.ok(first.refresh_token);
  await verifyAccessToken(first.access_token, { audience: cfg.api, clientId: pw.client_id, sub: cfg.user.user_id });
  const { payload: id, protectedHeader } = await jose.jwtVerify(first.id_token, await jwks(), {
    issuer: cfg.issuer,
    audience: pw.client_id,
  });
  assert.equal(protectedHeader.alg, 'RS256', 'ID tokens are signed RS256, the OIDC default');
  assert.equal(id.sub, cfg.user.user_id);

  const config = await discover('password', client.ClientSecretBasic(pw.client_secret));
  const tokens = await client.refreshTokenGrant(config, first.refresh_token);
  assert.ok(tokens.refresh_token && tokens.refresh_token !== first.refresh_token, 'refresh token not rotated');
  await verifyAccessToken(tokens.access_token, {
    audience: cfg.api,
    clientId: pw.client_id,
    sub: cfg.user.user_id,
    scope: 'openid offline_access read:x',
  });
  if (tokens.id_token) {
    // openid-client validated it (iss, aud, exp, iat, signature alg); check what it saw.
    const c = tokens.claims();
    assert.equal(c.sub, cfg.user.user_id);
    assert.equal(c.aud, pw.client_id);
  }
  const again = await client.refreshTokenGrant(config, tokens.refresh_token, { audience: cfg.api });
  await verifyAccessToken(again.access_token, { audience: cfg.api, clientId: pw.client_id, sub: cfg.user.user_id });
});

// ------------------------------------------------------------------------ authorization code + PKCE

test('authorizationCodeGrant with PKCE for a public client, then fetchUserInfo and refresh', async () => {
  const spa = cfg.clients.spa;
  const f = recordingFetch();
  const config = await client.discovery(issuer, spa.client_id, undefined, client.None(), {
    ...insecure,
    [client.customFetch]: f,
  });
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const nonce = client.randomNonce();
  const state = client.randomState();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: cfg.redirect_uri,
    scope: USER_SCOPE,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    nonce,
    state,
  });

  const { callback, trail } = await driveLogin(authUrl, { consent: false });
  assert.deepEqual(trail.map((t) => t[2]), [200, 303, 303], JSON.stringify(trail));
  assert.equal(callback.searchParams.get('iss'), cfg.issuer);

  // openid-client checks state, iss (RFC 9207), exchanges the code with the verifier, and
  // validates the ID token: signature, iss, aud, exp, iat, nonce, at_hash rules.
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  const sent = bodyParams(f.lastTo(config.serverMetadata().token_endpoint).body);
  assert.equal(sent.get('client_id'), spa.client_id);
  assert.equal(sent.get('code_verifier'), verifier);
  assert.equal(sent.get('client_secret'), null);

  const idClaims = tokens.claims();
  assert.equal(jose.decodeProtectedHeader(tokens.id_token).alg, 'RS256', 'ID tokens are signed RS256');
  assert.equal(idClaims.sub, cfg.user.user_id);
  assert.equal(idClaims.nonce, nonce);
  assert.equal(idClaims.iss, cfg.issuer);
  assert.equal(idClaims.aud, spa.client_id);
  await verifyAccessToken(tokens.access_token, {
    audience: cfg.api,
    clientId: spa.client_id,
    sub: cfg.user.user_id,
    scope: USER_SCOPE,
  });

  const info = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);
  assert.equal(info.sub, cfg.user.user_id);
  assert.equal(info.email, cfg.user.email);
  assert.equal(info.preferred_username, cfg.user.username);

  assert.ok(tokens.refresh_token, 'offline_access was granted but no refresh token came');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  await verifyAccessToken(refreshed.access_token, { audience: cfg.api, clientId: spa.client_id, sub: cfg.user.user_id });
  if (refreshed.id_token) assert.equal(refreshed.claims().sub, cfg.user.user_id);
});

test('authorizationCodeGrant for a confidential third-party client: consent, explicit audience, client_secret_basic', async () => {
  const web = cfg.clients.web;
  const f = recordingFetch();
  const config = await discover('web', client.ClientSecretBasic(web.client_secret), { [client.customFetch]: f });
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: cfg.redirect_uri,
    scope: 'openid profile read:x',
    audience: cfg.api,
    prompt: 'consent', // the user may have consented in an earlier run: ask again
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
  });
  const { callback, trail } = await driveLogin(authUrl, { consent: true });
  assert.ok(trail.some(([m, u]) => m === 'POST' && u.endsWith('/consent')), JSON.stringify(trail));

  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  assert.match(f.lastTo(config.serverMetadata().token_endpoint).headers.get('authorization') ?? '', /^Basic /);
  assert.equal(tokens.claims().aud, web.client_id);
  await verifyAccessToken(tokens.access_token, {
    audience: cfg.api,
    clientId: web.client_id,
    sub: cfg.user.user_id,
    scope: 'openid profile read:x',
  });
  const info = await client.fetchUserInfo(config, tokens.access_token, cfg.user.user_id);
  assert.equal(info.preferred_username, cfg.user.username);
  assert.equal(info.email, undefined, 'email was not asked for');
});

// ------------------------------------------------------------------------ introspection, revocation

test('tokenIntrospection and tokenRevocation', async () => {
  const m2m = cfg.clients.m2m;
  const config = await discover('m2m', client.ClientSecretBasic(m2m.client_secret));
  const tokens = await client.clientCredentialsGrant(config, { scope: 'read:x' });
  await verifyAccessToken(tokens.access_token, { audience: cfg.api, clientId: m2m.client_id, scope: 'read:x' });

  const active = await client.tokenIntrospection(config, tokens.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, m2m.client_id);
  assert.equal(active.aud, cfg.api);
  assert.equal(active.scope, 'read:x');

  await client.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' });
  const after = await client.tokenIntrospection(config, tokens.access_token);
  assert.equal(after.active, false);
});

// ------------------------------------------------------------------------ private_key_jwt, jwt-bearer

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

async function keyClientConfig(extra = {}) {
  const c = cfg.clients.key;
  const key = await jose.importJWK(c.private_jwk, c.private_jwk.alg);
  return client.discovery(issuer, c.client_id, undefined, client.PrivateKeyJwt({ key, kid: c.private_jwk.kid }), {
    ...insecure,
    ...extra,
  });
}

test('discovery advertises the jwt-bearer grant and private_key_jwt', async () => {
  const meta = (await discover('m2m')).serverMetadata();
  assert.ok(meta.grant_types_supported.includes(JWT_BEARER));
  assert.ok(meta.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
});

test('clientCredentialsGrant with PrivateKeyJwt client authentication, then tokenIntrospection', async () => {
  const c = cfg.clients.key;
  const f = recordingFetch();
  const config = await keyClientConfig({ [client.customFetch]: f });
  const tokens = await client.clientCredentialsGrant(config, { scope: 'read:x' });
  const sent = bodyParams(f.lastTo(config.serverMetadata().token_endpoint).body);
  assert.equal(sent.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  const a = jose.decodeJwt(sent.get('client_assertion'));
  assert.equal(a.iss, c.client_id);
  assert.equal(a.sub, c.client_id);
  await verifyAccessToken(tokens.access_token, { audience: cfg.api, clientId: c.client_id, scope: 'read:x' });

  const info = await client.tokenIntrospection(config, tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.client_id, c.client_id);
});

test('jwt-bearer grant (genericGrantRequest) with a jose-signed assertion and PrivateKeyJwt', async () => {
  const c = cfg.clients.key;
  const idp = cfg.assertion_issuers.required;
  const jwk = cfg.assertion_private_jwk;
  const idpKey = await jose.importJWK(jwk, jwk.alg);
  const assertion = await new jose.SignJWT({})
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: 'JWT' })
    .setIssuer(idp.issuer)
    .setSubject(idp.subject)
    .setAudience(cfg.issuer)
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(crypto.randomUUID())
    .sign(idpKey);

  const config = await keyClientConfig();
  const tokens = await client.genericGrantRequest(config, JWT_BEARER, { assertion, scope: 'read:x' });
  await verifyAccessToken(tokens.access_token, {
    audience: cfg.api,
    clientId: c.client_id,
    sub: cfg.user.user_id,
    scope: 'read:x',
  });

  // The same assertion again is a replay.
  const e = await client.genericGrantRequest(config, JWT_BEARER, { assertion, scope: 'read:x' }).then(
    () => assert.fail('a replayed assertion was accepted'),
    (err) => err,
  );
  assert.ok(e instanceof client.ResponseBodyError, `${e?.name}: ${e?.message}`);
  assert.equal(e.error, 'invalid_grant');
});

// ------------------------------------------------------------------------ device authorization (RFC 8628)

/**
 * The user's side of the device flow with fetch and a cookie jar: opens `uri` (the
 * verification_uri_complete), continues with the pre-filled code, signs in and decides.
 * Returns the last page's HTML.
 */
async function approveDevice(uri, decision) {
  const jar = new Map();
  const send = async (method, url, form) => {
    const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const r = await fetch(url, { method, headers, body, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const pair = c.split(';')[0];
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    return [r.status, await r.text()];
  };
  let [status, html] = await send('GET', new URL(uri));
  for (let i = 0; i < 4; i++) {
    assert.equal(status, 200, html.slice(0, 1000));
    if (!/<form\b/i.test(html)) return html;
    const form = parseForm(html);
    const fields = { ...form.inputs };
    if ('password' in fields) {
      fields.username = cfg.user.username;
      fields.password = cfg.user.password;
    } else if (form.buttons.some(([n]) => n === 'decision')) {
      fields.decision = decision;
    }
    [status, html] = await send('POST', new URL(form.action, uri), fields);
  }
  assert.fail(`too many steps on the verification page:\n${html.slice(0, 1000)}`);
}

async function discoverDevice() {
  return client.discovery(issuer, cfg.clients.device.client_id, undefined, client.None(), insecure);
}

test('device authorization: initiateDeviceAuthorization, the user approves, pollDeviceAuthorizationGrant', async () => {
  const dev = cfg.clients.device;
  const config = await discoverDevice();
  assert.equal(config.serverMetadata().device_authorization_endpoint, `${cfg.issuer}/device_authorization`);
  const scope = 'openid offline_access read:x';
  const da = await client.initiateDeviceAuthorization(config, { scope });
  assert.match(da.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  assert.equal(da.verification_uri, `${cfg.issuer}/device`);
  // The device polls (openid-client keeps to `interval` and handles authorization_pending) while
  // the user approves a moment later.
  const approval = new Promise((r) => setTimeout(r, 1500)).then(() => approveDevice(da.verification_uri_complete, 'allow'));
  const tokens = await client.pollDeviceAuthorizationGrant(config, da);
  assert.match(await approval, /is now connected/);
  const claims = await verifyAccessToken(tokens.access_token, { audience: cfg.api, clientId: dev.client_id, sub: cfg.user.user_id, scope });
  assert.equal(claims.gty, 'device-code');
  assert.equal(tokens.claims().sub, cfg.user.user_id, 'the ID token, validated by openid-client, names the user');
  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  await verifyAccessToken(refreshed.access_token, { audience: cfg.api, clientId: dev.client_id, sub: cfg.user.user_id });
});

test('device authorization: a denial ends pollDeviceAuthorizationGrant with access_denied', async () => {
  const config = await discoverDevice();
  const da = await client.initiateDeviceAuthorization(config, { scope: 'read:x' });
  const denial = new Promise((r) => setTimeout(r, 1500)).then(() => approveDevice(da.verification_uri_complete, 'deny'));
  const e = await client.pollDeviceAuthorizationGrant(config, da).then(
    () => assert.fail('tokens after a denial'),
    (err) => err,
  );
  assert.match(await denial, /denied/);
  assert.ok(e instanceof client.ResponseBodyError, `${e?.name}: ${e?.message}`);
  assert.equal(e.error, 'access_denied');
});
