"""oauthd against real Python client libraries: Authlib (OAuth2Session over requests) for the
grants, PyJWT (PyJWKClient) for token verification, and Authlib's OIDC / RFC 9068 / RFC 8414
validators as a relying party and a resource server would use them.

No workarounds: when a library rejects something oauthd sends, the test fails with the
library's own error.
"""

import base64
import hashlib
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata

from conftest import drive_login

USER_SCOPE = "openid profile email offline_access read:x"


# ----------------------------------------------------------------------------- verification


def expect_alg(cfg, header):
    """run.sh runs the suite once per signing algorithm; make sure that is the one in use."""
    if cfg.get("signing_alg"):
        assert header["alg"] == cfg["signing_alg"], f"signed with {header['alg']}, expected {cfg['signing_alg']}"


def verify_access_token(jwks_client, cfg, token, audience, *, client_id, sub=None, scope=None):
    """RFC 9068 §4 checks with PyJWT: signature from the JWKS, iss, aud, exp, typ at+jwt."""
    header = jwt.get_unverified_header(token)
    assert header.get("typ") == "at+jwt", f"access token header typ is {header.get('typ')!r}"
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    alg = signing_key.algorithm_name
    assert header["alg"] == alg, f"header alg {header['alg']} but the JWKS key is for {alg}"
    expect_alg(cfg, header)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=[alg],
        audience=audience,
        issuer=cfg["issuer"],
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]},
    )
    now = time.time()
    assert claims["exp"] > now
    assert claims["iat"] <= now + 60
    if client_id is not None:
        assert claims["client_id"] == client_id
    if sub is not None:
        assert claims["sub"] == sub
    if scope is not None:
        assert set(claims.get("scope", "").split()) == set(scope.split()), claims.get("scope")
    return claims


def verify_id_token(jwks_client, cfg, id_token, *, client_id, sub, nonce=None, access_token=None):
    """OIDC Core §3.1.3.7 with PyJWT: signature from the JWKS, iss, aud = client_id, exp, nonce."""
    header = jwt.get_unverified_header(id_token)
    signing_key = jwks_client.get_signing_key_from_jwt(id_token)
    alg = signing_key.algorithm_name
    assert header["alg"] == alg, f"header alg {header['alg']} but the JWKS key is for {alg}"
    assert header["alg"] == "RS256", "ID tokens are signed RS256, the OIDC default, whatever the access-token alg"
    claims = jwt.decode(
        id_token,
        signing_key.key,
        algorithms=[alg],
        audience=client_id,
        issuer=cfg["issuer"],
        options={"require": ["iss", "sub", "aud", "exp", "iat"]},
    )
    assert claims["sub"] == sub
    if nonce is not None:
        assert claims.get("nonce") == nonce
    if access_token is not None:
        assert "at_hash" in claims
    return claims


def authlib_id_token_check(cfg, id_token, *, client_id, nonce=None, access_token=None):
    """Authlib's OIDC ID token claim rules (CodeIDToken: iss, aud, exp, iat, nonce, azp, at_hash),
    on claims whose signature PyJWT has already checked."""
    header = jwt.get_unverified_header(id_token)
    claims = jwt.decode(id_token, options={"verify_signature": False})
    CodeIDToken(
        claims,
        header,
        options={"iss": {"essential": True, "value": cfg["issuer"]}, "aud": {"essential": True, "value": client_id}},
        params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    ).validate()


class ResourceServer(JWTBearerTokenValidator):
    """Authlib's RFC 9068 resource-server validator, with the JWKS fetched from discovery."""

    def __init__(self, discovery, audience):
        super().__init__(issuer=discovery["issuer"], resource_server=audience)
        self._jwks = requests.get(discovery["jwks_uri"], timeout=10).json()

    def get_jwks(self):
        return self._jwks

    def check(self, token, scopes=None):
        claims = self.authenticate_token(token)
        self.validate_token(claims, scopes, request=None)
        return claims


def session_for(cfg, which, **kw):
    c = cfg["clients"][which]
    return OAuth2Session(c["client_id"], c["client_secret"], **kw)


def new_code_verifier():
    return secrets.token_urlsafe(48)  # 64 characters of the RFC 7636 alphabet


# ----------------------------------------------------------------------------- discovery


def test_discovery_validates_as_rfc8414_metadata(cfg, discovery):
    assert discovery["issuer"] == cfg["issuer"]
    AuthorizationServerMetadata(discovery).validate()
    for grant in ("client_credentials", "password", "refresh_token", "authorization_code"):
        assert grant in discovery["grant_types_supported"]
    assert "S256" in discovery["code_challenge_methods_supported"]


