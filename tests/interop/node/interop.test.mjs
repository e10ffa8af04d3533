// oauthd against real Node client libraries: openid-client v6 (relying party, grants, ID token
// validation, userinfo, introspection, revocation, dynamic client registration, PAR), oauth4webapi
// (PAR for a public client) and jose (RFC 9068 access token checks).
//
// tests/interop/run.sh provisions oauthd and passes a JSON file in OAUTHD_INTEROP_CONFIG.
// No workarounds: when a library rejects something oauthd sends, the test fails with the
// library's own error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as client from 'openid-client';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';

import { driveLogin as driveLoginAs } from './login.mjs';

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

const driveLogin = (url, opts) => driveLoginAs(cfg, url, opts);

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

// ------------------------------------------------------------------------ dynamic client registration

test('dynamicClientRegistration (RFC 7591) of a native public client, its login with PKCE and refresh, then RFC 7592 read and delete', async () => {
  // openid-client discovers registration_endpoint and registers; the client is third-party,
  // so the user is asked, and identity-only, since no API was granted to it.
  const config = await client.dynamicClientRegistration(
    issuer,
    {
      application_type: 'native',
      client_name: 'openid-client DCR',
      redirect_uris: [cfg.redirect_uri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
    client.None(),
    { ...insecure },
  );
  const md = config.clientMetadata();
  assert.ok(md.client_id, 'no client_id');
  assert.equal(md.client_secret, undefined);
  assert.equal(md.token_endpoint_auth_method, 'none');
  assert.deepEqual(md.redirect_uris, [cfg.redirect_uri]);
  assert.equal(md.registration_client_uri, `${cfg.issuer}/register/${md.client_id}`);

  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: cfg.redirect_uri,
    scope: 'openid offline_access',
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
  assert.equal(tokens.claims().aud, md.client_id);
  assert.equal(tokens.claims().sub, cfg.user.user_id);
  await verifyAccessToken(tokens.access_token, {
    audience: `${cfg.issuer}/userinfo`,
    clientId: md.client_id,
    sub: cfg.user.user_id,
  });
  const info = await client.fetchUserInfo(config, tokens.access_token, cfg.user.user_id);
  assert.equal(info.sub, cfg.user.user_id);
  assert.ok(tokens.refresh_token, 'offline_access was granted but no refresh token came');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.access_token);

  const auth = { authorization: `Bearer ${md.registration_access_token}` };
  const read = await fetch(md.registration_client_uri, { headers: auth });
  assert.equal(read.status, 200);
  assert.equal((await read.json()).client_name, 'openid-client DCR');
  const del = await fetch(md.registration_client_uri, { method: 'DELETE', headers: auth });
  assert.equal(del.status, 204);
  const gone = await fetch(md.registration_client_uri, { headers: auth });
  assert.equal(gone.status, 401);
  // The deleted client's refresh token dies with it: 401 invalid_client (with a Basic challenge).
  const e = await client.refreshTokenGrant(config, refreshed.refresh_token).then(
    () => assert.fail('a deleted client refreshed'),
    (err) => err,
  );
  assert.equal(e.status, 401, `${e?.name}: ${e?.message}`);
  assert.equal((await e.response.json()).error, 'invalid_client');
});

// ------------------------------------------------------------------------ pushed authorization requests

test('buildAuthorizationUrlWithPAR for a client that requires PAR: push, login, code, single use', async () => {
  const par = cfg.clients.par;
  const f = recordingFetch();
  const config = await discover('par', client.ClientSecretBasic(par.client_secret), { [client.customFetch]: f });
  const parEndpoint = config.serverMetadata().pushed_authorization_request_endpoint;
  assert.equal(parEndpoint, `${cfg.issuer}/par`);
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const params = {
    redirect_uri: cfg.redirect_uri,
    scope: 'openid profile read:x',
    audience: cfg.api,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  };
  // The client is registered with --require-par: the same request on the front channel is refused.
  const plain = await fetch(client.buildAuthorizationUrl(config, params), { redirect: 'manual' });
  assert.equal(plain.status, 303);
  assert.equal(new URL(plain.headers.get('location')).searchParams.get('error'), 'invalid_request');

  const authUrl = await client.buildAuthorizationUrlWithPAR(config, params);
  assert.deepEqual([...authUrl.searchParams.keys()].sort(), ['client_id', 'request_uri']);
  assert.match(authUrl.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/);
  assert.match(f.lastTo(parEndpoint).headers.get('authorization') ?? '', /^Basic /);

  const { callback } = await driveLogin(authUrl, { consent: false });
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  assert.equal(tokens.claims().sub, cfg.user.user_id);
  await verifyAccessToken(tokens.access_token, {
    audience: cfg.api,
    clientId: par.client_id,
    sub: cfg.user.user_id,
    scope: 'openid profile read:x',
  });
  const again = await fetch(authUrl, { redirect: 'manual' });
  assert.equal(again.status, 400, 'a request_uri is used once');
});

test('oauth4webapi pushedAuthorizationRequest for a public client, then the code flow', async () => {
  const spa = cfg.clients.spa;
  const opts = { [oauth.allowInsecureRequests]: true };
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, opts));
  const c = { client_id: spa.client_id };
  const auth = oauth.None();
  const verifier = oauth.generateRandomCodeVerifier();
  const nonce = oauth.generateRandomNonce();
  const pushed = await oauth.pushedAuthorizationRequest(
    as,
    c,
    auth,
    new URLSearchParams({
      response_type: 'code',
      redirect_uri: cfg.redirect_uri,
      scope: USER_SCOPE,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
    }),
    opts,
  );
  const { request_uri, expires_in } = await oauth.processPushedAuthorizationResponse(as, c, pushed);
  assert.ok(expires_in > 0 && expires_in <= 600, `expires_in ${expires_in}`);
  const authUrl = new URL(as.authorization_endpoint);
  authUrl.searchParams.set('client_id', c.client_id);
  authUrl.searchParams.set('request_uri', request_uri);

  const { callback } = await driveLogin(authUrl, { consent: false });
  const answer = oauth.validateAuthResponse(as, c, callback, oauth.expectNoState);
  const res = await oauth.authorizationCodeGrantRequest(as, c, auth, answer, cfg.redirect_uri, verifier, opts);
  const tokens = await oauth.processAuthorizationCodeResponse(as, c, res, { expectedNonce: nonce, requireIdToken: true });
  assert.equal(oauth.getValidatedIdTokenClaims(tokens).sub, cfg.user.user_id);
  await verifyAccessToken(tokens.access_token, { audience: cfg.api, clientId: spa.client_id, sub: cfg.user.user_id });

  // RFC 9126 §2.3: errors at the PAR endpoint are JSON, and oauth4webapi reads them as such.
  const bad = await oauth.pushedAuthorizationRequest(
    as,
    c,
    auth,
    new URLSearchParams({ response_type: 'code', redirect_uri: cfg.redirect_uri, scope: 'read:x' }),
    opts,
  );
  await assert.rejects(oauth.processPushedAuthorizationResponse(as, c, bad), (e) => {
    assert.ok(e instanceof oauth.ResponseBodyError, `${e?.name}: ${e?.message}`);
    assert.equal(e.error, 'invalid_request', 'a public client without PKCE');
    return true;
  });
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
