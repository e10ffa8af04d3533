//! RFC 6749 §5.2 error responses, table-driven: status, code and headers.

use std::sync::Arc;

use async_trait::async_trait;
use oauthd::store::*;

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

/// A store whose database is gone: every call fails as unreachable.
struct DownStore;

macro_rules! down {
    ($($f:ident($($a:ty),*) -> $r:ty;)*) => {
        #[async_trait]
        impl Store for DownStore {
            $(async fn $f(&self, $(_: $a),*) -> $r { Err(StoreError::Unavailable("down".into()).into()) })*
            async fn migrate(&self) -> anyhow::Result<()> { Ok(()) }
            fn pool_state(&self) -> (u32, usize) { (0, 0) }
        }
    };
}

down! {
    ping() -> Result<()>;
    insert_client(&Client) -> Result<()>;
    get_client(&str) -> Result<Option<Client>>;
    list_clients() -> Result<Vec<Client>>;
    set_client_disabled(&str, bool, i64) -> Result<bool>;
    set_client_secret(&str, &str, i64) -> Result<bool>;
    delete_client(&str) -> Result<bool>;
    insert_api(&Api) -> Result<()>;
    get_api(&str) -> Result<Option<Api>>;
    list_apis() -> Result<Vec<Api>>;
    upsert_client_grant(&str, &str, &str) -> Result<()>;
    client_grants(&str) -> Result<Vec<ClientGrant>>;
    insert_key(&KeyRecord) -> Result<()>;
    list_keys() -> Result<Vec<KeyRecord>>;
    retire_all_but_newest(&str, i64) -> Result<()>;
    replace_private_der(&str, &[u8], &[u8]) -> Result<bool>;
    insert_user(&User) -> Result<()>;
    get_user(&str) -> Result<Option<User>>;
    find_user_by_username(&str) -> Result<Option<User>>;
    list_users() -> Result<Vec<User>>;
    set_password_hash(&str, &str, i64) -> Result<bool>;
    set_user_disabled(&str, bool, i64) -> Result<bool>;
    delete_user(&str) -> Result<bool>;
    reserve_login_attempt(&str, &LockoutPolicy) -> Result<Option<User>>;
    lock_if_over_threshold(&str, &LockoutPolicy) -> Result<bool>;
    reset_login_attempts(&str) -> Result<()>;
    insert_refresh_family(&RefreshToken) -> Result<()>;
    find_refresh_token(&str) -> Result<Option<RefreshToken>>;
    rotate_refresh_token(&str, &str, i64, &RefreshToken) -> Result<Rotation>;
    revoke_refresh_family(&str, i64) -> Result<()>;
    revoke_user_refresh_tokens(&str, i64) -> Result<()>;
    revoke_client_refresh_tokens(&str, i64) -> Result<()>;
    all_allowed_origins() -> Result<Vec<String>>;
    insert_code(&AuthCode) -> Result<()>;
    find_code(&str) -> Result<Option<AuthCode>>;
    redeem_code(&str, i64, &Redemption<'_>) -> Result<bool>;
    revoke_code_tokens(&str, i64) -> Result<()>;
    is_jti_revoked(&str) -> Result<bool>;
    revoke_jti(&str, i64) -> Result<()>;
    insert_session(&Session) -> Result<()>;
    get_session(&str) -> Result<Option<Session>>;
    delete_session(&str) -> Result<()>;
    get_consent(&str, &str, &str) -> Result<Option<String>>;
    grant_consent(&str, &str, &str, &str, i64) -> Result<()>;
    insert_issuer(&TrustedIssuer) -> Result<()>;
    get_issuer(&str) -> Result<Option<TrustedIssuer>>;
    list_issuers() -> Result<Vec<TrustedIssuer>>;
    set_issuer_enabled(&str, bool) -> Result<bool>;
    delete_issuer(&str) -> Result<bool>;
    use_jti(&str, &str, i64) -> Result<bool>;
    jti_seen(&str, &str) -> Result<bool>;
    link_user(&str, &str, &str, i64) -> Result<()>;
    linked_user(&str, &str) -> Result<Option<String>>;
    purge_expired(i64) -> Result<u64>;
    set_user_claims(&str, Option<&str>, bool, &str, i64) -> Result<bool>;
    add_session_client(&str, &str) -> Result<()>;
    end_session(&str, i64) -> Result<u64>;
    end_user_sessions(&str, i64) -> Result<u64>;
    claim_logout_deliveries(i64, i64, i64) -> Result<Vec<LogoutDelivery>>;
    finish_logout_delivery(&str) -> Result<()>;
    retry_logout_delivery(&str, i64, i64) -> Result<()>;
}

async fn a_storage_outage_is_503_temporarily_unavailable_never_invalid_client(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    // Same keys and settings, but the database is unreachable.
    let settings = (*t.app.settings).clone();
    let state = oauthd::AppState::assemble(
        settings,
        Arc::new(DownStore),
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
    let ready = t.http.get(url.replace("/token", "/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
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