def test_discovery_validates_as_oidc_provider_metadata(cfg, discovery):
    OpenIDProviderMetadata(discovery).validate()


# ----------------------------------------------------------------------------- client credentials


def test_client_credentials_client_secret_basic(cfg, discovery, jwks_client, capture):
    m2m = cfg["clients"]["m2m"]
    s = capture.attach(session_for(cfg, "m2m", token_endpoint_auth_method="client_secret_basic", scope="read:x"))
    token = s.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")

    sent = capture.last_to(discovery["token_endpoint"])
    assert sent.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in parse_qs(sent.body)

    assert token["token_type"].lower() == "bearer"
    assert token["expires_in"] > 0
    assert "refresh_token" not in token and "id_token" not in token
    claims = verify_access_token(
        jwks_client, cfg, token["access_token"], cfg["api"], client_id=m2m["client_id"], scope="read:x"
    )
    assert claims["sub"], "a client_credentials token still needs a sub (RFC 9068 §2.2)"


def test_client_credentials_client_secret_post(cfg, discovery, jwks_client, capture):
    m2m = cfg["clients"]["m2m"]
    s = capture.attach(session_for(cfg, "m2m", token_endpoint_auth_method="client_secret_post"))
    token = s.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")

    sent = capture.last_to(discovery["token_endpoint"])
    assert "Authorization" not in sent.headers
    body = parse_qs(sent.body)
    assert body["client_id"] == [m2m["client_id"]] and body["client_secret"] == [m2m["client_secret"]]

    # No scope asked: everything the client was granted on the default audience.
    verify_access_token(
        jwks_client, cfg, token["access_token"], cfg["api"], client_id=m2m["client_id"], scope="read:x write:x"
    )


def test_client_credentials_explicit_audience(cfg, discovery, jwks_client, capture):
    m2m = cfg["clients"]["m2m"]
    s = capture.attach(session_for(cfg, "m2m", scope="read:y"))
    token = s.fetch_token(discovery["token_endpoint"], grant_type="client_credentials", audience=cfg["api2"])

    assert parse_qs(capture.last_to(discovery["token_endpoint"]).body)["audience"] == [cfg["api2"]]
    verify_access_token(jwks_client, cfg, token["access_token"], cfg["api2"], client_id=m2m["client_id"], scope="read:y")
    with pytest.raises(jwt.InvalidAudienceError):
        verify_access_token(jwks_client, cfg, token["access_token"], cfg["api"], client_id=m2m["client_id"])


def test_client_credentials_rfc8707_resource(cfg, discovery, jwks_client):
    m2m = cfg["clients"]["m2m"]
    s = session_for(cfg, "m2m", scope="read:y")
    token = s.fetch_token(discovery["token_endpoint"], grant_type="client_credentials", resource=cfg["api2"])
    verify_access_token(jwks_client, cfg, token["access_token"], cfg["api2"], client_id=m2m["client_id"], scope="read:y")


def test_client_credentials_wrong_secret_is_invalid_client(cfg, discovery):
    from authlib.integrations.base_client.errors import OAuthError

    m2m = cfg["clients"]["m2m"]
    s = OAuth2Session(m2m["client_id"], "not-the-secret", token_endpoint_auth_method="client_secret_basic")
    with pytest.raises(OAuthError) as e:
        s.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert e.value.error == "invalid_client"


def test_authlib_rfc9068_resource_server_accepts_access_tokens(cfg, discovery, jwks_client):
    """Authlib's JWTBearerTokenValidator, as an API built on Authlib would check oauthd's tokens."""
    m2m = cfg["clients"]["m2m"]
    s = session_for(cfg, "m2m", scope="read:x")
    token = s.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    verify_access_token(jwks_client, cfg, token["access_token"], cfg["api"], client_id=m2m["client_id"], scope="read:x")
    claims = ResourceServer(discovery, cfg["api"]).check(token["access_token"], ["read:x"])
    assert claims["client_id"] == m2m["client_id"]

    s = session_for(cfg, "m2m", scope="read:y")
    token = s.fetch_token(discovery["token_endpoint"], grant_type="client_credentials", audience=cfg["api2"])
    verify_access_token(jwks_client, cfg, token["access_token"], cfg["api2"], client_id=m2m["client_id"], scope="read:y")
    ResourceServer(discovery, cfg["api2"]).check(token["access_token"], ["read:y"])


