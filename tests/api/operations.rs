//! Operations: several instances on one database, keys encrypted at rest, purging, outages.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauthd::clock::now;
use oauthd::jwt::keys::{self, Alg};

use crate::browser::*;
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

async fn pair(b: Backend) -> (TestApp, TestApp) {
    let a = TestApp::spawn_with(b, |s| s.lockout_threshold = 5).await;
    let url = a.app.settings.database_url.clone();
    let issuer = a.base.clone();
    let other = TestApp::spawn_on(url, |s| {
        s.issuer = issuer;
        s.lockout_threshold = 5;
    })
    .await;
    (a, other)
}

async fn two_instances_on_one_database_behave_as_one_server(b: Backend) {
    let (a, other) = pair(b).await;
    let (id, secret) = a.client(&["client_credentials", "password", "refresh_token"], "read:x").await;
    let cc = [("grant_type", "client_credentials"), ("audience", API)];

    // Tokens from one verify with the other's JWKS.
    let (_, _, tok) = json(a.post_token_basic(&id, &secret, &cc).await).await;
    other.verify(tok["access_token"].as_str().unwrap(), API).await;

    // A key rotated on one is published by both at once, and signed with after the refresh.
    let rec = keys::rotate(a.app.store.as_ref(), Alg::RS256, now(), None).await.unwrap();
    assert!(other.jwks().await.find(&rec.kid).is_some());
    other.app.refresh_keys().await.unwrap();
    let (_, _, tok) = json(other.post_token_basic(&id, &secret, &cc).await).await;
    assert_eq!(jsonwebtoken::decode_header(tok["access_token"].as_str().unwrap()).unwrap().kid.unwrap(), rec.kid);
    a.verify(tok["access_token"].as_str().unwrap(), API).await;

    // Refresh rotation on one; the retry of a lost answer on the other, within the reuse grace,
    // supersedes it; reuse of the superseded token is detected on the first.
    a.user("xia", "pw-xia").await;
    let pw = [
        ("grant_type", "password"),
        ("username", "xia"),
        ("password", "pw-xia"),
        ("audience", API),
        ("scope", "offline_access"),
    ];
    let refresh = |t: &TestApp, rt: &str| {
        let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
        let r = t.http.post(t.url("/token")).basic_auth(&id, Some(&secret)).form(&form).send();
        async move { json(r.await.unwrap()).await }
    };
    let (_, _, first) = json(a.post_token_basic(&id, &secret, &pw).await).await;
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    let (s, _, second) = refresh(&a, &rt).await;
    assert_eq!(s, 200);
    let (s, _, retried) = refresh(&other, &rt).await;
    assert_eq!(s, 200, "the grace holds across instances: {retried}");
    let (s, _, _) = refresh(&a, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 400, "superseded");
    let (s, _, _) = refresh(&other, retried["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 400, "the family was revoked through the other instance");

    // Lockout counters are shared: 3 failures on each of two instances lock at 5.
    a.user("yan", "pw-yan").await;
    for t in [&a, &other] {
        for _ in 0..3 {
            t.post_token_basic(
                &id,
                &secret,
                &[("grant_type", "password"), ("username", "yan"), ("password", "bad"), ("audience", API)],
            )
            .await;
        }
    }
    let ok = [("grant_type", "password"), ("username", "yan"), ("password", "pw-yan"), ("audience", API)];
    assert_eq!(a.post_token_basic(&id, &secret, &ok).await.status(), 400);
    assert_eq!(other.post_token_basic(&id, &secret, &ok).await.status(), 400);

    // A client disabled through one is rejected by both within the cache bound.
    a.app.store.set_client_disabled(&id, true, now()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(a.post_token_basic(&id, &secret, &cc).await.status(), 401);
    assert_eq!(other.post_token_basic(&id, &secret, &cc).await.status(), 401);
}

async fn a_code_issued_by_one_instance_is_redeemed_once_across_both(b: Backend) {
    let (a, other) = pair(b).await;
    let spa_id = spa(&a, true, &[]).await;
    a.user("zed", "pw-zed").await;
    let br = Browser::new(&a);
    let code = br.code_for(&params(&spa_id, &[]), "zed", "pw-zed").await;
    let (s, _) = exchange(&other, &spa_id, &code, Some(VERIFIER)).await;
    assert_eq!(s, 200);
    let (s, _) = exchange(&a, &spa_id, &code, Some(VERIFIER)).await;
    assert_eq!(s, 400);
}

async fn signing_keys_are_encrypted_at_rest_with_the_configured_key(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.key_encryption_key = oauthd::config::Secret(KEK.into())).await;
    let keys = t.app.store.list_keys().await.unwrap();
    assert!(keys[0].private_der.starts_with(b"oauthd-kek-v1"), "stored encrypted");
    let (id, secret) = t.m2m().await;
    let (s, _, tok) =
        json(t.post_token_basic(&id, &secret, &[("grant_type", "client_credentials"), ("audience", API)]).await).await;
    assert_eq!(s, 200);
    t.verify(tok["access_token"].as_str().unwrap(), API).await;
    // Without the key, an instance on the same database refuses to start instead of signing.
    let url = t.app.settings.database_url.clone();
    let listener = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let mut settings = crate::helpers::test_settings(url, listener);
    settings.signing_alg = Alg::RS256;
    let err = oauthd::AppState::init(settings).await.err().expect("refuses to start");
    assert!(err.to_string().contains("key_encryption_key"), "{err}");
}

async fn the_production_profile_refuses_to_start_without_a_key_encryption_key(_b: Backend) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .args(["migrate"])
        .env("OAUTHD_PROFILE", "production")
        .env("OAUTHD_DATABASE_URL", "sqlite::memory:")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("key_encryption_key"));
}

