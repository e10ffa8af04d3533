// oauthd protecting an MCP server, both sides built with the official TypeScript SDK
// (@modelcontextprotocol/sdk). The MCP server publishes RFC 9728 metadata naming oauthd and checks
// bearer tokens against oauthd's JWKS (iss, aud = its own URL, typ at+jwt, scope). The SDK's OAuth
// client connects through oauthd's login page, played headlessly: discovery, client registration
// (a Client ID Metadata Document served here over https, or RFC 7591 registration), code + PKCE
// with `resource`, a tool call, and a refresh.
//
// tests/interop/run.sh (run_mcp) starts oauthd on default settings plus the test-only
// allow_loopback_fetch and fetch_ca_file, registers the MCP server's URL as an API, and passes a
// JSON file in OAUTHD_MCP_CONFIG: issuer, user, mcp_url, doc_url, redirect_uri, tls {cert, key}.
// OAUTHD_MCP_MODE is `cimd` (default) or `dcr`; NODE_EXTRA_CA_CERTS trusts the test certificate.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';

import * as jose from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { driveLogin } from './headless_login.mjs';

const configPath = process.env.OAUTHD_MCP_CONFIG;
if (!configPath) throw new Error('OAUTHD_MCP_CONFIG is not set: run tests/interop/run.sh');
const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
const MODE = process.env.OAUTHD_MCP_MODE ?? 'cimd';
const tls = { cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key) };
const mcpUrl = new URL(cfg.mcp_url);
const prmPath = `/.well-known/oauth-protected-resource${mcpUrl.pathname}`;
const SCOPES = ['mcp:tools', 'offline_access'];

// ------------------------------------------------------------------ the client's metadata document

const clientDocument = {
  client_id: cfg.doc_url,
  client_name: 'MCP SDK interop client',
  redirect_uris: [cfg.redirect_uri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};
let documentFetches = 0;
const docServer = https.createServer(tls, (req, res) => {
  if (req.url !== new URL(cfg.doc_url).pathname) return res.writeHead(404).end();
  documentFetches++;
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
  res.end(JSON.stringify(clientDocument));
});

// ------------------------------------------------------------------ the MCP server

const jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', cfg.issuer));

/** The verified claims of the request's bearer token, or null. */
async function bearer(req) {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) return null;
  try {
    const { payload } = await jose.jwtVerify(m[1], jwks, { issuer: cfg.issuer, audience: cfg.mcp_url, typ: 'at+jwt' });
    const scopes = String(payload.scope ?? '').split(' ');
    return scopes.includes('mcp:tools') ? { token: m[1], payload, scopes } : null;
  } catch {
    return null;
  }
}

const seenTokens = [];
function mcpServer() {
  const server = new McpServer({ name: 'oauthd-interop-mcp', version: '1.0.0' });
  // A tool without an input schema gets only the request context.
  server.registerTool('whoami', { description: 'Who the bearer token names' }, async (extra) => ({
    content: [{ type: 'text', text: JSON.stringify(extra.authInfo?.extra ?? {}) }],
  }));
  return server;
}

const resourceServer = https.createServer(tls, async (req, res) => {
  const path = req.url.split('?')[0];
  if (path === prmPath || path === '/.well-known/oauth-protected-resource') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(
      JSON.stringify({
        resource: cfg.mcp_url,
        authorization_servers: [cfg.issuer],
        scopes_supported: SCOPES,
        bearer_methods_supported: ['header'],
      }),
    );
  }
  if (path !== mcpUrl.pathname) return res.writeHead(404).end();
  const ok = await bearer(req);
  if (!ok) {
    const metadata = new URL(prmPath, mcpUrl).href;
    res.writeHead(401, { 'www-authenticate': `Bearer error="invalid_token", resource_metadata="${metadata}"` });
    return res.end();
  }
  seenTokens.push(ok.token);
  req.auth = { token: ok.token, clientId: ok.payload.client_id, scopes: ok.scopes, extra: { sub: ok.payload.sub, client_id: ok.payload.client_id, aud: ok.payload.aud } };
  const server = mcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => {
    transport.close();
    server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
});

