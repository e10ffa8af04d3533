//! Refresh tokens (RFC 6749 §6) with rotation, reuse detection (RFC 9700 §4.14.2) and the reuse
//! grace.

use futures_util::future::join_all;
use oauthd::Settings;
use serde_json::Value;

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

struct Ctx {
    t: TestApp,
    id: String,
    secret: String,
}

async fn setup(b: Backend) -> (Ctx, Value) {
    setup_with(b, |_| {}).await
}

/// Without the reuse grace: a rotated token presented again is reuse at once.
async fn strict(b: Backend) -> (Ctx, Value) {
    setup_with(b, |s| s.refresh_reuse_grace = 0).await
}

async fn setup_with(b: Backend, tweak: impl FnOnce(&mut Settings)) -> (Ctx, Value) {
    let t = TestApp::spawn_with(b, tweak).await;
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

    /// Whether introspection calls `rt` active (it does not consume it).
    async fn active(&self, rt: &str) -> bool {
        let r = self.t.http.post(self.t.url("/introspect")).basic_auth(&self.id, Some(&self.secret));
        let (_, _, v) = json(r.form(&[("token", rt)]).send().await.unwrap()).await;
        v["active"] == true
    }

    async fn userinfo(&self, v: &Value) -> u16 {
        let r = self.t.http.get(self.t.url("/userinfo")).bearer_auth(v["access_token"].as_str().unwrap());
        r.send().await.unwrap().status().as_u16()
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
    let (c, first) = strict(b).await;
    let (_, second) = c.refresh(&rt(&first), None).await;
    let (s, body) = c.refresh(&rt(&first), None).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _) = c.refresh(&rt(&second), None).await;
    assert_eq!(s, 400, "the newest token of the family is revoked too");
}

