//! client_credentials (RFC 6749 §4.4) with RFC 9068 tokens, client auth and audiences.

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

const CC: (&str, &str) = ("grant_type", "client_credentials");
const AUD: (&str, &str) = ("audience", API);

async fn token_is_an_rfc9068_jwt_about_the_client(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let (status, headers, body) = json(t.post_token_basic(&id, &secret, &[CC, AUD]).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read:x write:x");
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("id_token").is_none());

    let (typ, c) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(typ, "at+jwt");
    assert_eq!(c["sub"], format!("{id}@clients"));
    assert_eq!(c["gty"], "client-credentials");
    assert_eq!(c["client_id"], id);
    assert_eq!(c["azp"], id);
    assert_eq!(c["aud"], API);
    assert_eq!(c["iss"], t.base);
    assert_eq!(c["scope"], "read:x write:x");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3600);
    assert!(c["jti"].as_str().unwrap().len() >= 16);
}

async fn tokens_verify_against_the_jwks_with_every_supported_alg(b: Backend) {
    use oauthd::jwt::keys::Alg;
    for alg in [Alg::RS256, Alg::ES256, Alg::EdDSA] {
        let t = TestApp::spawn_with(b, |s| s.signing_alg = alg).await;
        let (id, secret) = t.m2m().await;
        let (status, _, body) = json(t.post_token_basic(&id, &secret, &[CC, AUD]).await).await;
        assert_eq!(status, 200);
        let token = body["access_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg.as_str());
        t.verify(token, API).await;
    }
}

async fn client_secret_post_and_basic_with_encoded_characters_both_authenticate(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let (status, _, _) = json(t.post_token(&[CC, AUD, ("client_id", &id), ("client_secret", &secret)]).await).await;
    assert_eq!(status, 200);

    // RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic encoding.
    let req = oauthd::admin::clients::NewClient {
        name: "odd".into(),
        id: Some("svc.one~x".into()),
        grants: vec!["client_credentials".into()],
        scope: Some("read:x".into()),
        api: Some(API.into()),
        ..Default::default()
    };
    let (c, s) = oauthd::admin::clients::create(t.app.store.as_ref(), req, None, oauthd::clock::now()).await.unwrap();
    let encoded_id = "svc.one%7Ex";
    let r = t.post_token_basic(encoded_id, &s.unwrap(), &[CC, AUD]).await;
    let (status, _, body) = json(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(c.id, "svc.one~x");
}

async fn scopes_are_narrowed_and_never_widened(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &[CC, AUD, ("scope", "read:x")]).await).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("read:x")));
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &[CC, AUD, ("scope", "read:x admin:x")]).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_scope")));
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &[CC, AUD, ("scope", "openid")]).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_scope")));
}

async fn audience_comes_from_audience_resource_or_the_default(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.default_audience = API.into()).await;
    let (id, secret) = t.m2m().await;
    for form in [vec![CC, AUD], vec![CC, ("resource", API)], vec![CC]] {
        let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
        assert_eq!(s, 200, "{form:?}: {body}");
        let (_, c) = t.verify(body["access_token"].as_str().unwrap(), API).await;
        assert_eq!(c["aud"], API);
    }
    for aud in ["https://unknown.test", "https://api.test/", "HTTPS://api.test"] {
        let (s, _, body) = json(t.post_token_basic(&id, &secret, &[CC, ("audience", aud)]).await).await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_target")), "{aud}");
    }
}

async fn no_audience_and_no_default_is_invalid_target(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &[CC]).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_target")));
}

async fn public_clients_and_clients_without_the_grant_are_unauthorized(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (pw_id, pw_secret) = t.client(&["password"], "read:x").await;
    let (s, _, body) = json(t.post_token_basic(&pw_id, &pw_secret, &[CC, AUD]).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("unauthorized_client")));

    let req = oauthd::admin::clients::NewClient { name: "spa".into(), public: true, ..Default::default() };
    let (spa, _) = oauthd::admin::clients::create(t.app.store.as_ref(), req, None, oauthd::clock::now()).await.unwrap();
    let (s, _, body) = json(t.post_token(&[CC, AUD, ("client_id", &spa.id)]).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("unauthorized_client")));
}

async fn unknown_disabled_and_wrong_secret_clients_get_the_same_invalid_client(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let (disabled, dsecret) = t.m2m().await;
    t.app.store.set_client_disabled(&disabled, true, 0).await.unwrap();
    let mut bodies = Vec::new();
    for (i, s) in [(id.as_str(), "wrong"), ("nobody", secret.as_str()), (disabled.as_str(), dsecret.as_str())] {
        let (status, headers, body) = json(t.post_token_basic(i, s, &[CC, AUD]).await).await;
        assert_eq!(status, 401);
        assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        assert_eq!(headers["cache-control"], "no-store");
        bodies.push(body);
    }
    assert_eq!(bodies[0]["error"], "invalid_client");
    assert!(bodies.iter().all(|b| *b == bodies[0]));
}

async fn disabling_a_client_or_rotating_its_secret_takes_effect_within_the_cache_bound(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    assert_eq!(t.post_token_basic(&id, &secret, &[CC, AUD]).await.status(), 200);
    let new_secret = oauthd::admin::clients::rotate_secret(t.app.store.as_ref(), &id, 0).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(t.post_token_basic(&id, &secret, &[CC, AUD]).await.status(), 401);
    assert_eq!(t.post_token_basic(&id, &new_secret, &[CC, AUD]).await.status(), 200);
    t.app.store.set_client_disabled(&id, true, 0).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(t.post_token_basic(&id, &new_secret, &[CC, AUD]).await.status(), 401);
}

on_both_backends!(
    token_is_an_rfc9068_jwt_about_the_client,
    tokens_verify_against_the_jwks_with_every_supported_alg,
    client_secret_post_and_basic_with_encoded_characters_both_authenticate,
    scopes_are_narrowed_and_never_widened,
    audience_comes_from_audience_resource_or_the_default,
    no_audience_and_no_default_is_invalid_target,
    public_clients_and_clients_without_the_grant_are_unauthorized,
    unknown_disabled_and_wrong_secret_clients_get_the_same_invalid_client,
    disabling_a_client_or_rotating_its_secret_takes_effect_within_the_cache_bound,
);
