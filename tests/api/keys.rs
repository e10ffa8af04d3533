//! Signing keys and the JWKS (RFC 7517): rotation keeps old tokens verifiable.

use oauthd::clock::now;
use oauthd::jwt::keys::{self, Alg};

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

async fn jwks_publishes_public_keys_only_with_distinct_kids(b: Backend) {
    let t = TestApp::spawn(b).await;
    keys::rotate(t.app.store.as_ref(), Alg::ES256, now(), t.app.kek.as_ref()).await.unwrap();
    keys::rotate(t.app.store.as_ref(), Alg::EdDSA, now(), t.app.kek.as_ref()).await.unwrap();
    let r = t.http.get(t.url("/.well-known/jwks.json")).header("origin", "https://spa.test").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let (status, _, body) = json(r).await;
    assert_eq!(status, 200);
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    kids.dedup();
    assert_eq!(kids.len(), 3);
    for k in keys {
        assert_eq!(k["use"], "sig");
        assert!(k["kty"].is_string() && k["alg"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(private).is_none(), "{private} leaked in {k}");
        }
    }
}

async fn rotation_keeps_tokens_signed_by_the_old_key_verifiable(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let form = [("grant_type", "client_credentials"), ("audience", API)];
    let (_, _, old) = json(t.post_token_basic(&id, &secret, &form).await).await;
    let old = old["access_token"].as_str().unwrap().to_string();
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();

    let rec = keys::rotate(t.app.store.as_ref(), Alg::RS256, now(), t.app.kek.as_ref()).await.unwrap();
    // Published at once, before any instance signs with it.
    assert!(t.jwks().await.find(&rec.kid).is_some());
    t.app.refresh_keys().await.unwrap();

    let (_, _, new) = json(t.post_token_basic(&id, &secret, &form).await).await;
    let new = new["access_token"].as_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(new).unwrap().kid.unwrap(), rec.kid);
    assert!(t.jwks().await.find(&old_kid).is_some());
    t.verify(&old, API).await;
    t.verify(new, API).await;
}

async fn a_key_retired_longer_than_any_token_lives_is_no_longer_published(b: Backend) {
    let t = TestApp::spawn(b).await;
    let first = t.app.keys.load().active.kid.clone();
    let window = t.app.settings.key_publish_window();
    keys::rotate(t.app.store.as_ref(), Alg::ES256, now(), t.app.kek.as_ref()).await.unwrap();
    t.app.store.retire_keys_except("none", "RS256", 0).await.unwrap();
    let records = t.app.store.list_keys().await.unwrap();
    let set = keys::public_jwks(&records, now() + window + 1, window);
    assert!(!set["keys"].as_array().unwrap().iter().any(|k| k["kid"] == first));
}

async fn discovery_lists_what_is_implemented(b: Backend) {
    let t = TestApp::spawn(b).await;
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let r = t.http.get(t.url(path)).header("origin", "https://x.test").send().await.unwrap();
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let (status, _, d) = json(r).await;
        assert_eq!(status, 200);
        assert_eq!(d["issuer"], t.base);
        assert_eq!(d["token_endpoint"], format!("{}/token", t.base));
        assert_eq!(d["jwks_uri"], format!("{}/.well-known/jwks.json", t.base));
        let grants: Vec<&str> =
            d["grant_types_supported"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(
            grants,
            [
                "authorization_code",
                "client_credentials",
                "password",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ]
        );
        assert!(d["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&"client_secret_basic".into()));
        assert!(d["scopes_supported"].as_array().unwrap().contains(&"openid".into()));
    }
}

async fn health_and_readiness_answer(b: Backend) {
    let t = TestApp::spawn(b).await;
    assert_eq!(t.http.get(t.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(t.http.get(t.url("/readyz")).send().await.unwrap().status(), 200);
    let r = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
}

on_both_backends!(
    jwks_publishes_public_keys_only_with_distinct_kids,
    rotation_keeps_tokens_signed_by_the_old_key_verifiable,
    a_key_retired_longer_than_any_token_lives_is_no_longer_published,
    discovery_lists_what_is_implemented,
    health_and_readiness_answer,
);
