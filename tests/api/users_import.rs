//! Migration from Auth0: IDs are kept, bcrypt hashes work and are upgraded to Argon2id.

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

const FIXTURE: &str = include_str!("../fixtures/auth0_export.ndjson");

async fn an_auth0_export_imports_and_bcrypt_users_are_upgraded_on_login(b: Backend) {
    let t = TestApp::spawn(b).await;
    let store = t.app.store.as_ref();
    let report = oauthd::admin::users::import_auth0(store, FIXTURE, oauthd::clock::now()).await;
    assert_eq!((report.imported, report.skipped, report.failed), (2, 0, 3), "{report:?}");
    let again = oauthd::admin::users::import_auth0(store, FIXTURE, oauthd::clock::now()).await;
    assert_eq!((again.imported, again.skipped, again.failed), (0, 2, 3));

    let alice = store.get_user("auth0|5f1a2b3c4d5e6f7a8b9c0d1e").await.unwrap().expect("id kept");
    assert!(alice.password_hash.as_deref().unwrap().starts_with("$2b$"));
    assert!(store.get_user("auth0|60aabbccddeeff0011223344").await.unwrap().is_some());

    let (id, secret) = t.client(&["password"], "read:x").await;
    let form = [("grant_type", "password"), ("username", "alice"), ("password", "correct horse"), ("audience", API)];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "{body}");
    let (_, c) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(c["sub"], "auth0|5f1a2b3c4d5e6f7a8b9c0d1e");

    let upgraded = store.get_user(&alice.id).await.unwrap().unwrap();
    assert!(upgraded.password_hash.as_deref().unwrap().starts_with("$argon2id$"));
    let (s, _, _) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "the upgraded hash still verifies");

    // The password-hash export has no username: the email is the login name.
    let form = [
        ("grant_type", "password"),
        ("username", "bob@example.com"),
        ("password", "battery staple"),
        ("audience", API),
    ];
    assert_eq!(t.post_token_basic(&id, &secret, &form).await.status(), 200);
}

on_both_backends!(an_auth0_export_imports_and_bcrypt_users_are_upgraded_on_login);
