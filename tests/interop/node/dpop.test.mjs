// DPoP (RFC 9449) against real Node client libraries: openid-client v6 (client_credentials,
// the code flow with dpop_jkt, userinfo and a bound refresh) and oauth4webapi
// (client_credentials with the server-nonce dance done by hand). The cnf.jkt of every token is
// checked against jose's own RFC 7638 thumbprint of the key.
//
// tests/interop/run.sh provisions oauthd and passes a JSON file in OAUTHD_INTEROP_CONFIG; the
// `dpop_m2m` client is created with --dpop-bound-access-tokens --require-dpop-nonce.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';

import { driveLogin } from './login.mjs';

const cfg = JSON.parse(readFileSync(process.env.OAUTHD_INTEROP_CONFIG, 'utf8'));
const issuer = new URL(cfg.issuer);
const insecure = { execute: [client.allowInsecureRequests] };

async function jkt(keyPair) {
  return jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey), 'sha256');
}

async function cnfOf(token) {
  const doc = await (await fetch(new URL('/.well-known/openid-configuration', issuer))).json();
  const { payload } = await jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(doc.jwks_uri)), {
    issuer: cfg.issuer,
    typ: 'at+jwt',
  });
  return payload.cnf;
}

test('discovery lists dpop_signing_alg_values_supported', async () => {
  const config = await client.discovery(issuer, cfg.clients.m2m.client_id, cfg.clients.m2m.client_secret, undefined, insecure);
  const algs = config.serverMetadata().dpop_signing_alg_values_supported;
  assert.ok(algs.includes('ES256') && !algs.includes('HS256') && !algs.includes('none'), String(algs));
});

test('openid-client: clientCredentialsGrant with DPoP, nonces required (retried by the library)', async () => {
  const c = cfg.clients.dpop_m2m;
  const config = await client.discovery(issuer, c.client_id, undefined, client.ClientSecretBasic(c.client_secret), insecure);
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(config, keyPair);
  const tokens = await client.clientCredentialsGrant(config, { scope: 'read:x' }, { DPoP });
  assert.equal(tokens.token_type, 'dpop');
  assert.deepEqual(await cnfOf(tokens.access_token), { jkt: await jkt(keyPair) });
  // Without a proof this client is refused: its tokens are always bound.
  await assert.rejects(client.clientCredentialsGrant(config, { scope: 'read:x' }), (e) => e.error === 'invalid_request');
});

test('openid-client: code flow with dpop_jkt, DPoP userinfo and a bound refresh for a public client', async () => {
  const spa = cfg.clients.spa;
  const config = await client.discovery(issuer, spa.client_id, undefined, client.None(), insecure);
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(config, keyPair);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: cfg.redirect_uri,
    scope: 'openid profile email offline_access read:x',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    dpop_jkt: await DPoP.calculateThumbprint(),
  });
  const { callback } = await driveLogin(cfg, url, { consent: false });
  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
  assert.equal(tokens.token_type, 'dpop');
  assert.deepEqual(await cnfOf(tokens.access_token), { jkt: await jkt(keyPair) });

  const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub, { DPoP });
  assert.equal(info.preferred_username, cfg.user.username);
  // The same token as a bearer token is refused with a DPoP challenge.
  await assert.rejects(client.fetchUserInfo(config, tokens.access_token, client.skipSubjectCheck), (e) => e.status === 401);

  // The refresh token is bound to the key: another key is refused, the right one works.
  const other = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: other }), (e) => e.error === 'invalid_grant');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  assert.equal(refreshed.token_type, 'dpop');
  assert.deepEqual(await cnfOf(refreshed.access_token), { jkt: await jkt(keyPair) });
});

test('oauth4webapi: client_credentials with DPoP and the use_dpop_nonce retry', async () => {
  const c = cfg.clients.dpop_m2m;
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
  const oclient = { client_id: c.client_id };
  const auth = oauth.ClientSecretBasic(c.client_secret);
  const keyPair = await oauth.generateKeyPair('ES256');
  const DPoP = oauth.DPoP(oclient, keyPair);
  const request = () =>
    oauth.clientCredentialsGrantRequest(as, oclient, auth, { scope: 'read:x' }, { DPoP, [oauth.allowInsecureRequests]: true });
  let result;
  let nonceErrors = 0;
  for (let attempt = 0; attempt < 2 && !result; attempt++) {
    try {
      result = await oauth.processClientCredentialsResponse(as, oclient, await request());
    } catch (err) {
      if (!oauth.isDPoPNonceError(err)) throw err;
      nonceErrors++;
    }
  }
  assert.equal(nonceErrors, 1, 'the first request had no nonce and was answered use_dpop_nonce');
  assert.ok(result, 'the retry with the nonce succeeded');
  assert.equal(result.token_type, 'dpop');
  assert.deepEqual(await cnfOf(result.access_token), { jkt: await jkt(keyPair) });
});
