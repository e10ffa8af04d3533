//! Logins under faults (RFC 6749 §5.2 answers): a full or flooded hash queue, abandoned requests,
//! and a database that fails half-way through the lockout bookkeeping.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use oauthd::Settings;

use crate::browser::*;
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;
use crate::password::{pw_form, stored};

const CC: [(&str, &str); 2] = [("grant_type", "client_credentials"), ("audience", API)];
// The recorder is process-wide: other tests add to these counters too.
const SKIPPED: &str = r#"oauthd_password_hash_jobs_total{outcome="skipped"}"#;
const REJECTED: &str = r#"oauthd_password_hash_jobs_total{outcome="rejected"}"#;

/// Argon2id slow enough (a few hundred ms in a debug build) that requests pile up behind it.
fn slow_hashes(s: &mut Settings) {
    s.argon2_memory_kib = 8192;
    s.argon2_iterations = 12;
    s.ip_failure_limit = 100_000;
}

/// Serves the app's `/metrics` on a listener of its own; returns its URL.
async fn metrics_url(t: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let router = oauthd::http::metrics_routes(t.app.clone());
    let limits = oauthd::http::server::ConnLimits::from_settings(&t.app.settings);
    tokio::spawn(oauthd::http::server::serve(listener, router, limits, std::future::pending()));
    url
}

/// The value of the first sample of `metric` (a name with its labels) on the metrics page.
async fn sample(t: &TestApp, url: &str, metric: &str) -> Option<f64> {
    let text = t.http.get(url).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(metric)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn a_full_hash_queue_is_503_at_once_on_the_token_endpoint_and_the_login_form(b: Backend) {
    let t = TestApp::spawn_with(b, |s| {
        slow_hashes(s);
        s.password_hash_concurrency = 1;
        s.password_hash_queue = 1;
    })
    .await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    // Distinct unknown users: each needs its own (dummy) hash.
    let names: Vec<String> = (0..8).map(|i| format!("nobody-{i}")).collect();
    let (t, id, secret) = (&t, &id, &secret);
    let answers = join_all(
        names
            .iter()
            .map(|n| async move { json(t.post_token_basic(id, secret, &pw_form(n, "x", "read:x")).await).await }),
    )
    .await;
    let busy: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 503).collect();
    assert!(busy.len() >= 4, "one hashing, one queued, the rest refused: {answers:?}");
    for (s, h, body) in &answers {
        assert!(*s == 503 || (*s == 400 && body["error"] == "invalid_grant"), "{s} {body}");
        assert!(h["content-type"].to_str().unwrap().starts_with("application/json"), "{s} {body}");
        assert_eq!(h["cache-control"], "no-store");
    }
    for (_, h, body) in busy {
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    }
    let metrics = metrics_url(t).await;
    assert!(sample(t, &metrics, REJECTED).await.unwrap_or(0.0) >= 4.0, "refusals are counted");

    let spa = spa(t, true, &[]).await;
    let br = Browser::new(t);
    let p = params(&spa, &[]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let logins = join_all(names.iter().map(|n| br.login(&page, &p, n, "x"))).await;
    let busy: Vec<_> = logins.iter().filter(|r| r.status() == 503).collect();
    assert!(busy.len() >= 4, "{:?}", logins.iter().map(|r| r.status()).collect::<Vec<_>>());
    for r in busy {
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(r.headers().contains_key("retry-after"));
    }
}

async fn an_abandoned_login_does_not_count_toward_the_lockout(b: Backend) {
    let t = TestApp::spawn_with(b, |s| {
        slow_hashes(s);
        // Slower still: with the hashing threads' memory reused, 12 passes can beat 100 ms.
        s.argon2_iterations = 48;
        s.password_hash_concurrency = 1;
        s.lockout_threshold = 1;
    })
    .await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("patient", "pw-patient").await;
    t.user("other", "pw-other").await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().unwrap();
    let form = pw_form("patient", "pw-patient", "read:x");
    // The client gives up mid-hash; on a busy machine an answer may still beat the timeout, so
    // try a few times until one attempt really is abandoned.
    let mut abandoned = false;
    for _ in 0..5 {
        let r = impatient.post(t.url("/token")).basic_auth(&id, Some(&secret)).form(&form).send().await;
        if r.is_err() {
            abandoned = true;
            break;
        }
        eprintln!("answered within the client's timeout: {r:?}");
    }
    assert!(abandoned, "no attempt was abandoned mid-hash");
    // One hashing thread: once this answers, the abandoned attempt's hash is over too.
    assert_eq!(t.post_token_basic(&id, &secret, &pw_form("other", "pw-other", "read:x")).await.status(), 200);
    assert_eq!(stored(&t, "patient").await.failed_count, 0, "no wrong password was given");
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "{body}");
}

