//! Limits and observability: rate limits (429 + Retry-After), slow clients, header limits,
//! graceful shutdown, and Prometheus metrics (the connection cap and the shutdown delay are in
//! listener.rs).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::browser::*;
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

const CC: [(&str, &str); 2] = [("grant_type", "client_credentials"), ("audience", API)];

async fn a_client_over_its_rate_limit_gets_429_and_others_are_unaffected(b: Backend) {
    // 1 request/s with a burst of 2.
    let t = TestApp::spawn_with(b, |s| s.rate_limit_per_client = 1).await;
    let (busy, busy_secret) = t.m2m().await;
    let (calm, calm_secret) = t.m2m().await;
    for _ in 0..2 {
        assert_eq!(t.post_token_basic(&busy, &busy_secret, &CC).await.status(), 200);
    }
    let (s, h, body) = json(t.post_token_basic(&busy, &busy_secret, &CC).await).await;
    assert_eq!(s, 429, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(h["cache-control"], "no-store");
    let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert_eq!(t.post_token_basic(&calm, &calm_secret, &CC).await.status(), 200, "another client is not limited");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(t.post_token_basic(&busy, &busy_secret, &CC).await.status(), 200, "the bucket refills");
}

async fn requests_that_fail_client_authentication_do_not_use_up_the_clients_rate_limit(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.rate_limit_per_client = 1).await;
    let (id, secret) = t.m2m().await;
    for _ in 0..5 {
        assert_eq!(t.post_token_basic(&id, "wrong-secret", &CC).await.status(), 401);
    }
    assert_eq!(
        t.post_token_basic(&id, &secret, &CC).await.status(),
        200,
        "the attacker spent nothing of the client's budget"
    );
}

async fn traffic_under_the_limits_is_never_refused(b: Backend) {
    let t = TestApp::spawn_with(b, |s| {
        s.rate_limit_per_client = 20;
        s.rate_limit_per_ip = 20;
    })
    .await;
    let (id, secret) = t.m2m().await;
    for _ in 0..30 {
        assert_eq!(t.post_token_basic(&id, &secret, &CC).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

async fn an_address_over_its_rate_limit_gets_429_on_the_login_form_too(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.rate_limit_per_ip = 1).await;
    let client_id = spa(&t, true, &[]).await;
    t.user("rita", "pw-rita").await;
    let browser = Browser::new(&t);
    let p = params(&client_id, &[]);
    let page = browser.authorize(&p).await.text().await.unwrap();
    let mut last = None;
    for _ in 0..4 {
        last = Some(browser.login(&page, &p, "rita", "wrong").await);
    }
    let r = last.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let (s, h, _) = json(t.post_token(&CC).await).await;
    assert_eq!((s, h.contains_key("retry-after")), (429, true), "the same address is limited on /token");
}

async fn a_client_that_trickles_its_headers_is_disconnected(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.header_read_timeout = 1).await;
    let mut slow = TcpStream::connect(t.base.trim_start_matches("http://")).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    // The server closes (after an optional 408) instead of waiting for the rest of the head.
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "connection still open after 10 s");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let text = String::from_utf8_lossy(&rest);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    // An idle kept-alive connection is closed the same way; prompt clients are unaffected.
    assert_eq!(t.http.get(t.url("/healthz")).send().await.unwrap().status(), 200);
}

async fn oversized_and_overcrowded_request_heads_are_refused(b: Backend) {
    let t = TestApp::spawn(b).await;
    let huge = "a".repeat(32 * 1024);
    let r = t.http.get(t.url("/healthz")).header("x-big", &huge).send().await;
    assert!(r.is_err() || r.unwrap().status() == 431, "a 32 KiB header is refused");
    let mut many = reqwest::header::HeaderMap::new();
    for i in 0..100 {
        many.insert(
            reqwest::header::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            "1".parse().unwrap(),
        );
    }
    let r = t.http.get(t.url("/healthz")).headers(many).send().await;
    assert!(r.is_err() || r.unwrap().status() == 431, "100 header fields are refused");
    assert_eq!(t.http.get(t.url("/healthz")).send().await.unwrap().status(), 200);
}

async fn shutdown_lets_an_in_flight_token_request_finish_and_refuses_new_ones(b: Backend) {
    let url = crate::helpers::fresh_database(b).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = crate::helpers::test_settings(url, addr);
    settings.shutdown_delay = 0;
    let app = oauthd::AppState::init(settings).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(oauthd::serve_until(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    let t = TestApp { base: format!("http://{addr}"), app, http: reqwest::Client::new() };
    let (id, secret) = t.m2m().await;
    let body = format!("grant_type=client_credentials&audience={}&client_id={id}&client_secret={secret}", API);
    // The head is in; the body is still on its way when the shutdown starts.
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "new connections are refused once shutdown starts");
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut resp)).await.unwrap().unwrap();
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"access_token\""), "{resp}");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("server stops").unwrap().unwrap();
}