# ----------------------------------------------------------------------------- password + refresh


def test_password_grant_then_refresh(cfg, discovery, jwks_client):
    pw = cfg["clients"]["password"]
    user = cfg["user"]
    s = session_for(cfg, "password", scope="openid offline_access read:x")
    token = s.fetch_token(discovery["token_endpoint"], username=user["username"], password=user["password"])

    assert set(token["scope"].split()) == {"openid", "offline_access", "read:x"}
    verify_access_token(
        jwks_client,
        cfg,
        token["access_token"],
        cfg["api"],
        client_id=pw["client_id"],
        sub=user["user_id"],
        scope="openid offline_access read:x",
    )
    verify_id_token(
        jwks_client,
        cfg,
        token["id_token"],
        client_id=pw["client_id"],
        sub=user["user_id"],
        access_token=token["access_token"],
    )
    first_refresh = token["refresh_token"]
    assert first_refresh

    refreshed = s.refresh_token(discovery["token_endpoint"], refresh_token=first_refresh)
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] and refreshed["refresh_token"] != first_refresh, "refresh token not rotated"
    verify_access_token(
        jwks_client,
        cfg,
        refreshed["access_token"],
        cfg["api"],
        client_id=pw["client_id"],
        sub=user["user_id"],
        scope="openid offline_access read:x",
    )
    if "id_token" in refreshed:
        verify_id_token(
            jwks_client,
            cfg,
            refreshed["id_token"],
            client_id=pw["client_id"],
            sub=user["user_id"],
            access_token=refreshed["access_token"],
        )
    # Authlib keeps the rotated token on the session; a second refresh uses it.
    again = s.refresh_token(discovery["token_endpoint"])
    verify_access_token(jwks_client, cfg, again["access_token"], cfg["api"], client_id=pw["client_id"], sub=user["user_id"])


def test_authlib_validates_id_token_from_password_grant(cfg, discovery, jwks_client):
    pw = cfg["clients"]["password"]
    user = cfg["user"]
    s = session_for(cfg, "password", scope="openid read:x")
    token = s.fetch_token(discovery["token_endpoint"], username=user["username"], password=user["password"])
    verify_id_token(
        jwks_client, cfg, token["id_token"], client_id=pw["client_id"], sub=user["user_id"], access_token=token["access_token"]
    )
    authlib_id_token_check(cfg, token["id_token"], client_id=pw["client_id"], access_token=token["access_token"])
    verify_access_token(jwks_client, cfg, token["access_token"], cfg["api"], client_id=pw["client_id"], sub=user["user_id"])


def test_password_grant_wrong_password_is_invalid_grant(cfg, discovery):
    from authlib.integrations.base_client.errors import OAuthError

    s = session_for(cfg, "password", scope="read:x")
    with pytest.raises(OAuthError) as e:
        s.fetch_token(discovery["token_endpoint"], username=cfg["user"]["username"], password="wrong password")
    assert e.value.error == "invalid_grant"


# ----------------------------------------------------------------------------- authorization code + PKCE


