//! The hot-path caches (README "Hot path and caches"): clients, trusted issuers and CORS origins
//! stay cached at scale, through a database outage, and are invalidated promptly on every change.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use oauthd::clock::now;
use oauthd::store::Store;

use crate::browser::spa;
use crate::helpers::{Backend, TestApp, API};
use crate::idp::{claims, sign, Idp};
use crate::jwt_bearer::{exchange, trust, GT};
use crate::on_both_backends;
use crate::probe::probed;

const CC: [(&str, &str); 2] = [("grant_type", "client_credentials"), ("audience", API)];
const ORIGIN: &str = "http://127.0.0.1:9999";

/// Polls `check` until it holds, for at most `limit`. True if it did.
async fn within<F: Future<Output = bool>>(limit: Duration, mut check: impl FnMut() -> F) -> bool {
    let started = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if started.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn token_status(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> u16 {
    let r = http.post(format!("{base}/token")).basic_auth(id, Some(secret)).form(&CC).send().await.unwrap();
    r.status().as_u16()
}

/// Whether a CORS preflight for `/token` from `origin` is allowed.
async fn preflight_allows(http: &reqwest::Client, base: &str, origin: &str) -> bool {
    let r = http
        .request(reqwest::Method::OPTIONS, format!("{base}/token"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    r.headers().get("access-control-allow-origin").is_some_and(|v| v == origin)
}

/// Inserts `n` more clients, copies of `template` with new ids, straight through the store.
async fn insert_clients(store: &dyn Store, template: &str, n: usize) -> Vec<String> {
    let template = store.get_client(template).await.unwrap().unwrap();
    let ids: Vec<String> = (0..n).map(|i| format!("bulk-{i}")).collect();
    stream::iter(ids.clone())
        .for_each_concurrent(16, |id| {
            let c = oauthd::store::Client { id, ..template.clone() };
            async move { store.insert_client(&c).await.unwrap() }
        })
        .await;
    ids
}

async fn a_client_used_before_12000_others_is_still_served_from_the_cache(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let (base, probe, app) = probed(&t, |s| s.client_cache_ttl = 600).await;
    assert_eq!(token_status(&t.http, &base, &id, &secret).await, 200);
    let others = insert_clients(t.app.store.as_ref(), &id, 12_000).await;
    stream::iter(others)
        .for_each_concurrent(16, |other| {
            let app = app.clone();
            async move { assert!(app.client(&other).await.unwrap().is_some()) }
        })
        .await;
    assert_eq!(token_status(&t.http, &base, &id, &secret).await, 200);
    assert_eq!(probe.loads(&id), 1, "the first client was not reloaded from the database");
}

async fn a_flood_of_unknown_client_ids_is_remembered_without_evicting_known_clients(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let (base, probe, app) = probed(&t, |s| {
        s.client_cache_ttl = 600;
        s.client_cache_capacity = 100;
    })
    .await;
    assert_eq!(token_status(&t.http, &base, &id, &secret).await, 200);
    for i in 0..1000 {
        assert!(app.client(&format!("nobody-{i}")).await.unwrap().is_none());
    }
    assert_eq!(token_status(&t.http, &base, &id, &secret).await, 200);
    assert_eq!(probe.loads(&id), 1, "the known client stayed cached");
    for _ in 0..3 {
        assert_eq!(token_status(&t.http, &base, "nobody-x", "secret").await, 401);
    }
    assert_eq!(probe.loads("nobody-x"), 1, "an unknown id is looked up once, then remembered");
}

async fn a_client_disabled_through_the_servers_own_store_is_refused_at_once_despite_a_long_ttl(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.client_cache_ttl = 600).await;
    let (id, secret) = t.m2m().await;
    assert_eq!(token_status(&t.http, &t.base, &id, &secret).await, 200);
    t.app.store.set_client_disabled(&id, true, now()).await.unwrap();
    let refused = || async { token_status(&t.http, &t.base, &id, &secret).await == 401 };
    assert!(within(Duration::from_secs(2), refused).await, "still served after 2 s");
}

async fn cors_for_an_allowed_origin_keeps_working_while_the_database_is_down(b: Backend) {
    let t = TestApp::spawn(b).await;
    spa(&t, true, &[]).await;
    let (base, probe, _) = probed(&t, |s| s.client_cache_ttl = 1).await;
    assert!(preflight_allows(&t.http, &base, ORIGIN).await);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the cache TTL
    probe.set_down(true);
    assert!(preflight_allows(&t.http, &base, ORIGIN).await, "the last known origins are served");
    assert!(!preflight_allows(&t.http, &base, "https://evil.test").await);
}

async fn a_client_disabled_by_the_cli_in_another_process_is_refused_within_2_seconds(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.client_cache_ttl = 600).await;
    let (id, secret) = t.m2m().await;
    assert_eq!(token_status(&t.http, &t.base, &id, &secret).await, 200, "cached");
    let (ok, _, err) = crate::cli::oauthd(&t.app.settings.database_url, &["client", "disable", &id], None);
    assert!(ok, "{err}");
    let refused = || async { token_status(&t.http, &t.base, &id, &secret).await == 401 };
    assert!(within(Duration::from_secs(2), refused).await, "the disabled client still works after 2 s");
    let (ok, _, err) = crate::cli::oauthd(&t.app.settings.database_url, &["client", "enable", &id], None);
    assert!(ok, "{err}");
    let served = || async { token_status(&t.http, &t.base, &id, &secret).await == 200 };
    assert!(within(Duration::from_secs(2), served).await, "the enabled client is still refused after 2 s");
}

on_both_backends!(
    a_client_disabled_by_the_cli_in_another_process_is_refused_within_2_seconds,
    a_client_used_before_12000_others_is_still_served_from_the_cache,
    a_flood_of_unknown_client_ids_is_remembered_without_evicting_known_clients,
    a_client_disabled_through_the_servers_own_store_is_refused_at_once_despite_a_long_ttl,
    cors_for_an_allowed_origin_keeps_working_while_the_database_is_down,
);

/// Two instances on one PostgreSQL database with a long cache TTL, and a store of their own for
/// writes from outside both, as the CLI makes them.
async fn two_instances_and_an_outside_writer() -> (TestApp, TestApp, std::sync::Arc<dyn Store>) {
    let tweak = |s: &mut oauthd::Settings| {
        s.client_cache_ttl = 600;
        s.allow_http_loopback_jwks = true;
    };
    let a = TestApp::spawn_with(Backend::Postgres, tweak).await;
    let url = a.app.settings.database_url.clone();
    let issuer = a.base.clone();
    let other = TestApp::spawn_on(url.clone(), |s| {
        tweak(s);
        s.issuer = issuer;
    })
    .await;
    let outside = oauthd::store::open(&url, Duration::from_secs(3)).await.unwrap();
    (a, other, outside)
}

/// Ends every cache listener's connection to the database, and waits until both are back.
async fn terminate_listeners(url: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let listeners = "from pg_stat_activity where datname = current_database() and application_name = 'oauthd-listener'";
    let ended: Vec<(bool,)> =
        sqlx::query_as(&format!("select pg_terminate_backend(pid) {listeners}")).fetch_all(&pool).await.unwrap();
    assert_eq!(ended.len(), 2, "one listener per instance");
    let back = || {
        let q = format!("select count(*) {listeners}");
        let pool = pool.clone();
        async move { sqlx::query_as::<_, (i64,)>(&q).fetch_one(&pool).await.unwrap().0 == 2 }
    };
    assert!(within(Duration::from_secs(10), back).await, "the listeners reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_every_instance_sees_a_change_from_outside_within_2_seconds() {
    let (a, b, outside) = two_instances_and_an_outside_writer().await;
    let (id, secret) = a.m2m().await;
    assert_eq!(token_status(&b.http, &b.base, &id, &secret).await, 200, "warms the other's cache");
    let limit = Duration::from_secs(2);

    let rotated = oauthd::admin::clients::rotate_secret(outside.as_ref(), &id, now()).await.unwrap();
    let old_refused = || async { token_status(&b.http, &b.base, &id, &secret).await == 401 };
    assert!(within(limit, old_refused).await, "the old secret still works after 2 s");
    assert_eq!(token_status(&b.http, &b.base, &id, &rotated).await, 200);

    outside.set_client_disabled(&id, true, now()).await.unwrap();
    let refused = || async { token_status(&b.http, &b.base, &id, &rotated).await == 401 };
    assert!(within(limit, refused).await, "the disabled client still works after 2 s");

    // The listener's connection drops: invalidation works again once it is back.
    terminate_listeners(&a.app.settings.database_url).await;
    outside.set_client_disabled(&id, false, now()).await.unwrap();
    let served = || async { token_status(&b.http, &b.base, &id, &rotated).await == 200 };
    assert!(within(limit, served).await, "the enabled client is still refused after 2 s");

    let idp = Idp::start().await;
    trust(&b, &idp, "passthrough", "required").await;
    let client = b.client(&[GT], "read:x").await;
    let assertion = || sign(&idp.key(), &claims(&idp.base, "alice", &a.base), |_| {});
    assert_eq!(exchange(&b, Some(&client), &assertion(), None).await.0, 200);
    outside.set_issuer_enabled(&idp.base, false).await.unwrap();
    let refused = || async { exchange(&b, Some(&client), &assertion(), None).await.0 == 400 };
    assert!(within(limit, refused).await, "the disabled issuer is still trusted after 2 s");
}
