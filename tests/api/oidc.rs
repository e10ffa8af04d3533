//! OIDC basics: the ID token (OIDC Core §2) and /userinfo (§5.3) with RFC 6750 errors.

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

async fn login(t: &TestApp, scope: &str) -> serde_json::Value {
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("hana", "pw-hana").await;
    let form = [
        ("grant_type", "password"),
        ("username", "hana"),
        ("password", "pw-hana"),
        ("audience", API),
        ("scope", scope),
    ];
    let (s, _, mut body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "{body}");
    body["client_id_for_test"] = serde_json::Value::String(id);
    body
}

async fn openid_adds_an_id_token_for_the_client(b: Backend) {
    let t = TestApp::spawn(b).await;
    let body = login(&t, "openid email read:x").await;
    let client_id = body["client_id_for_test"].as_str().unwrap();
    let id_token = body["id_token"].as_str().expect("id_token");
    let (typ, c) = t.verify(id_token, client_id).await;
    assert_eq!(typ, "JWT");
    assert_eq!(c["iss"], t.base);
    assert_eq!(c["aud"], client_id);
    assert!(c["sub"].as_str().unwrap().starts_with("local|"));
    assert!(c["auth_time"].is_i64() && c["iat"].is_i64() && c["exp"].is_i64());
    assert_eq!(c["email"], "hana@example.com");
    assert_eq!(c["email_verified"], false);
    assert_eq!(c["at_hash"], oauthd::jwt::mint::at_hash(body["access_token"].as_str().unwrap()));
    assert!(c.get("preferred_username").is_none(), "profile was not requested");
}

async fn no_openid_means_no_id_token(b: Backend) {
    let t = TestApp::spawn(b).await;
    let body = login(&t, "read:x").await;
    assert!(body.get("id_token").is_none());
}

async fn userinfo_returns_the_claims_the_scopes_allow(b: Backend) {
    let t = TestApp::spawn(b).await;
    let body = login(&t, "openid profile read:x").await;
    let at = body["access_token"].as_str().unwrap();
    for post in [false, true] {
        let req = if post { t.http.post(t.url("/userinfo")) } else { t.http.get(t.url("/userinfo")) };
        let (s, h, info) = json(req.bearer_auth(at).send().await.unwrap()).await;
        assert_eq!(s, 200, "{info}");
        assert_eq!(h["cache-control"], "no-store");
        assert!(info["sub"].as_str().unwrap().starts_with("local|"));
        assert_eq!(info["preferred_username"], "hana");
        assert!(info.get("email").is_none(), "email scope not granted");
    }
}

async fn userinfo_rejects_bad_tokens_with_rfc6750_challenges(b: Backend) {
    let t = TestApp::spawn(b).await;
    let body = login(&t, "read:x").await;
    let r = t.http.get(t.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));

    let at = body["access_token"].as_str().unwrap();
    let mut tampered = at.to_string();
    tampered.pop();
    tampered.push(if at.ends_with('A') { 'B' } else { 'A' });
    for bad in ["garbage", tampered.as_str(), body["id_token"].as_str().unwrap_or("x.y.z")] {
        let r = t.http.get(t.url("/userinfo")).bearer_auth(bad).send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad}");
        assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    }
    let r = t.http.get(t.url("/userinfo")).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), 403, "no openid scope");
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
}

on_both_backends!(
    openid_adds_an_id_token_for_the_client,
    no_openid_means_no_id_token,
    userinfo_returns_the_claims_the_scopes_allow,
    userinfo_rejects_bad_tokens_with_rfc6750_challenges,
);