async fn reuse_detection_also_revokes_the_access_tokens_minted_from_the_family(b: Backend) {
    let (c, first) = strict(b).await;
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

async fn without_the_grace_two_concurrent_refreshes_with_one_token_let_exactly_one_succeed(b: Backend) {
    let (c, first) = strict(b).await;
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
    let id = oauthd::oauth::refresh::parse(&rt(&first)).unwrap().family_id;
    let family = c.t.app.store.get_refresh_family(&id).await.unwrap().unwrap();
    assert!(family.revoked_at.is_some());
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

async fn a_retry_with_the_just_rotated_token_within_the_grace_gets_a_successor_and_revokes_nothing(b: Backend) {
    let (c, first) = setup(b).await;
    let (s, lost) = c.refresh(&rt(&first), None).await;
    assert_eq!(s, 200, "{lost}");
    // The client never saw `lost` (a 503 after the commit) and retries with the token it has.
    let (s, retried) = c.refresh(&rt(&first), None).await;
    assert_eq!(s, 200, "within the grace: {retried}");
    assert_eq!(retried["scope"], "openid read:x write:x offline_access");
    assert_ne!(rt(&retried), rt(&lost));
    assert!(c.active(&rt(&retried)).await, "the newest successor works");
    assert!(!c.active(&rt(&lost)).await, "the superseded one does not: no second live branch");
    assert_eq!(c.userinfo(&lost).await, 200, "nothing was revoked");
    assert_eq!(c.userinfo(&retried).await, 200);
    let (s, next) = c.refresh(&rt(&retried), None).await;
    assert_eq!(s, 200, "the family lives on: {next}");
    // Presenting the superseded successor is reuse of an older generation.
    assert_eq!(c.refresh(&rt(&lost), None).await.0, 400);
    assert_eq!(c.refresh(&rt(&next), None).await.0, 400, "the family is revoked");
}

async fn a_retry_with_the_rotated_token_after_the_grace_revokes_the_family(b: Backend) {
    let (c, first) = setup_with(b, |s| s.refresh_reuse_grace = 1).await;
    let (s, second) = c.refresh(&rt(&first), None).await;
    assert_eq!(s, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, body) = c.refresh(&rt(&first), None).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(body["error_description"], "refresh token was already used; its family is revoked");
    assert_eq!(c.refresh(&rt(&second), None).await.0, 400, "the newest token of the family is revoked too");
    assert_eq!(c.userinfo(&second).await, 401, "and so are its access tokens");
}

async fn concurrent_refreshes_with_one_token_yield_exactly_one_usable_chain(b: Backend) {
    let (c, first) = setup(b).await;
    let token = rt(&first);
    let results = join_all((0..8).map(|_| c.refresh(&token, None))).await;
    assert!(results.iter().all(|(s, _)| *s == 200), "all within the grace: {results:?}");
    let mut live = Vec::new();
    for (_, body) in &results {
        if c.active(&rt(body)).await {
            live.push(rt(body));
        }
    }
    assert_eq!(live.len(), 1, "exactly one successor stays usable");
    let (s, next) = c.refresh(&live[0], None).await;
    assert_eq!(s, 200, "{next}");
    assert!(c.active(&rt(&next)).await);
    let superseded = results.iter().map(|(_, b)| rt(b)).find(|t| *t != live[0]).unwrap();
    assert_eq!(c.refresh(&superseded, None).await.0, 400, "a superseded branch is reuse");
    assert!(!c.active(&rt(&next)).await, "and it revoked the family");
}

async fn fifty_rotations_keep_one_row_for_the_family_and_every_old_generation_counts_as_reuse(b: Backend) {
    let (c, first) = setup(b).await;
    let mut tokens = vec![rt(&first)];
    let before = c.t.count_all_rows().await;
    for _ in 0..50 {
        let (s, next) = c.refresh(tokens.last().unwrap(), None).await;
        assert_eq!(s, 200, "{next}");
        tokens.push(rt(&next));
    }
    assert_eq!(c.t.count_all_rows().await, before, "no table grows with rotations");
    assert_eq!(c.t.count_rows("refresh_families").await, 1, "one row for the family");
    let (store, base, now) = (c.t.app.store.as_ref(), c.t.base.as_str(), oauthd::clock::now());
    for (generation, token) in tokens.iter().enumerate().take(50) {
        let v = oauthd::admin::inspect::inspect_with_store(store, base, token, now).await.unwrap();
        assert_eq!(v["verdict"], "used", "generation {generation}: {v}");
    }
    let v = oauthd::admin::inspect::inspect_with_store(store, base, &tokens[50], now).await.unwrap();
    assert_eq!((v["verdict"].as_str(), v["claims"]["generation"].as_i64()), (Some("valid"), Some(50)), "{v}");
    // The grace covers only the token rotated last; any older one is reuse.
    let (s, body) = c.refresh(&tokens[17], None).await;
    assert_eq!(
        (s, body["error_description"].as_str()),
        (400, Some("refresh token was already used; its family is revoked"))
    );
    assert_eq!(c.refresh(&tokens[50], None).await.0, 400);
}

async fn a_forged_secret_for_a_known_family_is_invalid_grant_and_revokes_nothing(b: Backend) {
    let (c, first) = setup(b).await;
    let token = rt(&first);
    let handle = token.split('.').next().unwrap();
    for forged in [format!("{handle}.0.AAAA"), format!("{handle}.9.AAAA"), format!("{handle}.x.AAAA"), handle.into()] {
        let (s, body) = c.refresh(&forged, None).await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "{forged}: {body}");
        assert_eq!(body["error_description"], "refresh token is invalid, expired or revoked", "{forged}");
    }
    assert_eq!(c.refresh(&token, None).await.0, 200, "the real token still works");
}

on_both_backends!(
    refresh_rotates_and_keeps_the_subject_and_grant_type,
    reusing_a_rotated_token_revokes_the_whole_family,
    reuse_detection_also_revokes_the_access_tokens_minted_from_the_family,
    without_the_grace_two_concurrent_refreshes_with_one_token_let_exactly_one_succeed,
    a_narrower_scope_is_allowed_and_a_wider_one_is_invalid_scope,
    a_password_change_revokes_the_users_refresh_tokens,
    disabling_the_user_or_deleting_the_client_revokes_refresh_tokens,
    a_refresh_token_presented_by_another_client_is_invalid_grant,
    expired_refresh_tokens_are_invalid_grant,
    client_credentials_never_gets_a_refresh_token,
    a_refresh_for_another_audience_is_invalid_target_and_keeps_the_token,
    offline_access_is_not_granted_to_a_client_without_the_refresh_grant,
    a_retry_with_the_just_rotated_token_within_the_grace_gets_a_successor_and_revokes_nothing,
    a_retry_with_the_rotated_token_after_the_grace_revokes_the_family,
    concurrent_refreshes_with_one_token_yield_exactly_one_usable_chain,
    fifty_rotations_keep_one_row_for_the_family_and_every_old_generation_counts_as_reuse,
    a_forged_secret_for_a_known_family_is_invalid_grant_and_revokes_nothing,
);
