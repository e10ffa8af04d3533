// A tiny static server for the e2e SPA (node:http, no dependencies).
//
//   GET /             spa/index.html
//   GET /callback     spa/index.html (the redirect URI)
//   GET /config.json  { issuer, client_id, audience, scope }
//
// As a module: `const spa = await startSpaServer({ config }); spa.origin; await spa.close();`
// By hand:     node tests/e2e/serve-spa.mjs --port 8976 --issuer http://127.0.0.1:8080 \
//                --client-id ID --audience https://api.e2e [--scope "openid …"]
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const INDEX_HTML = path.join(HERE, 'spa', 'index.html');

/**
 * Starts the server on 127.0.0.1. `config` may be an object or a function returning one (so the
 * client id can be filled in after the server, and thus its origin, is known).
 * Resolves to { origin, port, server, requests, close }.
 */
export async function startSpaServer({ config = {}, port = 0, host = '127.0.0.1' } = {}) {
  const html = readFileSync(INDEX_HTML);
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${host}`);
    requests.push(`${req.method} ${req.url}`);
    const common = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...common, allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/' || url.pathname === '/index.html' || url.pathname === '/callback') {
      res.writeHead(200, { ...common, 'content-type': 'text/html; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : html);
    } else if (url.pathname === '/config.json') {
      const body = JSON.stringify(typeof config === 'function' ? config() : config);
      res.writeHead(200, { ...common, 'content-type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204, common).end();
    } else {
      res.writeHead(404, { ...common, 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = server.address().port;
  return {
    origin: `http://${host}:${actual}`,
    port: actual,
    server,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
  };
  const config = {
    issuer: opt('issuer', 'http://127.0.0.1:8080'),
    client_id: opt('client-id', ''),
    audience: opt('audience', 'https://api.e2e'),
    scope: opt('scope', 'openid profile email offline_access read:x'),
  };
  const spa = await startSpaServer({ config, port: Number(opt('port', '0')) });
  console.log(`SPA on ${spa.origin} (redirect URI ${spa.origin}/callback), config ${JSON.stringify(config)}`);
}