const listen = (s, port) => new Promise((resolve) => s.listen(port, '127.0.0.1', resolve));
await listen(docServer, Number(new URL(cfg.doc_url).port));
await listen(resourceServer, Number(mcpUrl.port));
after(() => {
  docServer.close();
  resourceServer.close();
});

// ------------------------------------------------------------------ the SDK's OAuth client

/** An OAuthClientProvider that keeps everything in memory and logs in headlessly. */
class HeadlessProvider {
  constructor() {
    this.saved = {};
    this.pages = [];
    this.authorizationUrl = null;
    this.code = null;
  }
  get redirectUrl() {
    return cfg.redirect_uri;
  }
  get clientMetadataUrl() {
    return MODE === 'cimd' ? cfg.doc_url : undefined;
  }
  get clientMetadata() {
    const { client_id: _, ...metadata } = clientDocument;
    return { ...metadata, application_type: 'native' };
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(info) {
    this.saved.client = info;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
  }
  saveCodeVerifier(v) {
    this.saved.verifier = v;
  }
  codeVerifier() {
    return this.saved.verifier;
  }
  async redirectToAuthorization(url) {
    this.authorizationUrl = url;
    const { callback, pages } = await driveLogin(url, {
      redirectUri: cfg.redirect_uri,
      username: cfg.user.username,
      password: cfg.user.password,
    });
    this.pages.push(...pages);
    assert.equal(callback.searchParams.get('iss'), cfg.issuer, 'RFC 9207 iss in the authorization response');
    this.code = callback.searchParams.get('code');
    assert.ok(this.code, `no code in ${callback}: ${callback.searchParams.get('error_description')}`);
  }
}

async function connect(provider) {
  const client = new Client({ name: 'oauthd-interop-client', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  return client;
}

async function whoami(client) {
  const r = await client.callTool({ name: 'whoami', arguments: {} });
  return JSON.parse(r.content[0].text);
}

test(`the MCP SDK client connects through oauthd (${MODE}), calls a tool and refreshes`, async () => {
  const provider = new HeadlessProvider();
  // First attempt: 401 → RFC 9728 → oauthd's metadata → registration → the login page.
  await assert.rejects(connect(provider), UnauthorizedError);
  assert.ok(provider.code, 'the SDK sent the user to oauthd and a code came back');
  const authz = provider.authorizationUrl.searchParams;
  assert.equal(authz.get('resource'), cfg.mcp_url, 'RFC 8707 resource names the MCP server');
  assert.equal(authz.get('code_challenge_method'), 'S256');
  if (MODE === 'cimd') {
    assert.equal(provider.saved.client.client_id, cfg.doc_url, 'the client_id is the document URL');
    assert.ok(documentFetches >= 1, 'oauthd fetched the metadata document');
    const consent = provider.pages.find((p) => p.includes('name="decision"'));
    assert.ok(consent?.includes('127.0.0.1'), 'the consent page names the document host');
  } else {
    assert.notEqual(provider.saved.client.client_id, cfg.doc_url);
    assert.equal(documentFetches, 0);
  }

  // The code exchange (with PKCE and resource), then a tool call with the token.
  assert.equal(await auth(provider, { serverUrl: mcpUrl, authorizationCode: provider.code }), 'AUTHORIZED');
  const first = provider.saved.tokens;
  assert.ok(first.access_token && first.refresh_token, 'an access and a refresh token');
  const client = await connect(provider);
  const me = await whoami(client);
  assert.equal(me.client_id, provider.saved.client.client_id);
  assert.equal(me.aud, cfg.mcp_url);
  assert.ok(me.sub, 'the token names the user');
  await client.close();

  // A refresh through the SDK (auth() with a refresh token refreshes), and the new token works.
  assert.equal(await auth(provider, { serverUrl: mcpUrl }), 'AUTHORIZED');
  assert.notEqual(provider.saved.tokens.access_token, first.access_token);
  const again = await connect(provider);
  assert.equal((await whoami(again)).sub, me.sub);
  await again.close();
  assert.ok(seenTokens.includes(provider.saved.tokens.access_token));
});
