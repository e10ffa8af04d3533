//! The password grant (RFC 6749 §4.3): user subjects, identical failures, lockout, IP throttle,
//! parallel logins, and hash upgrades.

use futures_util::future::join_all;

use argon2::password_hash::{PasswordHasher as _, SaltString};
use oauthd::store::User;

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

pub fn pw_form<'a>(user: &'a str, pass: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("grant_type", "password"), ("username", user), ("password", pass), ("audience", API), ("scope", scope)]
}

/// An Argon2id hash with `memory_kib` and one pass, as an older configuration would have stored.
fn argon2_hash(password: &str, memory_kib: u32) -> String {
    let params = argon2::Params::new(memory_kib, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::from_b64("b2F1dGhkLXRlc3Qtc2FsdA").unwrap();
    argon.hash_password(password.as_bytes(), &salt).unwrap().to_string()
}

/// The user's row as stored now.
pub async fn stored(t: &TestApp, username: &str) -> User {
    t.app.store.find_user_by_username(username).await.unwrap().expect("user exists")
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

async fn once_locked_a_burst_of_right_passwords_is_refused_too(b: Backend) {
    // With the right password among 30 parallel attempts after 5 wrong ones, it must not win.
    let t = TestApp::spawn_with(b, |s| s.lockout_threshold = 5).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("dave", "pw-dave").await;
    let (wrong, right) = (pw_form("dave", "nope", "read:x"), pw_form("dave", "pw-dave", "read:x"));
    join_all((0..5).map(|_| t.post_token_basic(&id, &secret, &wrong))).await;
    let right = (0..30).map(|_| t.post_token_basic(&id, &secret, &right));
    assert!(join_all(right).await.iter().all(|r| r.status() == 400));
}

async fn parallel_correct_logins_for_one_user_all_succeed_twice_in_a_row(b: Backend) {
    // A backend logging one service account in from many workers: nothing in flight may refuse it.
    let t = TestApp::spawn_with(b, |s| s.lockout_threshold = 5).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("service", "pw-service").await;
    let right = pw_form("service", "pw-service", "read:x");
    for round in 0..2 {
        let answers = join_all((0..32).map(|_| t.post_token_basic(&id, &secret, &right))).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert!(statuses.iter().all(|s| *s == 200), "round {round}: {statuses:?}");
    }
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &right).await).await;
    assert_eq!(s, 200, "no false failures reached the per-IP throttle: {body}");
    assert_eq!(stored(&t, "service").await.failed_count, 0);
}

async fn sequential_wrong_passwords_lock_at_the_threshold_and_a_success_resets_the_count(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.lockout_threshold = 3).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("seq", "pw-seq").await;
    let (wrong, right) = (pw_form("seq", "nope", "read:x"), pw_form("seq", "pw-seq", "read:x"));
    for _ in 0..2 {
        assert_eq!(t.post_token_basic(&id, &secret, &wrong).await.status(), 400);
    }
    assert_eq!(stored(&t, "seq").await.failed_count, 2);
    assert_eq!(t.post_token_basic(&id, &secret, &right).await.status(), 200, "below the threshold");
    assert_eq!(stored(&t, "seq").await.failed_count, 0, "a success resets the count");
    for _ in 0..3 {
        assert_eq!(t.post_token_basic(&id, &secret, &wrong).await.status(), 400);
    }
    let user = stored(&t, "seq").await;
    assert!(user.locked_until > oauthd::clock::now(), "the third failure locks");
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &right).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "locked even for the right password");
    assert_eq!(stored(&t, "seq").await.failed_count, 3, "attempts on a locked account are not counted");
}

async fn logins_keep_a_current_hash_and_upgrade_bcrypt_and_weaker_argon2_once(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    let current = t.user("current", "pw-current").await.password_hash.unwrap();
    for _ in 0..2 {
        assert_eq!(t.post_token_basic(&id, &secret, &pw_form("current", "pw-current", "read:x")).await.status(), 200);
    }
    assert_eq!(stored(&t, "current").await.password_hash.unwrap(), current, "a current hash is never rewritten");

    let weaker = argon2_hash("pw-old", 512);
    for old in [bcrypt::hash("pw-old", 4).unwrap(), weaker] {
        let user = t.user("old", "something else").await;
        t.app.store.set_password_hash(&user.id, &old, 0).await.unwrap();
        assert_eq!(t.post_token_basic(&id, &secret, &pw_form("old", "pw-old", "read:x")).await.status(), 200);
        let upgraded = stored(&t, "old").await.password_hash.unwrap();
        assert!(upgraded.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{old} became {upgraded}");
        assert_eq!(t.post_token_basic(&id, &secret, &pw_form("old", "pw-old", "read:x")).await.status(), 200);
        assert_eq!(stored(&t, "old").await.password_hash.unwrap(), upgraded, "upgraded once only");
        t.app.store.delete_user(&user.id).await.unwrap();
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
    once_locked_a_burst_of_right_passwords_is_refused_too,
    too_many_failures_from_one_address_get_429_with_retry_after,
    parallel_correct_logins_for_one_user_all_succeed_twice_in_a_row,
    sequential_wrong_passwords_lock_at_the_threshold_and_a_success_resets_the_count,
    logins_keep_a_current_hash_and_upgrade_bcrypt_and_weaker_argon2_once,
    the_password_grant_is_off_unless_granted_and_rejects_huge_passwords,
);