async fn abandoned_logins_are_skipped_so_the_hash_queue_drains_and_client_credentials_keep_working(b: Backend) {
    let t = TestApp::spawn_with(b, slow_hashes).await;
    let metrics = metrics_url(&t).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    let (m2m, m2m_secret) = t.m2m().await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
    let skipped_before = sample(&t, &metrics, SKIPPED).await.unwrap_or(0.0);
    // One hash's time on this machine now, so the bound below holds on a busy machine too.
    t.user("timed", "pw-timed").await;
    let started = Instant::now();
    assert_eq!(t.post_token_basic(&id, &secret, &pw_form("timed", "pw-timed", "read:x")).await.status(), 200);
    let one_hash = started.elapsed();
    let names: Vec<String> = (0..100).map(|i| format!("flood-{i}")).collect();
    let flood = join_all(names.iter().map(|n| {
        impatient.post(t.url("/token")).basic_auth(&id, Some(&secret)).form(&pw_form(n, "x", "read:x")).send()
    }));
    let machine = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        t.post_token_basic(&m2m, &m2m_secret, &CC).await.status()
    };
    let (answers, cc) = tokio::join!(flood, machine);
    assert_eq!(cc, 200, "client_credentials during the flood");
    assert!(answers.iter().any(|r| r.is_err()), "the flood's clients gave up");
    let ended = Instant::now();
    loop {
        let queued = sample(&t, &metrics, "oauthd_password_hash_queue").await.expect("queue gauge");
        if queued == 0.0 {
            break;
        }
        // Hashing the 64 queued jobs on 2 threads would take 32 hashes' time; skipping them
        // leaves only the hashes already running.
        let bound = (one_hash * 8).max(Duration::from_secs(2));
        assert!(ended.elapsed() < bound, "still {queued} queued {:?} after the flood", ended.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let skipped = sample(&t, &metrics, SKIPPED).await.unwrap_or(0.0);
    assert!(skipped > skipped_before, "abandoned jobs were skipped, not hashed");
    assert_eq!(t.post_token_basic(&m2m, &m2m_secret, &CC).await.status(), 200);
}

/// Makes every write that resets the failure count fail: PostgreSQL sleeps past its statement
/// timeout (the deadline fires), SQLite aborts the statement.
async fn break_count_resets(url: &str, broken: bool) {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        let sql: &[&str] = if broken {
            &[
                "create function slow_reset() returns trigger language plpgsql as
                 $$ begin perform pg_sleep(5); return new; end $$",
                "create trigger slow_reset before update of failed_count on users
                 for each row when (new.failed_count = 0) execute function slow_reset()",
            ]
        } else {
            &["drop trigger slow_reset on users"]
        };
        for q in sql {
            sqlx::query(q).execute(&mut c).await.unwrap();
        }
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        let q = if broken {
            "create trigger slow_reset before update of failed_count on users when new.failed_count = 0
             begin select raise(abort, 'injected storage failure'); end"
        } else {
            "drop trigger slow_reset"
        };
        sqlx::query(q).execute(&mut c).await.unwrap();
    }
}

async fn a_failing_lockout_write_is_a_json_5xx_and_never_refuses_the_right_password(b: Backend) {
    let t = TestApp::spawn_with(b, |s| {
        s.db_timeout_ms = 500;
        s.lockout_threshold = 3;
    })
    .await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("steady", "pw-steady").await;
    let right = pw_form("steady", "pw-steady", "read:x");
    break_count_resets(&t.app.settings.database_url, true).await;
    for _ in 0..5 {
        let (s, h, body) = json(t.post_token_basic(&id, &secret, &right).await).await;
        assert!(h["content-type"].to_str().unwrap().starts_with("application/json"), "{s} {body}");
        assert_eq!(h["cache-control"], "no-store");
        match b {
            Backend::Postgres => assert_eq!((s, body["error"].as_str()), (503, Some("temporarily_unavailable"))),
            // SQLite reports the aborted statement as a plain error: a 500.
            Backend::Sqlite => assert!(matches!(s, 500 | 503), "{s} {body}"),
        }
        assert!(h.contains_key("retry-after") || s == 500, "{s} {body}");
    }
    let spa = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let p = params(&spa, &[]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let r = br.login(&page, &p, "steady", "pw-steady").await;
    assert_eq!(r.status(), 503, "the login form shows the outage, not a wrong password");
    break_count_resets(&t.app.settings.database_url, false).await;
    assert_eq!(stored(&t, "steady").await.failed_count, 0, "a storage failure is not a failed login");
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &right).await).await;
    assert_eq!(s, 200, "{body}");
}

on_both_backends!(
    a_full_hash_queue_is_503_at_once_on_the_token_endpoint_and_the_login_form,
    an_abandoned_login_does_not_count_toward_the_lockout,
    abandoned_logins_are_skipped_so_the_hash_queue_drains_and_client_credentials_keep_working,
    a_failing_lockout_write_is_a_json_5xx_and_never_refuses_the_right_password,
);