async fn metrics_count_requests_by_endpoint_grant_and_outcome(b: Backend) {
    let t = TestApp::spawn(b).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = format!("http://{}/metrics", listener.local_addr().unwrap());
    let router = oauthd::http::metrics_routes(t.app.clone());
    let limits = oauthd::http::server::ConnLimits::from_settings(&t.app.settings);
    tokio::spawn(oauthd::http::server::serve(listener, router, limits, std::future::pending()));
    let (id, secret) = t.m2m().await;
    assert_eq!(t.post_token_basic(&id, &secret, &CC).await.status(), 200);
    assert_eq!(t.post_token_basic(&id, "wrong", &CC).await.status(), 401);
    let r = t.http.get(&metrics).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    // The recorder is process-wide, so other tests add to these counters: assert presence.
    for needle in [
        r#"oauthd_token_requests_total{grant="client_credentials",outcome="ok"}"#,
        r#"oauthd_token_requests_total{grant="client_credentials",outcome="invalid_client"}"#,
        r#"oauthd_http_requests_total{endpoint="/token",status="200"}"#,
        r#"oauthd_http_request_duration_seconds_bucket{endpoint="/token",le="0.005"}"#,
        "oauthd_db_pool_connections",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    assert!(!text.contains(&secret), "no secrets in metrics");
    assert!(text.contains("oauthd_db_up"), "the scrape probes the database");
    let (s, _, body) = json(t.http.get(metrics.replace("/metrics", "/nope")).send().await.unwrap()).await;
    assert_eq!((s, body["error"].as_str()), (404, Some("not_found")));
    assert_eq!(t.http.get(t.url("/metrics")).send().await.unwrap().status(), 404, "not on the public listener");
}

async fn sigterm_under_load_finishes_in_flight_requests_refuses_new_ones_and_exits_zero(b: Backend) {
    use crate::cli::oauthd;
    let db = crate::helpers::fresh_database(b).await;
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert!(oauthd(&db, &["api", "create", "--identifier", API, "--scope", "read:x"], None).0);
    let (ok, out, err) =
        oauthd(&db, &["client", "create", "--name", "m", "--api", API, "--scope", "read:x", "--json"], None);
    assert!(ok, "{err}");
    let c: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (id, secret) = (c["client_id"].as_str().unwrap().to_string(), c["client_secret"].as_str().unwrap().to_string());
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .arg("serve")
        .env("OAUTHD_DATABASE_URL", &db)
        .env("OAUTHD_BIND", addr.to_string())
        .env("OAUTHD_SHUTDOWN_GRACE", "10")
        .env("OAUTHD_SHUTDOWN_DELAY", "1")
        .current_dir(std::env::temp_dir())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server did not start");
    // Load: 8 clients hammering /token until the server goes away.
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (http, url, id, secret) = (http.clone(), format!("{base}/token"), id.clone(), secret.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while let Ok(r) = http.post(&url).basic_auth(&id, Some(&secret)).form(&CC).send().await {
                    statuses.push(r.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    // One request whose body is still on its way when SIGTERM arrives.
    let body = format!("grant_type=client_credentials&audience={API}&client_id={id}&client_secret={secret}");
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // First the shutdown delay: still serving, but no longer ready, and closing every connection.
    let r = reqwest::Client::new().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["connection"].to_str().unwrap()), (503, "close"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "new connections are refused once the delay is over");
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut resp)).await.unwrap().unwrap();
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200") && resp.contains("access_token"), "{resp}");
    let mut served = 0;
    for task in load {
        let statuses = task.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "{statuses:?}");
        served += statuses.len();
    }
    assert!(served > 8, "the load ran ({served} responses)");
    let started = Instant::now();
    let status = loop {
        if let Some(st) = server.try_wait().unwrap() {
            break st;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running after the grace period");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
}

on_both_backends!(
    a_client_over_its_rate_limit_gets_429_and_others_are_unaffected,
    requests_that_fail_client_authentication_do_not_use_up_the_clients_rate_limit,
    traffic_under_the_limits_is_never_refused,
    an_address_over_its_rate_limit_gets_429_on_the_login_form_too,
    a_client_that_trickles_its_headers_is_disconnected,
    oversized_and_overcrowded_request_heads_are_refused,
    shutdown_lets_an_in_flight_token_request_finish_and_refuses_new_ones,
    metrics_count_requests_by_endpoint_grant_and_outcome,
    sigterm_under_load_finishes_in_flight_requests_refuses_new_ones_and_exits_zero,
);
