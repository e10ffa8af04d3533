//! The password grant (RFC 6749 §4.3): user subjects, identical failures, lockout, IP throttle.

use futures_util::future::join_all;

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

fn pw_form<'a>(user: &'a str, pass: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("grant_type", "password"), ("username", user), ("password", pass), ("audience", API), ("scope", scope)]
}

async fn password_grant_token_is_about_the_user_not_the_client(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    let user = t.user("Alice", "correct horse").await;
    // Usernames compare case-insensitively.
    let (s, h, body) = json(t.post_token_basic(&id, &secret, &pw_form("alice", "correct horse", "read:x")).await).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(h["cache-control"], "no-store");
    assert!(body.get("refresh_token").is_none(), "no offline_access, no refresh token");
    let (typ, c) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(typ, "at+jwt");
    assert!(user.id.starts_with("local|"));
    assert_eq!(c["sub"], user.id);
    assert_eq!(c["gty"], "password");
    assert_eq!(c["client_id"], id);
    assert_eq!(c["scope"], "read:x");
    assert!(c["auth_time"].is_i64());
}

async fn wrong_password_unknown_user_and_disabled_user_fail_identically(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("bob", "right password").await;
    let carol = t.user("carol", "right password").await;
    t.app.store.set_user_disabled(&carol.id, true, 0).await.unwrap();
    let mut seen = Vec::new();
    for (u, p) in [("bob", "wrong"), ("nobody", "right password"), ("carol", "right password")] {
        let (s, _, body) = json(t.post_token_basic(&id, &secret, &pw_form(u, p, "read:x")).await).await;
        seen.push((s, body));
    }
    assert_eq!(seen[0].0, 400);
    assert_eq!(seen[0].1["error"], "invalid_grant");
    assert!(seen.iter().all(|x| *x == seen[0]), "{seen:?}");
}

async fn parallel_wrong_guesses_lock_the_account_and_only_that_account(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.lockout_threshold = 5).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("victim", "the real one").await;
    t.user("bystander", "the real one").await;
    let form = pw_form("victim", "guess", "read:x");
    let guesses = (0..50).map(|_| t.post_token_basic(&id, &secret, &form));
    for r in join_all(guesses).await {
        assert_eq!(r.status(), 400);
    }
    let user = t.app.store.find_user_by_username("victim").await.unwrap().unwrap();
    assert!(user.locked_until > oauthd::clock::now(), "locked after 50 parallel failures");
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &pw_form("victim", "the real one", "read:x")).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "locked even for the right password");
    let (s, _, _) = json(t.post_token_basic(&id, &secret, &pw_form("bystander", "the real one", "read:x")).await).await;
    assert_eq!(s, 200, "another user is unaffected");
}

async fn at_most_the_threshold_of_parallel_guesses_is_ever_checked(b: Backend) {
    // With the right password among 30 parallel attempts after 5 wrong ones, it must not win.
    let t = TestApp::spawn_with(b, |s| s.lockout_threshold = 5).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("dave", "pw-dave").await;
    let (wrong, right) = (pw_form("dave", "nope", "read:x"), pw_form("dave", "pw-dave", "read:x"));
    join_all((0..5).map(|_| t.post_token_basic(&id, &secret, &wrong))).await;
    let right = (0..30).map(|_| t.post_token_basic(&id, &secret, &right));
    assert!(join_all(right).await.iter().all(|r| r.status() == 400));
}

async fn a_burst_of_correct_logins_never_locks_the_account(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.lockout_threshold = 3).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("burst", "pw-burst").await;
    let right = pw_form("burst", "pw-burst", "read:x");
    let statuses: Vec<u16> = join_all((0..10).map(|_| t.post_token_basic(&id, &secret, &right)))
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    // At most `threshold` attempts are checked at once; the rest are refused, none is locked out.
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
    for _ in 0..5 {
        assert_eq!(t.post_token_basic(&id, &secret, &right).await.status(), 200, "the account is not locked");
    }
}

async fn too_many_failures_from_one_address_get_429_with_retry_after(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.ip_failure_limit = 3).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    for _ in 0..3 {
        assert_eq!(t.post_token_basic(&id, &secret, &pw_form("x", "y", "read:x")).await.status(), 400);
    }
    let (s, h, body) = json(t.post_token_basic(&id, &secret, &pw_form("x", "y", "read:x")).await).await;
    assert_eq!(s, 429, "{body}");
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
}

async fn the_password_grant_is_off_unless_granted_and_rejects_huge_passwords(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (m2m, m2m_secret) = t.m2m().await;
    t.user("erin", "pw").await;
    let (s, _, body) = json(t.post_token_basic(&m2m, &m2m_secret, &pw_form("erin", "pw", "read:x")).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("unauthorized_client")));
    let (id, secret) = t.client(&["password"], "read:x").await;
    let huge = "x".repeat(5000);
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &pw_form("erin", &huge, "read:x")).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &pw_form("erin", "pw", "write:x")).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_scope")));
    let (s, _, body) =
        json(t.post_token_basic(&id, &secret, &[("grant_type", "password"), ("username", "erin")]).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
}

on_both_backends!(
    password_grant_token_is_about_the_user_not_the_client,
    wrong_password_unknown_user_and_disabled_user_fail_identically,
    parallel_wrong_guesses_lock_the_account_and_only_that_account,
    at_most_the_threshold_of_parallel_guesses_is_ever_checked,
    too_many_failures_from_one_address_get_429_with_retry_after,
    a_burst_of_correct_logins_never_locks_the_account,
    the_password_grant_is_off_unless_granted_and_rejects_huge_passwords,
);