async fn expired_single_use_state_is_purged(b: Backend) {
    let t = TestApp::spawn(b).await;
    let store = t.app.store.as_ref();
    assert!(store.use_jti("iss", "old", now() - 10).await.unwrap());
    assert!(!store.use_jti("iss", "old", now() - 10).await.unwrap());
    store.revoke_jti("gone", now() - 10).await.unwrap();
    assert!(store.purge_expired(now()).await.unwrap() >= 2);
    assert!(!store.is_jti_revoked("gone").await.unwrap());
    assert!(store.use_jti("iss", "old", now() + 10).await.unwrap(), "the purged jti row is gone");
}

async fn keys_stored_before_a_kek_was_set_are_sealed_at_the_next_start(b: Backend) {
    let plain = TestApp::spawn(b).await;
    let url = plain.app.settings.database_url.clone();
    let stored = plain.app.store.list_keys().await.unwrap();
    assert!(stored.iter().all(|k| !oauthd::jwt::kek::is_sealed(&k.private_der)), "no KEK: plaintext");
    let (id, secret) = plain.m2m().await;
    let form = [("grant_type", "client_credentials"), ("audience", API)];
    let (_, _, old) = json(plain.post_token_basic(&id, &secret, &form).await).await;
    let old = old["access_token"].as_str().unwrap().to_string();
    let kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();

    let issuer = plain.base.clone();
    let sealed = TestApp::spawn_on(url, |s| {
        s.key_encryption_key = oauthd::config::Secret(KEK.into());
        s.issuer = issuer;
    })
    .await;
    let resealed = sealed.app.store.list_keys().await.unwrap();
    assert_eq!(resealed.len(), stored.len(), "no key was added or lost");
    assert!(resealed.iter().all(|k| oauthd::jwt::kek::is_sealed(&k.private_der)), "every key sealed in the database");
    // Same keys: the old token verifies and new tokens carry the same kid.
    sealed.verify(&old, API).await;
    let (s, _, new) = json(sealed.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "{new}");
    let new = new["access_token"].as_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(new).unwrap().kid.unwrap(), kid);
    sealed.verify(new, API).await;
}

async fn a_key_rotated_without_the_kek_is_sealed_at_the_servers_next_key_refresh(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.key_encryption_key = oauthd::config::Secret(KEK.into())).await;
    let store = t.app.store.as_ref();
    // What `oauthd keys rotate` does in a shell that lacks the KEK.
    let rec = oauthd::jwt::keys::rotate(store, oauthd::jwt::keys::Alg::ES256, now(), None).await.unwrap();
    let stored = |kid: String| async move {
        store.list_keys().await.unwrap().into_iter().find(|k| k.kid == kid).unwrap().private_der
    };
    assert!(!oauthd::jwt::kek::is_sealed(&stored(rec.kid.clone()).await));
    t.app.refresh_keys().await.unwrap();
    assert!(oauthd::jwt::kek::is_sealed(&stored(rec.kid.clone()).await), "sealed by the refresh");
    let ring = t.app.keys.load();
    assert!(ring.jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == rec.kid.as_str()), "still published");
}

