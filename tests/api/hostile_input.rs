//! Input a database or a header cannot take: NUL bytes (PostgreSQL text refuses them, SQLSTATE
//! 22021) and `error_description` characters outside RFC 6749 §5.2.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use oauthd::oauth::TokenError;
use oauthd::store::StoreError;
use serde_json::json;

use crate::browser::{location, params, query_param, spa, Browser};
use crate::helpers::{json as body, Backend, TestApp, API};
use crate::idp::raw;
use crate::on_both_backends;

const FORM: &str = "application/x-www-form-urlencoded";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CLIENT_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Case {
    name: &'static str,
    path: &'static str,
    body: String,
    /// Raw `user:password` for `Authorization: Basic`, NUL bytes and all.
    basic: Option<String>,
    status: u16,
    error: &'static str,
}

/// An unsigned assertion with these claims: NUL must be refused before any key lookup.
fn assertion(iss: &str, sub: &str, jti: &str, aud: &str) -> String {
    let now = oauthd::clock::now();
    let claims = json!({ "iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + 60, "jti": jti });
    raw(&json!({ "alg": "ES256", "kid": "k" }), &claims, "AAAA")
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn nul_bytes_anywhere_in_a_request_are_a_4xx_rfc_error_never_a_5xx(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["password", "refresh_token", "authorization_code", JWT_BEARER], "read:x").await;
    let auth = format!("client_id={id}&client_secret={secret}");
    let aud = t.base.clone();
    let case = |name, path, body: String, basic: Option<String>, status, error| Case {
        name,
        path,
        body,
        basic,
        status,
        error,
    };
    let cases = vec![
        case(
            "client_id in the body",
            "/token",
            "grant_type=password&client_id=a%00b&client_secret=x".into(),
            None,
            400,
            "invalid_request",
        ),
        case(
            "client_id in Basic, raw",
            "/token",
            "grant_type=password".into(),
            Some("a\0b:x".into()),
            401,
            "invalid_client",
        ),
        case(
            "client_id in Basic, encoded",
            "/token",
            "grant_type=password".into(),
            Some("a%00b:x".into()),
            401,
            "invalid_client",
        ),
        case(
            "username",
            "/token",
            format!("grant_type=password&{auth}&username=x%00&password=p&audience={API}"),
            None,
            400,
            "invalid_request",
        ),
        case(
            "refresh_token",
            "/token",
            format!("grant_type=refresh_token&{auth}&refresh_token=abc%00"),
            None,
            400,
            "invalid_request",
        ),
        case(
            "code",
            "/token",
            format!("grant_type=authorization_code&{auth}&code=abc%00"),
            None,
            400,
            "invalid_request",
        ),
        case(
            "assertion iss",
            "/token",
            format!(
                "grant_type={}&{auth}&assertion={}",
                enc(JWT_BEARER),
                assertion("https://idp\0", "alice", "j1", &aud)
            ),
            None,
            400,
            "invalid_grant",
        ),
        case(
            "assertion jti",
            "/token",
            format!(
                "grant_type={}&{auth}&assertion={}",
                enc(JWT_BEARER),
                assertion("https://idp", "alice", "j\0", &aud)
            ),
            None,
            400,
            "invalid_grant",
        ),
        case(
            "client assertion iss and sub",
            "/token",
            format!(
                "grant_type=client_credentials&client_assertion_type={}&client_assertion={}",
                enc(CLIENT_ASSERTION),
                assertion("svc\0", "svc\0", "j2", &aud)
            ),
            None,
            401,
            "invalid_client",
        ),
        case(
            "client assertion jti",
            "/token",
            format!(
                "grant_type=client_credentials&client_assertion_type={}&client_assertion={}",
                enc(CLIENT_ASSERTION),
                assertion(&id, &id, "j\0", &aud)
            ),
            None,
            401,
            "invalid_client",
        ),
        case("introspected token", "/introspect", format!("{auth}&token=abc%00"), None, 400, "invalid_request"),
        case(
            "revoked token",
            "/revoke",
            format!("{auth}&token=abc%00&token_type_hint=refresh_token"),
            None,
            400,
            "invalid_request",
        ),
    ];
    for c in cases {
        let mut req = t.http.post(t.url(c.path)).header("content-type", FORM).body(c.body.clone());
        if let Some(basic) = &c.basic {
            req = req.header("authorization", format!("Basic {}", STANDARD.encode(basic)));
        }
        let (status, headers, v) = body(req.send().await.unwrap()).await;
        assert_eq!((status, v["error"].as_str()), (c.status, Some(c.error)), "{}: {v}", c.name);
        assert_eq!(headers["cache-control"], "no-store", "{}", c.name);
        if status == 401 {
            assert_eq!(headers["www-authenticate"], "Basic realm=\"oauthd\"", "{}", c.name);
        }
    }
    let page = t.http.get(t.url("/authorize?client_id=a%00b&response_type=code")).send().await.unwrap();
    assert_eq!(page.status(), 400, "/authorize shows an error page");
}

async fn a_value_the_database_refuses_is_invalid_request_not_server_error(b: Backend) {
    let t = TestApp::spawn(b).await;
    // Every entry point refuses NUL; this is the backstop behind them.
    match t.app.store.get_client("a\0b").await {
        Ok(found) => assert!(b == Backend::Sqlite && found.is_none(), "{found:?}"),
        Err(e) => {
            assert!(matches!(e, StoreError::InvalidInput(_)), "{e:?}");
            assert_eq!(TokenError::from(e).code(), "invalid_request");
        }
    }
}

async fn error_descriptions_never_carry_quotes_backslashes_or_non_ascii(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let hostile = "x\"é\\ü€\u{202e}";
    let h = enc(hostile);
    let bodies = [
        (format!("grant_type={h}"), "unsupported_grant_type"),
        (format!("grant_type=client_credentials&audience={h}"), "invalid_target"),
        (format!("grant_type=client_credentials&{h}=1&{h}=2"), "invalid_request"),
        (format!("grant_type=client_credentials&audience={API}&scope={h}"), "invalid_scope"),
    ];
    for (form, error) in bodies {
        let r = t.http.post(t.url("/token")).basic_auth(&id, Some(&secret)).header("content-type", FORM).body(form);
        let (s, _, v) = body(r.send().await.unwrap()).await;
        assert_eq!((s, v["error"].as_str()), (400, Some(error)), "{v}");
        let d = v["error_description"].as_str().unwrap();
        assert!(d.bytes().all(|b| (0x20..=0x7E).contains(&b) && b != b'"' && b != b'\\'), "{error}: {d}");
    }
    let (s, _, v) = body(
        t.post_token_basic(&id, &secret, &[("grant_type", "client_credentials"), ("audience", "https://\"x\"")]).await,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error_description"], "audience 'https://'x'' is unknown or not granted to this client");

    // The same rule on the redirect back from /authorize.
    let spa_id = spa(&t, true, &[]).await;
    let r = Browser::new(&t).authorize(&params(&spa_id, &[("audience", hostile)])).await;
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_target"));
    let d = query_param(&loc, "error_description").unwrap();
    assert!(d.bytes().all(|b| (0x20..=0x7E).contains(&b) && b != b'"' && b != b'\\'), "{d}");
    assert!(d.starts_with("audience 'x'"), "{d}");
}

async fn a_plain_request_id_is_echoed_and_a_forged_one_is_replaced(b: Backend) {
    let t = TestApp::spawn(b).await;
    let send = |id: &str| t.http.get(t.url("/healthz")).header("x-request-id", id).send();
    let r = send("trace-42.a:b").await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-42.a:b");
    for forged in ["x}: oauthd::login: login event=\"login_success\" request{request_id=y", &"a".repeat(65)] {
        let r = send(forged).await.unwrap();
        let echoed = r.headers()["x-request-id"].to_str().unwrap();
        assert!(echoed != forged && uuid::Uuid::parse_str(echoed).is_ok(), "{echoed}");
    }
}

async fn every_back_channel_answer_is_no_store_even_a_405(b: Backend) {
    let t = TestApp::spawn(b).await;
    for path in ["/userinfo", "/token", "/revoke", "/introspect"] {
        let r = t.http.put(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
}

on_both_backends!(
    a_plain_request_id_is_echoed_and_a_forged_one_is_replaced,
    every_back_channel_answer_is_no_store_even_a_405,
    nul_bytes_anywhere_in_a_request_are_a_4xx_rfc_error_never_a_5xx,
    a_value_the_database_refuses_is_invalid_request_not_server_error,
    error_descriptions_never_carry_quotes_backslashes_or_non_ascii,
);
