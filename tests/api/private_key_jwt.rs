//! private_key_jwt client authentication (RFC 7523 §2.2, OIDC Core §9): registration checks
//! the key set like `trust add` does, and a bad key set is the client's failure, never a 500.

use oauthd::admin::clients::{create, NewClient};
use oauthd::clock::now;
use oauthd::store::{Client, ClientOrigin};
use serde_json::{json, Value};

use crate::helpers::{json as body, Backend, TestApp, API};
use crate::idp::{claims, sign, Idp};
use crate::jwt_bearer::app;
use crate::on_both_backends;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn key_client(id: &str, jwks_uri: Option<&str>, jwks_json: Option<&str>, loopback: bool) -> NewClient {
    NewClient {
        name: id.into(),
        id: Some(id.into()),
        grants: vec!["client_credentials".into()],
        scope: Some("read:x".into()),
        api: Some(API.into()),
        auth_method: "private_key_jwt".into(),
        jwks_uri: jwks_uri.map(str::to_string),
        jwks_json: jwks_json.map(str::to_string),
        allow_http_loopback_jwks: loopback,
        ..Default::default()
    }
}

async fn client_credentials_with(t: &TestApp, assertion: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("audience", API),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    let (s, _, v) = body(t.post_token(&form).await).await;
    (s, v)
}

async fn private_key_jwt_authenticates_clients_and_refuses_replays(b: Backend) {
    let t = app(b).await;
    t.api("read:x").await;
    let idp = Idp::start().await;
    let key = idp.key();
    let jwks = json!({ "keys": [serde_json::from_str::<Value>(&key.public_jwk).unwrap()] }).to_string();
    let req = oauthd::admin::clients::NewClient {
        name: "pkjwt".into(),
        id: Some("pkjwt-client".into()),
        grants: vec!["client_credentials".into()],
        scope: Some("read:x".into()),
        api: Some(API.into()),
        auth_method: "private_key_jwt".into(),
        jwks_json: Some(jwks),
        ..Default::default()
    };
    let (_, secret) = oauthd::admin::clients::create(t.app.store.as_ref(), req, None, now()).await.unwrap();
    assert!(secret.is_none());
    let mk = |aud: &str| sign(&key, &claims("pkjwt-client", "pkjwt-client", aud), |_| {});
    let post = |assertion: String| {
        let t = &t;
        async move {
            let form = [
                ("grant_type", "client_credentials"),
                ("audience", API),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion.as_str()),
            ];
            body(t.post_token(&form).await).await
        }
    };
    let a = mk(&format!("{}/token", t.base));
    let (s, _, v) = post(a.clone()).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = t.verify(v["access_token"].as_str().unwrap(), API).await;
    assert_eq!(c["sub"], "pkjwt-client@clients");
    let (s, _, v) = post(a).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "replayed jti");
    let (s, _, _) = post(mk("https://elsewhere.example")).await;
    assert_eq!(s, 401, "wrong audience");
    let forged = sign(&Idp::start().await.key(), &claims("pkjwt-client", "pkjwt-client", &t.base), |h| {
        h.kid = Some(key.kid.clone())
    });
    assert_eq!(post(forged).await.0, 401, "another key");
    let (_, _, d) = body(t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert!(d["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("private_key_jwt")));
    assert!(d["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap().contains(&json!("ES256")));
}

/// (case, --jwks-uri, --jwks-file contents, loopback http allowed, expected error).
type Refused<'a> = (&'a str, Option<&'a str>, Option<&'a str>, bool, &'a str);

async fn registration_validates_the_jwks_uri_and_parses_the_jwks_file(b: Backend) {
    let t = app(b).await;
    t.api("read:x").await;
    let idp = Idp::start().await;
    let x25519 = r#"{"keys": [{"kty": "OKP", "crv": "X25519", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}]}"#;
    let loopback = idp.jwks_uri();
    let refused: [Refused; 6] = [
        ("plain http", Some("http://idp.example.com/jwks"), None, true, "https only"),
        ("loopback http, not allowed", Some(&loopback), None, false, "https only"),
        ("not a URL", Some("jwks.json"), None, true, "not a URL"),
        ("not JSON", None, Some("{oops"), false, "not JSON"),
        ("no keys array", None, Some(r#"{"kty": "EC"}"#), false, "no \"keys\" array"),
        ("no usable key", None, Some(x25519), false, "no usable signature key"),
    ];
    for (name, uri, json, loopback, expected) in refused {
        let err = create(t.app.store.as_ref(), key_client("c1", uri, json, loopback), None, now()).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{name}: {err}");
    }
    assert!(t.app.store.get_client("c1").await.unwrap().is_none(), "nothing was stored");
    let err = create(
        t.app.store.as_ref(),
        NewClient { auth_method: String::new(), ..key_client("c2", Some("https://idp.example.com/jwks"), None, false) },
        None,
        now(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("need --auth-method private_key_jwt"), "{err}");
    create(
        t.app.store.as_ref(),
        key_client("https-ok", Some("https://idp.example.com/jwks"), None, false),
        None,
        now(),
    )
    .await
    .unwrap();
    // The CLI applies the same check.
    let (ok, _, err) = crate::cli::oauthd(
        &t.app.settings.database_url,
        &[
            "client",
            "create",
            "--name",
            "n",
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            "http://idp.example.com/k",
        ],
        None,
    );
    assert!(!ok && err.contains("https only"), "{err}");
    // A loopback key set, where allowed, authenticates the client at run time.
    create(t.app.store.as_ref(), key_client("remote", Some(&loopback), None, true), None, now()).await.unwrap();
    let a = sign(&idp.key(), &claims("remote", "remote", &t.base), |_| {});
    let (s, v) = client_credentials_with(&t, &a).await;
    assert_eq!(s, 200, "{v}");
}

async fn an_invalid_stored_key_set_is_401_invalid_client_not_500(b: Backend) {
    let t = app(b).await;
    t.api("read:x").await;
    let idp = Idp::start().await;
    for (id, stored) in [("garbled", "{oops"), ("keyless", r#"{"keys": [{"kty": "PQC"}]}"#)] {
        // Written behind the registration checks, as an older version or a hand edit might have.
        let client = Client {
            id: id.into(),
            name: id.into(),
            secret_hash: None,
            public: false,
            grant_types: "client_credentials".into(),
            redirect_uris: String::new(),
            allowed_origins: String::new(),
            first_party: false,
            disabled: false,
            created_at: now(),
            updated_at: now(),
            post_logout_redirect_uris: String::new(),
            auth_method: oauthd::store::AuthMethod::PrivateKeyJwt,
            jwks_uri: None,
            jwks_json: Some(stored.into()),
            require_pkce: false,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            origin: ClientOrigin::Operator,
            dpop_bound_access_tokens: false,
            require_dpop_nonce: false,
            require_pushed_authorization_requests: false,
        };
        t.app.store.insert_client(&client).await.unwrap();
        let a = sign(&idp.key(), &claims(id, id, &t.base), |_| {});
        let (s, v) = client_credentials_with(&t, &a).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "{id}: {v}");
    }
}

on_both_backends!(
    private_key_jwt_authenticates_clients_and_refuses_replays,
    registration_validates_the_jwks_uri_and_parses_the_jwks_file,
    an_invalid_stored_key_set_is_401_invalid_client_not_500,
);
