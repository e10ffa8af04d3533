"""Fixtures and helpers for the Python interop suite.

tests/interop/run.sh starts oauthd, provisions it through the CLI and writes a JSON file whose
path is in OAUTHD_INTEROP_CONFIG: issuer, API identifiers, client ids/secrets, the test user.
"""

import json
import os
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import jwt
import pytest
import requests


def _load_config():
    path = os.environ.get("OAUTHD_INTEROP_CONFIG")
    if not path:
        raise RuntimeError("OAUTHD_INTEROP_CONFIG is not set: run tests/interop/run.sh")
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def cfg():
    return _load_config()


@pytest.fixture(scope="session")
def discovery(cfg):
    r = requests.get(cfg["issuer"] + "/.well-known/openid-configuration", timeout=10)
    r.raise_for_status()
    return r.json()


@pytest.fixture(scope="session")
def jwks_client(discovery):
    return jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=True)


@pytest.fixture
def capture():
    """Collects the requests a requests.Session sent, via a response hook."""

    class Capture:
        def __init__(self):
            self.sent = []

        def attach(self, session):
            session.hooks["response"].append(self._hook)
            return session

        def _hook(self, response, *args, **kwargs):
            self.sent.append(response.request)

        def last_to(self, url):
            for req in reversed(self.sent):
                if req.url == url:
                    return req
            raise AssertionError(f"no request was sent to {url}")

    return Capture()


class FormParser(HTMLParser):
    """The first <form> of a page: its action, and its named inputs and buttons."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.inputs = {}
        self.buttons = []
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag, attrs):
        if self._done:
            return
        a = dict(attrs)
        if tag == "form":
            self._in_form = True
            self.action = a.get("action")
        elif self._in_form and tag == "input" and a.get("name"):
            self.inputs[a["name"]] = a.get("value") or ""
        elif self._in_form and tag == "button" and a.get("name"):
            self.buttons.append((a["name"], a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


def parse_form(html):
    p = FormParser()
    p.feed(html)
    assert p.action, "the page has no form:\n" + html[:2000]
    return p


def drive_login(issuer, authorization_url, redirect_uri, username, password, consent=True):
    """Acts as the user's browser: shows the login form, signs in, allows consent if asked,
    and returns the Location that sends the browser back to `redirect_uri` (not followed).

    Returns (location, trail) where trail lists (method, url, status) for diagnostics.
    """
    browser = requests.Session()
    trail = []

    def step(method, url, **kw):
        r = browser.request(method, url, allow_redirects=False, timeout=10, **kw)
        trail.append((method, url.split("?")[0], r.status_code))
        return r

    r = step("GET", authorization_url)
    for _ in range(10):
        if r.status_code in (301, 302, 303, 307, 308):
            location = r.headers["Location"]
            target = urljoin(r.url, location)
            if target.startswith(redirect_uri):
                return location, trail
            assert urlsplit(target).netloc == urlsplit(issuer).netloc, f"redirect off the server: {target}"
            r = step("GET", target)
            continue
        assert r.status_code == 200, f"unexpected {r.status_code} from {r.url}: {r.text[:1000]}"
        form = parse_form(r.text)
        fields = dict(form.inputs)
        action = urljoin(r.url, form.action)
        if "password" in fields:
            assert "csrf" in fields, "the login form has no csrf field"
            assert browser.cookies.get("oauthd_csrf"), "no oauthd_csrf cookie was set with the login form"
            fields["username"] = username
            fields["password"] = password
        elif ("decision", "allow") in form.buttons:
            assert consent, "a consent page was shown to a first-party client"
            fields["decision"] = "allow"
        else:
            raise AssertionError("unexpected form page:\n" + r.text[:2000])
        r = step("POST", action, data=fields)
    raise AssertionError(f"too many steps: {trail}")