def test_authorization_code_pkce_public_client(cfg, discovery, jwks_client, capture):
    spa = cfg["clients"]["spa"]
    user = cfg["user"]
    s = capture.attach(
        OAuth2Session(
            spa["client_id"],
            scope=USER_SCOPE,
            redirect_uri=cfg["redirect_uri"],
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )
    )
    verifier = new_code_verifier()
    nonce = secrets.token_urlsafe(16)
    url, state = s.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    q = parse_qs(urlsplit(url).query)
    assert q["code_challenge_method"] == ["S256"]
    expected_challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert q["code_challenge"] == [expected_challenge]

    location, trail = drive_login(cfg["issuer"], url, cfg["redirect_uri"], user["username"], user["password"], consent=False)
    back = parse_qs(urlsplit(location).query)
    assert "error" not in back, back
    assert back["state"] == [state]
    assert back["iss"] == [cfg["issuer"]], "RFC 9207 iss missing or wrong"
    assert [t[2] for t in trail] == [200, 303, 303], trail

    token = s.fetch_token(discovery["token_endpoint"], authorization_response=location, code_verifier=verifier)
    sent = parse_qs(capture.last_to(discovery["token_endpoint"]).body)
    assert sent["client_id"] == [spa["client_id"]] and "client_secret" not in sent
    assert sent["code_verifier"] == [verifier]

    verify_access_token(
        jwks_client, cfg, token["access_token"], cfg["api"], client_id=spa["client_id"], sub=user["user_id"], scope=USER_SCOPE
    )
    idc = verify_id_token(
        jwks_client,
        cfg,
        token["id_token"],
        client_id=spa["client_id"],
        sub=user["user_id"],
        nonce=nonce,
        access_token=token["access_token"],
    )
    assert idc["preferred_username"] == user["username"]
    assert idc["email"] == user["email"]

    # The session now carries the token: Authlib sends it to /userinfo as a bearer token.
    info = s.get(discovery["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == user["user_id"]
    assert info.json()["email"] == user["email"]

    refreshed = s.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
    verify_access_token(
        jwks_client, cfg, refreshed["access_token"], cfg["api"], client_id=spa["client_id"], sub=user["user_id"]
    )


def test_authlib_validates_id_token_from_code_flow(cfg, discovery, jwks_client):
    spa = cfg["clients"]["spa"]
    user = cfg["user"]
    s = OAuth2Session(
        spa["client_id"],
        scope="openid profile",
        redirect_uri=cfg["redirect_uri"],
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = new_code_verifier()
    nonce = secrets.token_urlsafe(16)
    url, _ = s.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    location, _ = drive_login(cfg["issuer"], url, cfg["redirect_uri"], user["username"], user["password"], consent=False)
    token = s.fetch_token(discovery["token_endpoint"], authorization_response=location, code_verifier=verifier)
    verify_id_token(
        jwks_client, cfg, token["id_token"], client_id=spa["client_id"], sub=user["user_id"], nonce=nonce,
        access_token=token["access_token"],
    )
    authlib_id_token_check(cfg, token["id_token"], client_id=spa["client_id"], nonce=nonce, access_token=token["access_token"])
    verify_access_token(jwks_client, cfg, token["access_token"], cfg["api"], client_id=spa["client_id"], sub=user["user_id"])


def test_authorization_code_third_party_consent_explicit_audience(cfg, discovery, jwks_client, capture):
    web = cfg["clients"]["web"]
    user = cfg["user"]
    s = capture.attach(
        session_for(
            cfg,
            "web",
            scope="openid read:x",
            redirect_uri=cfg["redirect_uri"],
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )
    )
    verifier = new_code_verifier()
    nonce = secrets.token_urlsafe(16)
    url, state = s.create_authorization_url(
        discovery["authorization_endpoint"],
        code_verifier=verifier,
        nonce=nonce,
        audience=cfg["api"],
        prompt="consent",  # the user may have consented in an earlier run: ask again
    )
    location, trail = drive_login(cfg["issuer"], url, cfg["redirect_uri"], user["username"], user["password"], consent=True)
    assert [t for t in trail if t[0] == "POST" and t[1].endswith("/consent")], f"no consent step: {trail}"

    token = s.fetch_token(discovery["token_endpoint"], authorization_response=location, code_verifier=verifier)
    sent = capture.last_to(discovery["token_endpoint"])
    assert sent.headers["Authorization"].startswith("Basic ")

    verify_access_token(
        jwks_client, cfg, token["access_token"], cfg["api"], client_id=web["client_id"], sub=user["user_id"], scope="openid read:x"
    )
    verify_id_token(
        jwks_client,
        cfg,
        token["id_token"],
        client_id=web["client_id"],
        sub=user["user_id"],
        nonce=nonce,
        access_token=token["access_token"],
    )
    assert "refresh_token" not in token, "no offline_access was asked for"


# ----------------------------------------------------------------------------- introspection, revocation


def test_introspection_and_revocation(cfg, discovery, jwks_client):
    from authlib.integrations.base_client.errors import OAuthError

    pw = cfg["clients"]["password"]
    user = cfg["user"]
    s = session_for(
        cfg,
        "password",
        scope="openid offline_access read:x",
        revocation_endpoint_auth_method="client_secret_basic",
    )
    token = s.fetch_token(discovery["token_endpoint"], username=user["username"], password=user["password"])
    verify_access_token(jwks_client, cfg, token["access_token"], cfg["api"], client_id=pw["client_id"], sub=user["user_id"])

    r = s.introspect_token(discovery["introspection_endpoint"], token=token["access_token"])
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["active"] is True
    assert info.get("sub") == user["user_id"]
    assert info.get("client_id") == pw["client_id"]

    r = s.revoke_token(discovery["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200, r.text
    with pytest.raises(OAuthError) as e:
        s.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
    assert e.value.error == "invalid_grant"

    r = s.introspect_token(discovery["introspection_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200 and r.json() == {"active": False}, r.text


# ----------------------------------------------------------------------------- private_key_jwt, jwt-bearer

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def key_session(cfg, discovery, **kw):
    """OAuth2Session authenticating with Authlib's PrivateKeyJWT (RFC 7523 §2.2)."""
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from joserfc.jwk import RSAKey

    c = cfg["clients"]["key"]
    key = RSAKey.import_key(c["private_jwk"])
    s = OAuth2Session(c["client_id"], key, token_endpoint_auth_method="private_key_jwt", **kw)
    s.register_client_auth_method(PrivateKeyJWT(discovery["token_endpoint"], headers={"kid": c["private_jwk"]["kid"]}))
    return s


def test_discovery_advertises_jwt_bearer_and_private_key_jwt(discovery):
    assert JWT_BEARER in discovery["grant_types_supported"]
    assert "private_key_jwt" in discovery["token_endpoint_auth_methods_supported"]


def test_private_key_jwt_client_credentials(cfg, discovery, jwks_client, capture):
    c = cfg["clients"]["key"]
    s = capture.attach(key_session(cfg, discovery, scope="read:x"))
    token = s.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")

    sent = capture.last_to(discovery["token_endpoint"])
    body = parse_qs(sent.body)
    assert body["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assertion = jwt.decode(body["client_assertion"][0], options={"verify_signature": False})
    assert assertion["iss"] == assertion["sub"] == c["client_id"]
    assert "Authorization" not in sent.headers

    verify_access_token(jwks_client, cfg, token["access_token"], cfg["api"], client_id=c["client_id"], scope="read:x")

    # Introspection with the same client authentication (Authlib uses the revocation auth method).
    s = key_session(cfg, discovery, revocation_endpoint_auth_method="private_key_jwt")
    r = s.introspect_token(discovery["introspection_endpoint"], token=token["access_token"])
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True and r.json()["client_id"] == c["client_id"]


def test_jwt_bearer_grant_authlib_assertion_session_without_client_auth(cfg, discovery, jwks_client):
    """Authlib's AssertionSession (RFC 7521/7523 client) against an issuer trusted with
    --client-auth optional: the assertion alone is the grant."""
    from authlib.integrations.requests_client import AssertionSession

    idp = cfg["assertion_issuers"]["optional"]
    jwk = cfg["assertion_private_jwk"]
    s = AssertionSession(
        token_endpoint=discovery["token_endpoint"],
        issuer=idp["issuer"],
        subject=idp["subject"],
        scope="read:x",
        key=jwk,
        alg=jwk["alg"],
        header={"kid": jwk["kid"]},
    )
    token = s.refresh_token()
    # No client authenticated, so any client_id oauthd records is fine; the linked user is the subject.
    verify_access_token(
        jwks_client, cfg, token["access_token"], cfg["api"], client_id=None, sub=cfg["user"]["user_id"], scope="read:x"
    )
    # Every assertion has a fresh jti: a second exchange works too.
    again = s.refresh_token()
    verify_access_token(jwks_client, cfg, again["access_token"], cfg["api"], client_id=None, sub=cfg["user"]["user_id"])


def test_jwt_bearer_grant_with_private_key_jwt_client(cfg, discovery, jwks_client):
    from authlib.oauth2.rfc7523 import JWTBearerGrant

    c = cfg["clients"]["key"]
    idp = cfg["assertion_issuers"]["required"]
    jwk = cfg["assertion_private_jwk"]
    assertion = JWTBearerGrant.sign(
        jwk,
        issuer=idp["issuer"],
        audience=discovery["token_endpoint"],
        subject=idp["subject"],
        header={"kid": jwk["kid"]},
        alg=jwk["alg"],
        expires_in=300,
    )
    s = key_session(cfg, discovery, scope="read:x")
    token = s.fetch_token(discovery["token_endpoint"], grant_type=JWT_BEARER, assertion=assertion)
    verify_access_token(
        jwks_client, cfg, token["access_token"], cfg["api"], client_id=c["client_id"], sub=cfg["user"]["user_id"], scope="read:x"
    )

    # RFC 7523 §3 item 7 / RFC 7519 jti: the same assertion cannot be used twice.
    from authlib.integrations.base_client.errors import OAuthError

    with pytest.raises(OAuthError) as e:
        key_session(cfg, discovery, scope="read:x").fetch_token(
            discovery["token_endpoint"], grant_type=JWT_BEARER, assertion=assertion
        )
    assert e.value.error == "invalid_grant"
