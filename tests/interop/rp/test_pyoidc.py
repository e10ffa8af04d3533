"""pyoidc (PyPI `oic`) as a relying party against oauthd on default settings.

An identity-only code login (confidential client, client_secret_basic, no PKCE, no audience)
with pyoidc's own discovery, ID token and userinfo handling (its default userinfo request sends
the token in a POST form body, RFC 6750 §2.2), then RP-initiated logout and a back-channel logout
token received on a local listener and verified with pyoidc's BackChannelLogoutRequest.
"""

import json
import os
import queue
import re
import threading
from html import unescape
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from oic import rndstr
from oic.oic import Client
from oic.oic.message import AuthorizationResponse, BackChannelLogoutRequest, OpenIDSchema, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

CFG = json.load(open(os.environ["OAUTHD_RP_CONFIG"]))
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture(scope="module")
def rp():
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(CFG["issuer"])
    c = CFG["clients"]["pyoidc"]
    client.store_registration_info(RegistrationResponse(
        client_id=c["client_id"], client_secret=c["client_secret"], redirect_uris=[c["redirect_uri"]],
        token_endpoint_auth_method="client_secret_basic"))
    return client


@pytest.fixture(scope="module")
def browser():
    return requests.Session()


def follow_login(browser, url):
    """Follows an authorization request through the login form to the redirect URI."""
    redirect = CFG["clients"]["pyoidc"]["redirect_uri"]
    for _ in range(5):
        if url.startswith(redirect):
            return url
        r = browser.get(url if url.startswith("http") else CFG["issuer"] + url, allow_redirects=False)
        if r.status_code == 303:
            url = r.headers["location"]
        elif r.status_code == 200 and 'name="password"' in r.text:
            form = {unescape(k): unescape(v) for k, v in HIDDEN.findall(r.text)}
            form.update(username=CFG["user"]["username"], password=CFG["user"]["password"])
            r = browser.post(CFG["issuer"] + "/login", data=form, allow_redirects=False)
            assert r.status_code == 303, r.text
            url = r.headers["location"]
        else:
            raise AssertionError(f"unexpected {r.status_code} at {url}: {r.text[:300]}")
    raise AssertionError("too many redirects")


@pytest.fixture(scope="module")
def login(rp, browser):
    state, nonce = rndstr(), rndstr()
    args = {"response_type": "code", "scope": ["openid", "profile", "email", "address", "phone"], "state": state,
            "nonce": nonce, "redirect_uri": CFG["clients"]["pyoidc"]["redirect_uri"]}
    url = rp.construct_AuthorizationRequest(request_args=args).request(rp.authorization_endpoint)
    callback = follow_login(browser, url)
    aresp = rp.parse_response(AuthorizationResponse, info=urlparse(callback).query, sformat="urlencoded")
    assert aresp["state"] == state
    tresp = rp.do_access_token_request(state=state, request_args={"code": aresp["code"]},
                                       authn_method="client_secret_basic")
    return state, nonce, tresp


def test_discovery_names_this_issuer(rp):
    assert rp.provider_info["issuer"] == CFG["issuer"]
    assert "form_post" in rp.provider_info["response_modes_supported"]
    assert rp.provider_info["backchannel_logout_supported"] is True


def test_identity_only_login_gets_an_id_token_pyoidc_verified(login):
    _, nonce, tresp = login
    assert "error" not in tresp, tresp.to_dict()
    idt = tresp["id_token"]  # pyoidc verified signature, iss, aud, exp, iat and at_hash already
    assert idt["nonce"] == nonce
    assert idt["sub"] == CFG["user"]["user_id"]
    assert idt["acr"] and idt["amr"] == ["pwd"] and idt["sid"]
    assert set(tresp["scope"]) == {"openid", "profile", "email", "address", "phone"}


def test_userinfo_by_pyoidc_default_post_body(rp, login):
    state, _, tresp = login
    info = rp.do_user_info_request(state=state)  # POST, token in the form body
    assert isinstance(info, OpenIDSchema), info.to_dict()
    assert info["sub"] == tresp["id_token"]["sub"]
    for k, v in CFG["user"]["claims"].items():
        got = info[k]
        assert (got.to_dict() if hasattr(got, "to_dict") else got) == v, k  # address is an AddressClaim
    assert info["email"] == CFG["user"]["email"]


def test_userinfo_with_the_authorization_header(rp, login):
    state, _, _ = login
    info = rp.do_user_info_request(state=state, method="GET")
    assert isinstance(info, OpenIDSchema), info.to_dict()
    assert info["given_name"] == CFG["user"]["claims"]["given_name"]


def test_backchannel_logout_token_is_verified_by_pyoidc(rp, browser, login):
    _, _, tresp = login
    got = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"])).decode()
            got.put((self.headers["content-type"], body))
            self.send_response(200)
            self.send_header("cache-control", "no-store")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", CFG["clients"]["pyoidc"]["backchannel_port"]), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = browser.get(CFG["issuer"] + "/logout", allow_redirects=False)
        assert r.status_code == 200
        content_type, body = got.get(timeout=15)
    finally:
        server.shutdown()
    assert content_type.startswith("application/x-www-form-urlencoded")
    req = BackChannelLogoutRequest().from_urlencoded(body)
    req.verify(aud=rp.client_id, iss=rp.provider_info["issuer"], keyjar=rp.keyjar)
    lt = req["logout_token"]
    assert lt["sid"] == tresp["id_token"]["sid"] and lt["sub"] == tresp["id_token"]["sub"]


def test_prompt_none_after_logout_is_login_required(rp, browser):
    state = rndstr()
    args = {"response_type": "code", "scope": ["openid"], "state": state, "nonce": rndstr(), "prompt": "none",
            "redirect_uri": CFG["clients"]["pyoidc"]["redirect_uri"]}
    url = rp.construct_AuthorizationRequest(request_args=args).request(rp.authorization_endpoint)
    callback = follow_login(browser, url)
    assert parse_qs(urlparse(callback).query)["error"] == ["login_required"]
