//! RFC 6749 §5.2 error responses, table-driven: status, code and headers.

use std::sync::Arc;

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

struct Case {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    basic: bool,
    status: u16,
    error: &'static str,
}

fn form(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

async fn token_endpoint_errors_follow_rfc6749_section_5_2(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let auth = format!("client_id={id}&client_secret={secret}&audience={API}");
    let ct = "application/x-www-form-urlencoded";
    let cases = vec![
        Case {
            name: "json body",
            content_type: "application/json",
            body: form(r#"{"grant_type":"client_credentials"}"#),
            basic: true,
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "no content type",
            content_type: "",
            body: form("grant_type=client_credentials"),
            basic: true,
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "missing grant_type",
            content_type: ct,
            body: form(""),
            basic: true,
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "repeated grant_type",
            content_type: ct,
            body: form("grant_type=client_credentials&grant_type=client_credentials"),
            basic: true,
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "repeated scope",
            content_type: ct,
            body: form("grant_type=client_credentials&scope=a&scope=b"),
            basic: true,
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "invalid utf-8",
            content_type: ct,
            body: form("grant_type=client_credentials&scope=%ff%fe"),
            basic: true,
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "unknown grant type",
            content_type: ct,
            body: form("grant_type=magic"),
            basic: true,
            status: 400,
            error: "unsupported_grant_type",
        },
        Case {
            name: "grant type not yet built",
            content_type: ct,
            body: form("grant_type=urn:ietf:params:oauth:grant-type:device_code"),
            basic: true,
            status: 400,
            error: "unsupported_grant_type",
        },
        Case {
            name: "both auth methods",
            content_type: ct,
            body: form(&format!("grant_type=client_credentials&client_secret={secret}")),
            basic: true,
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "no client auth",
            content_type: ct,
            body: form("grant_type=client_credentials"),
            basic: false,
            status: 401,
            error: "invalid_client",
        },
        Case {
            name: "wrong post secret",
            content_type: ct,
            body: form(&format!("grant_type=client_credentials&client_id={id}&client_secret=nope")),
            basic: false,
            status: 401,
            error: "invalid_client",
        },
        Case {
            name: "invalid scope chars",
            content_type: ct,
            body: form("grant_type=client_credentials&audience=https://api.test&scope=a%22b"),
            basic: true,
            status: 400,
            error: "invalid_scope",
        },
        Case {
            name: "body over 64 KiB",
            content_type: ct,
            body: form(&format!("grant_type=client_credentials&pad={}", "a".repeat(70_000))),
            basic: true,
            status: 413,
            error: "invalid_request",
        },
        Case {
            name: "json body over 64 KiB",
            content_type: "application/json",
            body: form(&format!("{{\"pad\":\"{}\"}}", "a".repeat(70_000))),
            basic: true,
            status: 413,
            error: "invalid_request",
        },
        Case {
            name: "untyped body over 64 KiB",
            content_type: "",
            body: form(&"a".repeat(70_000)),
            basic: true,
            status: 413,
            error: "invalid_request",
        },
        Case {
            name: "too many parameters",
            content_type: ct,
            body: form(&(0..100).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&")),
            basic: true,
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "valid request",
            content_type: ct,
            body: form(&format!("grant_type=client_credentials&{auth}")),
            basic: false,
            status: 200,
            error: "",
        },
    ];
    for c in cases {
        let mut req = t.http.post(t.url("/token")).body(c.body.clone());
        if !c.content_type.is_empty() {
            req = req.header("content-type", c.content_type);
        }
        if c.basic {
            req = req.basic_auth(&id, Some(&secret));
        }
        let (status, headers, body) = json(req.send().await.unwrap()).await;
        assert_eq!(status, c.status, "{}: {body}", c.name);
        assert_eq!(headers["cache-control"], "no-store", "{}", c.name);
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"), "{}", c.name);
        if c.status != 200 {
            assert_eq!(body["error"], c.error, "{}", c.name);
            assert!(body["error_description"].is_string(), "{}", c.name);
        }
        if c.status == 401 {
            assert_eq!(headers["www-authenticate"], "Basic realm=\"oauthd\"", "{}", c.name);
        }
    }
}

async fn every_invalid_client_is_401_with_a_basic_challenge(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, _) = t.m2m().await;
    for header in ["Basic !!!notbase64", "Basic Zm9v", "Bearer abc"] {
        let r = t
            .http
            .post(t.url("/token"))
            .header("authorization", header)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let (status, headers, body) = json(r).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{header}");
        assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"), "{header}");
    }
    let (status, headers, _) =
        json(t.post_token_basic(&id, "wrong", &[("grant_type", "client_credentials")]).await).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    // RFC 9110 §15.5.2: a 401 carries a challenge even when the client did not use Basic.
    let posts: [&[(&str, &str)]; 3] = [
        &[("grant_type", "client_credentials")],
        &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", "wrong")],
        &[("grant_type", "client_credentials"), ("client_id", "nobody")],
    ];
    for form in posts {
        let (status, headers, body) = json(t.post_token(form).await).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{form:?}");
        assert_eq!(headers["www-authenticate"], "Basic realm=\"oauthd\"", "{form:?}");
    }
    let r = t.http.post(t.url("/introspect")).form(&[("token", "x")]).send().await.unwrap();
    let (status, headers, _) = json(r).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Basic realm=\"oauthd\"");
}

async fn other_methods_on_the_token_endpoint_are_a_json_405_allowing_post(b: Backend) {
    let t = TestApp::spawn(b).await;
    for (method, path) in
        [("GET", "/token"), ("PUT", "/token"), ("DELETE", "/token"), ("GET", "/revoke"), ("GET", "/introspect")]
    {
        let r = t.http.request(method.parse().unwrap(), t.url(path)).send().await.unwrap();
        let (status, headers, body) = json(r).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(headers["allow"], "POST", "{method} {path}");
        assert_eq!(headers["cache-control"], "no-store", "{method} {path}");
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"), "{method} {path}");
        assert_eq!(body["error"], "invalid_request", "{method} {path}");
    }
}

async fn a_storage_outage_is_503_temporarily_unavailable_never_invalid_client(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    // Same keys and settings, but the database is unreachable.
    let settings = (*t.app.settings).clone();
    let state = oauthd::AppState::assemble(
        settings,
        crate::probe::Probe::down(t.app.store.clone()),
        t.app.keys.load_full(),
        t.app.passwords.clone(),
        None,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(oauthd::serve(listener, Arc::new(state)));
    let forms: [&[(&str, &str)]; 4] = [
        &[("grant_type", "client_credentials"), ("audience", API)],
        &[("grant_type", "password"), ("username", "u"), ("password", "p")],
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        &[("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", "https://x.test/cb")],
    ];
    for f in forms {
        let r = t.http.post(&url).basic_auth(&id, Some(&secret)).form(f).send().await.unwrap();
        let (status, headers, body) = json(r).await;
        assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{f:?}");
        assert_eq!(headers["cache-control"], "no-store");
    }
    let db = t.http.get(url.replace("/token", "/healthz/db")).send().await.unwrap();
    assert_eq!(db.status(), 503);
    let ready = t.http.get(url.replace("/token", "/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "readiness is not the database's health");
    let alive = t.http.get(url.replace("/token", "/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200);
    let page = t.http.get(url.replace("/token", "/authorize?client_id=x")).send().await.unwrap();
    assert_eq!(page.status(), 503, "/authorize shows a 503 page");
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

on_both_backends!(
    token_endpoint_errors_follow_rfc6749_section_5_2,
    every_invalid_client_is_401_with_a_basic_challenge,
    other_methods_on_the_token_endpoint_are_a_json_405_allowing_post,
    a_storage_outage_is_503_temporarily_unavailable_never_invalid_client,
);
