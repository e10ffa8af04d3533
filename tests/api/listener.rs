//! The listener and the probes: the connection cap, readiness apart from database health, the
//! shutdown delay, and JSON for whatever axum and the tower layers answer on their own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{fresh_database, json, test_settings, Backend, TestApp, API};

/// Everything `addr` answers to `request` written on a fresh connection, until it closes.
async fn raw(addr: &str, request: &str) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    read.expect("the server closes the connection").unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The value of the metric line `name{listener="addr"}`, if it was rendered.
fn metric(name: &str, addr: &str) -> Option<f64> {
    let prefix = format!("{name}{{listener=\"{addr}\"}} ");
    let text = oauthd::metrics::handle().render();
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_connections_get_a_503_until_one_closes() {
    let t = TestApp::spawn_with(Backend::Sqlite, |s| s.max_connections = 3).await;
    let addr = t.base.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // The fourth is answered without being read, and closed at once.
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_end(&mut answer)).await.expect("closed").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("cache-control: no-store"), "{answer}");
    let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(metric("oauthd_connections_refused_total", &addr), Some(1.0));
    assert_eq!(metric("oauthd_connections_open", &addr), Some(3.0));

    drop(idle.pop());
    let started = Instant::now();
    loop {
        let r = reqwest::Client::new().get(t.url("/healthz")).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no slot freed after a connection closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = metric("oauthd_connections_refused_total", &addr).unwrap();
    assert!(refused >= 1.0, "{refused}");
}

/// An instance with `t`'s keys and settings whose database is unreachable; its base URL.
async fn instance_without_database(t: &TestApp) -> String {
    let state = oauthd::AppState::assemble(
        (*t.app.settings).clone(),
        crate::probe::Probe::down(t.app.store.clone()),
        t.app.keys.load_full(),
        t.app.passwords.clone(),
        None,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(oauthd::serve(listener, Arc::new(state)));
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_holds_while_the_database_is_down_and_healthz_db_reports_it() {
    let t = TestApp::spawn(Backend::Sqlite).await;
    let (s, h, body) = json(t.http.get(t.url("/healthz/db")).send().await.unwrap()).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("up")), "{body}");
    assert_eq!(h["cache-control"], "no-store");

    let down = instance_without_database(&t).await;
    let (s, _, body) = json(t.http.get(format!("{down}/readyz")).send().await.unwrap()).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ready")), "this instance can still serve: {body}");
    let (s, h, body) = json(t.http.get(format!("{down}/healthz/db")).send().await.unwrap()).await;
    assert_eq!((s, body["status"].as_str()), (503, Some("down")), "{body}");
    assert!(h["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(t.http.get(format!("{down}/healthz")).send().await.unwrap().status(), 200);
    // The recorder is process-wide and other tests probe healthy databases: assert presence.
    assert!(oauthd::metrics::handle().render().contains("oauthd_db_up"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_the_shutdown_delay_readiness_fails_and_responses_close_their_connections() {
    let url = fresh_database(Backend::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = test_settings(url, addr);
    settings.shutdown_delay = 3;
    let app = oauthd::AppState::init(settings).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(oauthd::serve_until(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    let t = TestApp { base: format!("http://{addr}"), app, http: reqwest::Client::new() };
    let (id, secret) = t.m2m().await;
    let r = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("connection"), "kept alive before the signal");

    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, h, body) = json(t.http.get(t.url("/readyz")).send().await.unwrap()).await;
    assert_eq!((s, body["status"].as_str()), (503, Some("draining")), "{body}");
    assert_eq!(h["connection"], "close");
    let form = [("grant_type", "client_credentials"), ("audience", API)];
    let (s, h, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "requests are still served: {body}");
    assert_eq!(h["connection"], "close");
    let r = reqwest::Client::new().get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "new connections are still accepted");
    assert_eq!(r.headers()["connection"], "close");

    tokio::time::timeout(Duration::from_secs(10), server).await.expect("the server stops").unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_router_and_layers_answer_on_their_own_is_json_with_no_store() {
    let t = TestApp::spawn(Backend::Sqlite).await;
    let cases = [
        ("GET", "/no/such/path", 404, "not_found"),
        ("GET", "/.well-known/no-such-document", 404, "not_found"),
        ("PUT", "/userinfo", 405, "invalid_request"),
        ("POST", "/.well-known/jwks.json", 405, "invalid_request"),
        ("POST", "/.well-known/openid-configuration", 405, "invalid_request"),
        ("DELETE", "/healthz", 405, "invalid_request"),
        ("POST", "/readyz", 405, "invalid_request"),
    ];
    for (method, path, status, error) in cases {
        let r = t.http.request(method.parse().unwrap(), t.url(path)).send().await.unwrap();
        let (s, h, body) = json(r).await;
        assert_eq!((s, body["error"].as_str()), (status, Some(error)), "{method} {path}: {body}");
        assert!(body["error_description"].is_string(), "{method} {path}");
        assert!(h["content-type"].to_str().unwrap().starts_with("application/json"), "{method} {path}");
        assert_eq!(h["cache-control"], "no-store", "{method} {path}");
        if status == 405 {
            assert!(h.contains_key("allow"), "{method} {path}");
        }
    }
    // A declared body over 64 KiB is refused before it is read (tower-http's RequestBodyLimit).
    let addr = t.base.trim_start_matches("http://");
    for path in ["/.well-known/jwks.json", "/healthz"] {
        let answer = raw(
            addr,
            &format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(answer.contains("content-type: application/json"), "{path}: {answer}");
        assert!(answer.contains("\"error\":\"invalid_request\""), "{path}: {answer}");
    }
}

/// PostgreSQL only: there a lock blocks reads, so a document can be made to stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_past_request_timeout_is_a_503_json_not_a_bare_408() {
    use sqlx::Connection;
    let t = TestApp::spawn_with(Backend::Postgres, |s| s.request_timeout = 1).await;
    let mut lock = sqlx::PgConnection::connect(&t.app.settings.database_url).await.unwrap();
    sqlx::query("begin").execute(&mut lock).await.unwrap();
    sqlx::query("lock table apis in access exclusive mode").execute(&mut lock).await.unwrap();
    let r = t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap();
    let (s, h, body) = json(r).await;
    assert_eq!((s, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["retry-after"], "5");
    sqlx::query("rollback").execute(&mut lock).await.unwrap();
    let r = t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