async fn the_background_purge_runs_soon_after_start_and_every_purge_interval(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.purge_interval = 1).await;
    let store = t.app.store.as_ref();
    assert!(store.use_jti("iss", "stale", now() - 10).await.unwrap());
    store.revoke_jti("stale-token", now() - 10).await.unwrap();
    oauthd::state::spawn_purge(t.app.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.jti_seen("iss", "stale").await.unwrap() || store.is_jti_revoked("stale-token").await.unwrap() {
        assert!(Instant::now() < deadline, "expired rows were not purged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And again on the next round, not only once.
    assert!(store.use_jti("iss", "stale-2", now() - 10).await.unwrap());
    while store.jti_seen("iss", "stale-2").await.unwrap() {
        assert!(Instant::now() < deadline, "the second round did not run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_backends!(
    keys_stored_before_a_kek_was_set_are_sealed_at_the_next_start,
    a_key_rotated_without_the_kek_is_sealed_at_the_servers_next_key_refresh,
    the_background_purge_runs_soon_after_start_and_every_purge_interval,
    two_instances_on_one_database_behave_as_one_server,
    a_code_issued_by_one_instance_is_redeemed_once_across_both,
    signing_keys_are_encrypted_at_rest_with_the_configured_key,
    the_production_profile_refuses_to_start_without_a_key_encryption_key,
    expired_single_use_state_is_purged,
    a_lock_held_elsewhere_is_503_within_5_seconds,
    a_back_channel_request_past_request_timeout_is_503_json,
);

/// A TCP proxy in front of PostgreSQL that a test can cut (connections reset), stall (bytes
/// held back, connections left open: a black hole) and restore.
struct Cut {
    up: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    port: u16,
}

/// Copies `from` to `to`, holding bytes back while `stalled` is set.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Cut {
    async fn start(target: &str) -> Cut {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (up2, stalled2, conns2, target) = (up.clone(), stalled.clone(), conns.clone(), target.to_string());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue;
                }
                let (target, stalled) = (target.clone(), stalled2.clone());
                let h = tokio::spawn(async move {
                    if let Ok(out) = tokio::net::TcpStream::connect(&target).await {
                        let ((in_r, in_w), (out_r, out_w)) = (inbound.into_split(), out.into_split());
                        tokio::join!(pump(in_r, out_w, stalled.clone()), pump(out_r, in_w, stalled));
                    }
                });
                conns2.lock().unwrap().push(h.abort_handle());
            }
        });
        Cut { up, stalled, conns, port }
    }

    fn stall(&self, on: bool) {
        self.stalled.store(on, Ordering::SeqCst);
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_503_and_recovers_without_a_restart() {
    let url = crate::helpers::fresh_database(Backend::Postgres).await;
    let u = url::Url::parse(&url).unwrap();
    let proxy = Cut::start(&format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))).await;
    let mut via = u.clone();
    via.set_port(Some(proxy.port)).unwrap();
    let t = TestApp::spawn_on(via.to_string(), |s| s.db_timeout_ms = 2000).await;
    let (id, secret) = t.m2m().await;
    let (other, other_secret) = t.m2m().await;
    let cc = [("grant_type", "client_credentials"), ("audience", API)];
    assert_eq!(t.post_token_basic(&id, &secret, &cc).await.status(), 200, "warms the client cache");

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the cache TTL
    let started = Instant::now();
    let (s, _, body) = json(t.post_token_basic(&other, &other_secret, &cc).await).await;
    assert_eq!((s, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &cc).await).await;
    assert_eq!(s, 200, "a cached client keeps getting tokens: {body}");
    let (s, _, body) = json(
        t.post_token_basic(
            &id,
            &secret,
            &[("grant_type", "password"), ("username", "u"), ("password", "p"), ("audience", API)],
        )
        .await,
    )
    .await;
    assert!(s == 503 || (s == 400 && body["error"] == "unauthorized_client"), "{s} {body}");
    assert_eq!(t.http.get(t.url("/healthz/db")).send().await.unwrap().status(), 503);
    assert_eq!(t.http.get(t.url("/readyz")).send().await.unwrap().status(), 200, "still serving cached clients");
    assert_eq!(t.http.get(t.url("/healthz")).send().await.unwrap().status(), 200);
    let page = t.http.get(t.url(&format!("/authorize?client_id=unknown-{}", now()))).send().await.unwrap();
    assert_eq!(page.status(), 503);

    proxy.restore();
    let back = Instant::now();
    loop {
        if t.post_token_basic(&other, &other_secret, &cc).await.status() == 200 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(10), "not recovered within 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

type Auth<'a> = (&'a str, &'a str);
type Form<'a> = &'a [(&'a str, &'a str)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_postgres_is_503_within_5_seconds_on_every_endpoint() {
    let url = crate::helpers::fresh_database(Backend::Postgres).await;
    let u = url::Url::parse(&url).unwrap();
    let proxy = Cut::start(&format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))).await;
    let mut via = u.clone();
    via.set_port(Some(proxy.port)).unwrap();
    let t = TestApp::spawn_on(via.to_string(), |_| {}).await;
    let (id, secret) = t.client(&["password", "refresh_token"], "read:x").await;
    t.user("bo", "pw-bo").await;
    let (other, other_secret) = t.m2m().await;
    let pw = [("grant_type", "password"), ("username", "bo"), ("password", "pw-bo"), ("audience", API)];
    assert_eq!(t.post_token_basic(&id, &secret, &pw).await.status(), 200, "warms the client cache");

    // Connections stay open, but nothing comes back: only a client-side deadline ends the wait.
    proxy.stall(true);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the client cache TTL
    let cc = [("grant_type", "client_credentials"), ("audience", API)];
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    let introspect = [("token", "x"), ("token_type_hint", "refresh_token")];
    let (uncached, cached) = ((other.as_str(), other_secret.as_str()), (id.as_str(), secret.as_str()));
    let calls: [(&str, Auth, Form); 5] = [
        ("/token", uncached, &cc),
        ("/token", cached, &pw),
        ("/token", cached, &refresh),
        ("/introspect", cached, &introspect),
        ("/revoke", cached, &introspect),
    ];
    for (path, (client, client_secret), form) in calls {
        let started = Instant::now();
        let r = t.http.post(t.url(path)).basic_auth(client, Some(client_secret)).form(form).send().await.unwrap();
        let (s, headers, body) = json(r).await;
        assert_eq!((s, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{path} {form:?}: {body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(started.elapsed() < Duration::from_secs(5), "{path} {form:?} answered in {:?}", started.elapsed());
    }
    let started = Instant::now();
    assert_eq!(t.http.get(t.url("/healthz/db")).send().await.unwrap().status(), 503);
    assert_eq!(t.http.get(t.url("/readyz")).send().await.unwrap().status(), 200);
    let page = t.http.get(t.url(&format!("/authorize?client_id=unknown-{}", now()))).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    proxy.stall(false);
    let back = Instant::now();
    while t.post_token_basic(&other, &other_secret, &cc).await.status() != 200 {
        assert!(back.elapsed() < Duration::from_secs(15), "not recovered within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Holds a write lock on the users table from another connection until dropped.
enum WriteLock {
    Pg(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

async fn lock_users(url: &str) -> WriteLock {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("begin").execute(&mut c).await.unwrap();
        sqlx::query("lock table users in access exclusive mode").execute(&mut c).await.unwrap();
        WriteLock::Pg(c)
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query("begin immediate").execute(&mut c).await.unwrap();
        WriteLock::Sqlite(c)
    }
}

impl WriteLock {
    async fn release(self) {
        match self {
            WriteLock::Pg(mut c) => sqlx::query("rollback").execute(&mut c).await.map(drop).unwrap(),
            WriteLock::Sqlite(mut c) => sqlx::query("rollback").execute(&mut c).await.map(drop).unwrap(),
        }
    }
}

async fn a_lock_held_elsewhere_is_503_within_5_seconds(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("lu", "pw-lu").await;
    let lock = lock_users(&t.app.settings.database_url).await;
    let started = Instant::now();
    let pw = [("grant_type", "password"), ("username", "lu"), ("password", "pw-lu"), ("audience", API)];
    let (s, headers, body) = json(t.post_token_basic(&id, &secret, &pw).await).await;
    assert_eq!((s, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert_eq!(headers["retry-after"], "5");
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
    lock.release().await;
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &pw).await).await;
    assert_eq!(s, 200, "{body}");
}

async fn a_back_channel_request_past_request_timeout_is_503_json(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.request_timeout = 1).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("ru", "pw-ru").await;
    let lock = lock_users(&t.app.settings.database_url).await;
    let started = Instant::now();
    let pw = [("grant_type", "password"), ("username", "ru"), ("password", "pw-ru"), ("audience", API)];
    let (s, headers, body) = json(t.post_token_basic(&id, &secret, &pw).await).await;
    assert_eq!((s, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the request deadline, not the database's: {:?}",
        started.elapsed()
    );
    lock.release().await;
}
