//! Refresh tokens (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).

use futures_util::future::join_all;
use serde_json::Value;

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

struct Ctx {
    t: TestApp,
    id: String,
    secret: String,
}

async fn setup(b: Backend) -> (Ctx, Value) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["password", "refresh_token"], "read:x write:x").await;
    t.user("frank", "pw-frank").await;
    let form = [
        ("grant_type", "password"),
        ("username", "frank"),
        ("password", "pw-frank"),
        ("audience", API),
        ("scope", "openid read:x write:x offline_access"),
    ];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43, "at least 256 bits");
    (Ctx { t, id, secret }, body)
}

impl Ctx {
    async fn refresh(&self, rt: &str, scope: Option<&str>) -> (u16, Value) {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let (s, _, body) = json(self.t.post_token_basic(&self.id, &self.secret, &form).await).await;
        (s, body)
    }
}

fn rt(v: &Value) -> String {
    v["refresh_token"].as_str().unwrap().to_string()
}

async fn refresh_rotates_and_keeps_the_subject_and_grant_type(b: Backend) {
    let (c, first) = setup(b).await;
    let (s, second) = c.refresh(&rt(&first), None).await;
    assert_eq!(s, 200, "{second}");
    assert_ne!(rt(&first), rt(&second));
    let (_, a) = c.t.verify(first["access_token"].as_str().unwrap(), API).await;
    let (_, b2) = c.t.verify(second["access_token"].as_str().unwrap(), API).await;
    assert_eq!(a["sub"], b2["sub"]);
    assert_eq!(b2["gty"], "password");
    assert_eq!(second["scope"], "openid read:x write:x offline_access");
    assert!(second["id_token"].is_string());
}

async fn reusing_a_rotated_token_revokes_the_whole_family(b: Backend) {
    let (c, first) = setup(b).await;
    let (_, second) = c.refresh(&rt(&first), None).await;
    let (s, body) = c.refresh(&rt(&first), None).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _) = c.refresh(&rt(&second), None).await;
    assert_eq!(s, 400, "the newest token of the family is revoked too");
}

async fn reuse_detection_also_revokes_the_access_tokens_minted_from_the_family(b: Backend) {
    let (c, first) = setup(b).await;
    let (_, second) = c.refresh(&rt(&first), None).await;
    let userinfo = |at: String| {
        let r = c.t.http.get(c.t.url("/userinfo")).bearer_auth(at).send();
        async move { r.await.unwrap().status().as_u16() }
    };
    let second_at = second["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(second_at.clone()).await, 200);
    assert_eq!(c.refresh(&rt(&first), None).await.0, 400, "reuse");
    assert_eq!(userinfo(second_at).await, 401, "the refreshed access token is denied");
    assert_eq!(userinfo(first["access_token"].as_str().unwrap().into()).await, 401, "so is the first one");
}

async fn two_concurrent_refreshes_with_one_token_let_exactly_one_succeed(b: Backend) {
    let (c, first) = setup(b).await;
    let token = rt(&first);
    let results = join_all((0..2).map(|_| c.refresh(&token, None))).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(results.iter().any(|(s, b)| *s == 400 && b["error"] == "invalid_grant"));
}

async fn a_narrower_scope_is_allowed_and_a_wider_one_is_invalid_scope(b: Backend) {
    let (c, first) = setup(b).await;
    let (s, body) = c.refresh(&rt(&first), Some("admin:x")).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_scope")));
    let (s, narrow) = c.refresh(&rt(&first), Some("read:x")).await;
    assert_eq!(
        (s, narrow["scope"].as_str()),
        (200, Some("read:x")),
        "a rejected wider request did not consume the token"
    );
    // The family keeps its original scope: a later refresh may ask for write:x again.
    let (s, again) = c.refresh(&rt(&narrow), Some("write:x")).await;
    assert_eq!((s, again["scope"].as_str()), (200, Some("write:x")));
}

async fn a_password_change_revokes_the_users_refresh_tokens(b: Backend) {
    let (c, first) = setup(b).await;
    let store = c.t.app.store.as_ref();
    oauthd::admin::users::set_password(store, &c.t.app.passwords, "frank", "new-pw", oauthd::clock::now())
        .await
        .unwrap();
    let (s, _) = c.refresh(&rt(&first), None).await;
    assert_eq!(s, 400);
}

async fn disabling_the_user_or_deleting_the_client_revokes_refresh_tokens(b: Backend) {
    let (c, first) = setup(b).await;
    let store = c.t.app.store.as_ref();
    oauthd::admin::users::set_disabled(store, "frank", true, oauthd::clock::now()).await.unwrap();
    assert_eq!(c.refresh(&rt(&first), None).await.0, 400);

    let (c, first) = setup(b).await;
    oauthd::admin::clients::delete(c.t.app.store.as_ref(), &c.id, oauthd::clock::now()).await.unwrap();
    let rec = c.t.app.store.find_refresh_token(&oauthd::oauth::secret::digest(&rt(&first))).await.unwrap().unwrap();
    assert!(rec.family_revoked);
}

async fn a_refresh_token_presented_by_another_client_is_invalid_grant(b: Backend) {
    let (c, first) = setup(b).await;
    let (other, other_secret) = c.t.client(&["refresh_token"], "read:x").await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())];
    let (s, _, body) = json(c.t.post_token_basic(&other, &other_secret, &form).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(c.refresh(&rt(&first), None).await.0, 200, "the owner's token was not burned");
}

