// The user's browser, played with fetch (redirect: 'manual') and a cookie jar: it signs in on
// oauthd's login page, allows the consent page if one is shown, and returns the URL that sends
// the browser back to the client. Plain form posts, as a user would send them.

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
 * Drives `authorizationUrl` to the client's `redirectUri`. Returns the callback URL and the pages
 * seen (their HTML), so that a test can check what the user was shown.
 */
export async function driveLogin(authorizationUrl, { redirectUri, username, password }) {
  const jar = new Map();
  const pages = [];
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
      if (rest.some((p) => /^\s*max-age\s*=\s*0\s*$/i.test(p))) jar.delete(name);
      else jar.set(name, value);
    }
    return r;
  };
  const start = new URL(authorizationUrl);
  let url = start;
  let r = await step('GET', url);
  for (let i = 0; i < 10; i++) {
    if ([301, 302, 303, 307, 308].includes(r.status)) {
      const target = new URL(r.headers.get('location'), url);
      if (target.href.startsWith(redirectUri)) return { callback: target, pages };
      assert.equal(target.host, start.host, `redirect off the server: ${target}`);
      url = target;
      r = await step('GET', url);
      continue;
    }
    const html = await r.text();
    assert.equal(r.status, 200, `unexpected ${r.status} from ${url}: ${html.slice(0, 1000)}`);
    pages.push(html);
    const form = parseForm(html);
    const fields = { ...form.inputs };
    if ('password' in fields) {
      Object.assign(fields, { username, password });
    } else if (form.buttons.some(([n, v]) => n === 'decision' && v === 'allow')) {
      fields.decision = 'allow';
    } else {
      assert.fail(`unexpected form page:\n${html.slice(0, 2000)}`);
    }
    url = new URL(form.action, url);
    r = await step('POST', url, fields);
  }
  assert.fail('too many steps through the login pages');
}
