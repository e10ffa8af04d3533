// The user's browser, played with fetch: the login and consent forms of oauthd's front channel.
// Shared by the Node interop suites.

import assert from 'node:assert/strict';

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
export async function driveLogin(cfg, authorizationUrl, { consent }) {
  const issuer = new URL(cfg.issuer);
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