async fn expired_refresh_tokens_are_invalid_grant(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.refresh_token_idle_ttl = 1).await;
    let (id, secret) = t.client(&["password", "refresh_token"], "read:x").await;
    t.user("gina", "pw").await;
    let form = [
        ("grant_type", "password"),
        ("username", "gina"),
        ("password", "pw"),
        ("audience", API),
        ("scope", "offline_access"),
    ];
    let (_, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"].as_str().unwrap())];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
}

async fn client_credentials_never_gets_a_refresh_token(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["client_credentials", "refresh_token"], "read:x").await;
    let (s, _, body) =
        json(t.post_token_basic(&id, &secret, &[("grant_type", "client_credentials"), ("audience", API)]).await).await;
    assert_eq!(s, 200);
    assert!(body.get("refresh_token").is_none());
    let (s, _, body) = json(
        t.post_token_basic(
            &id,
            &secret,
            &[("grant_type", "client_credentials"), ("audience", API), ("scope", "offline_access")],
        )
        .await,
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_scope")));
}

async fn a_refresh_for_another_audience_is_invalid_target_and_keeps_the_token(b: Backend) {
    let (c, first) = setup(b).await;
    let token = rt(&first);
    for (key, value) in [("audience", "https://other.test"), ("resource", "https://other.test"), ("resource", "x")] {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str()), (key, value)];
        let (s, headers, body) = json(c.t.post_token_basic(&c.id, &c.secret, &form).await).await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_target")), "{key}={value}: {body}");
        assert_eq!(body["error_description"], format!("the refresh token was issued for audience '{API}'"));
        assert_eq!(headers["cache-control"], "no-store");
    }
    let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str()), ("resource", API)];
    let (s, _, body) = json(c.t.post_token_basic(&c.id, &c.secret, &form).await).await;
    assert_eq!(s, 200, "naming the token's own audience is fine, and the token was not consumed: {body}");
    let (_, claims) = c.t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(claims["aud"], API);
}

async fn offline_access_is_not_granted_to_a_client_without_the_refresh_grant(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("olga", "pw-olga").await;
    let form = [
        ("grant_type", "password"),
        ("username", "olga"),
        ("password", "pw-olga"),
        ("audience", API),
        ("scope", "openid offline_access read:x"),
    ];
    let (s, headers, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "openid read:x");
    let (_, claims) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(claims["scope"], "openid read:x");
}

on_both_backends!(
    refresh_rotates_and_keeps_the_subject_and_grant_type,
    reusing_a_rotated_token_revokes_the_whole_family,
    reuse_detection_also_revokes_the_access_tokens_minted_from_the_family,
    two_concurrent_refreshes_with_one_token_let_exactly_one_succeed,
    a_narrower_scope_is_allowed_and_a_wider_one_is_invalid_scope,
    a_password_change_revokes_the_users_refresh_tokens,
    disabling_the_user_or_deleting_the_client_revokes_refresh_tokens,
    a_refresh_token_presented_by_another_client_is_invalid_grant,
    expired_refresh_tokens_are_invalid_grant,
    client_credentials_never_gets_a_refresh_token,
    a_refresh_for_another_audience_is_invalid_target_and_keeps_the_token,
    offline_access_is_not_granted_to_a_client_without_the_refresh_grant,
);
