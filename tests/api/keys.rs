//! Signing keys and the JWKS (RFC 7517): rotation keeps old tokens verifiable.

use oauthd::clock::now;
use oauthd::jwt::keys::{self, Alg};

use crate::helpers::{fresh_database, json, Backend, TestApp, API};
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
    keys::rotate(t.app.store.as_ref(), Alg::RS256, now(), t.app.kek.as_ref()).await.unwrap();
    let records = t.app.store.list_keys().await.unwrap();
    let set = keys::public_jwks(&records, now() + window + 1, window);
    assert!(!set["keys"].as_array().unwrap().iter().any(|k| k["kid"] == first));
}

async fn instances_rotating_at_once_never_retire_the_newest_key(b: Backend) {
    let t = TestApp::spawn(b).await;
    let store = t.app.store.as_ref();
    let older = keys::generate(Alg::ES256, now() + 10).unwrap();
    let newer = keys::generate(Alg::ES256, now() + 11).unwrap();
    // Interleavings of a cold start: each instance inserts, then retires the others' keys; the
    // instance that made the newest key may finish first.
    store.insert_key(&newer).await.unwrap();
    store.retire_all_but_newest("ES256", now()).await.unwrap();
    store.insert_key(&older).await.unwrap();
    store.retire_all_but_newest("ES256", now()).await.unwrap();
    let active: Vec<String> = store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.alg == "ES256" && r.retired_at.is_none())
        .map(|r| r.kid)
        .collect();
    assert_eq!(active, [newer.kid]);
}

/// Several instances share a database on PostgreSQL only (SQLite is one process), so this runs
/// there alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_started_together_on_an_empty_postgres_database_share_one_key_per_alg() {
    let b = Backend::Postgres;
    for round in 0..3 {
        let url = fresh_database(b).await;
        let es = |s: &mut oauthd::Settings| s.signing_alg = Alg::ES256;
        let (x, y, z) = tokio::join!(
            TestApp::spawn_on(url.clone(), es),
            TestApp::spawn_on(url.clone(), es),
            TestApp::spawn_on(url, es)
        );
        let records = x.app.store.list_keys().await.unwrap();
        for alg in ["ES256", "RS256"] {
            let active = records.iter().filter(|r| r.alg == alg && r.retired_at.is_none()).count();
            assert_eq!(active, 1, "round {round}: {alg} has {active} active keys");
        }
        let (id, secret) = x.m2m().await;
        for signer in [&x, &y, &z] {
            signer.app.refresh_keys().await.unwrap();
            let r = signer.post_token_basic(&id, &secret, &[("grant_type", "client_credentials"), ("audience", API)]);
            let (status, _, body) = json(r.await).await;
            assert_eq!(status, 200, "{body}");
            let token = body["access_token"].as_str().unwrap();
            signer.verify(token, API).await;
            let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
            for publisher in [&x, &y, &z] {
                assert!(publisher.jwks().await.find(&kid).is_some(), "round {round}: {kid} is published by all");
            }
        }
    }
}

async fn the_key_refresh_makes_a_new_key_when_every_key_was_retired(b: Backend) {
    let t = TestApp::spawn(b).await;
    let store = t.app.store.as_ref();
    execute(&t, "update signing_keys set retired_at = 1 where alg = 'RS256'").await;
    assert!(keys::lacks_active(&store.list_keys().await.unwrap(), Alg::RS256));
    t.app.refresh_keys().await.unwrap();
    let records = store.list_keys().await.unwrap();
    assert!(!keys::lacks_active(&records, Alg::RS256), "the refresh made an active key");
    let signer = t.app.keys.load().active.kid.clone();
    assert!(records.iter().any(|r| r.kid == signer && r.retired_at.is_none()), "and signs with it");
    // Long after every retired key left the published set, what signs is still published.
    let window = t.app.settings.key_publish_window();
    let set = keys::public_jwks(&records, now() + window + 1, window);
    assert!(set["keys"].as_array().unwrap().iter().any(|k| k["kid"] == signer.as_str()));
}

/// Runs `sql` on the app's database from outside, as an operator with psql would.
async fn execute(t: &TestApp, sql: &str) {
    use sqlx::Connection;
    let url = &t.app.settings.database_url;
    if url.starts_with("sqlite:") {
        sqlx::query(sql).execute(&mut sqlx::SqliteConnection::connect(url).await.unwrap()).await.unwrap();
    } else {
        sqlx::query(sql).execute(&mut sqlx::PgConnection::connect(url).await.unwrap()).await.unwrap();
    }
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
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:device_code"
            ]
        );
        assert_eq!(d["device_authorization_endpoint"], format!("{}/device_authorization", t.base));
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
    instances_rotating_at_once_never_retire_the_newest_key,
    the_key_refresh_makes_a_new_key_when_every_key_was_retired,
    discovery_lists_what_is_implemented,
    health_and_readiness_answer,
);
