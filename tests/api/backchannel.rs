//! OIDC Back-Channel Logout 1.0: logout tokens (§2.4) POSTed (§2.5) to every client of a session
//! that ends, by /logout, by the operator, or by a user's disable, delete or password change;
//! delivered off the request path with bounded retries; https and public addresses only.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

use crate::browser::*;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

/// A relying party's back-channel logout endpoint: records each form body, answers `status`.
struct Rp {
    url: String,
    got: Arc<Mutex<Vec<String>>>,
    status: Arc<Mutex<u16>>,
}

impl Rp {
    async fn start() -> Rp {
        type S = (Arc<Mutex<Vec<String>>>, Arc<Mutex<u16>>);
        async fn receive(State((got, status)): State<S>, body: String) -> StatusCode {
            got.lock().unwrap().push(body);
            StatusCode::from_u16(*status.lock().unwrap()).unwrap()
        }
        let got = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(Mutex::new(200));
        let app = axum::Router::new().route("/bc", post(receive)).with_state((got.clone(), status.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/bc", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Rp { url, got, status }
    }

    /// Waits (up to `secs`) for `n` logout tokens and returns them.
    async fn tokens(&self, n: usize, secs: u64) -> Vec<String> {
        for _ in 0..secs * 10 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got = self.got.lock().unwrap().clone();
        got.iter()
            .map(|b| {
                url::form_urlencoded::parse(b.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .expect("logout_token")
                    .1
                    .into_owned()
            })
            .collect()
    }
}

async fn app(b: Backend, attempts: u64) -> TestApp {
    TestApp::spawn_with(b, |s| {
        s.allow_http_loopback_backchannel = true;
        s.backchannel_logout_attempts = attempts;
    })
    .await
}

/// Signs `user` in to `client` in `br`; returns the ID token's claims.
async fn sign_in(t: &TestApp, br: &Browser<'_>, client: &(String, String), user: &str) -> Value {
    let code = br.code_for(&rp_params(&client.0, &[]), user, &format!("pw-{user}")).await;
    let (s, body) = exchange_basic(t, &client.0, &client.1, &code, None).await;
    assert_eq!(s, 200, "{body}");
    t.verify(body["id_token"].as_str().unwrap(), &client.0).await.1
}

/// Checks a logout token as a relying party must (§2.6) and returns its claims.
async fn check(t: &TestApp, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let (_, c) = t.verify(token, client_id).await;
    assert!(c["events"]["http://schemas.openid.net/event/backchannel-logout"].as_object().unwrap().is_empty());
    assert!(c.get("nonce").is_none());
    assert!(c["jti"].is_string() && c["iat"].is_i64() && c["exp"].is_i64());
    assert_eq!(c["iss"], t.app.settings.issuer.as_str());
    c
}

async fn logout_posts_a_logout_token_to_every_client_of_the_session(b: Backend) {
    let t = app(b, 5).await;
    let rp1 = Rp::start().await;
    let rp2 = Rp::start().await;
    let uri1 = rp1.url.clone();
    let uri2 = rp2.url.clone();
    let c1 = web_client(&t, |c| {
        c.backchannel_logout_uri = Some(uri1);
        c.backchannel_logout_session_required = true;
    })
    .await;
    let c2 = web_client(&t, |c| c.backchannel_logout_uri = Some(uri2)).await;
    let c3 = web_client(&t, |_| {}).await;
    t.user("hal", "pw-hal").await;
    let br = Browser::new(&t);
    let id1 = sign_in(&t, &br, &c1, "hal").await;
    let id2 = sign_in(&t, &br, &c2, "hal").await;
    sign_in(&t, &br, &c3, "hal").await;
    assert_eq!(id1["sid"], id2["sid"], "one session, one sid");
    let r = br.get("/logout").await;
    assert_eq!(r.status(), 200);
    let t1 = rp1.tokens(1, 10).await;
    let t2 = rp2.tokens(1, 10).await;
    assert_eq!((t1.len(), t2.len()), (1, 1));
    for (token, client, idt) in [(&t1[0], &c1.0, &id1), (&t2[0], &c2.0, &id2)] {
        let c = check(&t, token, client).await;
        assert_eq!((&c["sid"], &c["sub"]), (&idt["sid"], &idt["sub"]));
    }
    assert!(br.authorize(&rp_params(&c1.0, &[("prompt", "none")])).await.headers()["location"]
        .to_str()
        .unwrap()
        .contains("login_required"));
    // Nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!((rp1.got.lock().unwrap().len(), rp2.got.lock().unwrap().len()), (1, 1));
}

async fn the_operator_and_user_changes_end_sessions_with_logout_tokens(b: Backend) {
    let t = app(b, 5).await;
    let rp = Rp::start().await;
    let uri = rp.url.clone();
    let c = web_client(&t, |c| c.backchannel_logout_uri = Some(uri)).await;
    let store = t.app.store.as_ref();
    let now = oauthd::clock::now;
    type Action = Box<dyn Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;
    let actions: Vec<(&str, Action)> = vec![
        (
            "revoke-sessions",
            Box::new({
                let s = t.app.store.clone();
                move |u| {
                    let s = s.clone();
                    Box::pin(async move {
                        oauthd::admin::users::revoke_sessions(s.as_ref(), &u, now()).await.unwrap();
                    })
                }
            }),
        ),
        (
            "set-password",
            Box::new({
                let s = t.app.store.clone();
                let pw = t.app.passwords.clone();
                move |u| {
                    let (s, pw) = (s.clone(), pw.clone());
                    Box::pin(async move {
                        oauthd::admin::users::set_password(s.as_ref(), &pw, &u, "pw-new", now()).await.unwrap();
                    })
                }
            }),
        ),
        (
            "disable",
            Box::new({
                let s = t.app.store.clone();
                move |u| {
                    let s = s.clone();
                    Box::pin(async move {
                        oauthd::admin::users::set_disabled(s.as_ref(), &u, true, now()).await.unwrap();
                    })
                }
            }),
        ),
        (
            "delete",
            Box::new({
                let s = t.app.store.clone();
                move |u| {
                    let s = s.clone();
                    Box::pin(async move {
                        oauthd::admin::users::delete(s.as_ref(), &u, now()).await.unwrap();
                    })
                }
            }),
        ),
    ];
    for (i, (what, act)) in actions.iter().enumerate() {
        let name = format!("u{i}");
        let user = t.user(&name, &format!("pw-{name}")).await;
        let br = Browser::new(&t);
        let idt = sign_in(&t, &br, &c, &name).await;
        act(user.id.clone()).await;
        // The server finds rows queued by another process (the CLI) by polling.
        let tokens = rp.tokens(i + 1, 10).await;
        assert_eq!(tokens.len(), i + 1, "{what}");
        let claims = check(&t, &tokens[i], &c.0).await;
        assert_eq!((&claims["sub"], &claims["sid"]), (&idt["sub"], &idt["sid"]), "{what}");
    }
    let _ = store;
}

async fn a_failing_client_is_retried_then_given_up_and_counted(b: Backend) {
    let t = app(b, 2).await;
    let rp = Rp::start().await;
    *rp.status.lock().unwrap() = 500;
    let uri = rp.url.clone();
    let c = web_client(&t, |c| c.backchannel_logout_uri = Some(uri)).await;
    t.user("ivo", "pw-ivo").await;
    let br = Browser::new(&t);
    sign_in(&t, &br, &c, "ivo").await;
    let r = br.get("/logout").await;
    assert_eq!(r.status(), 200, "the logout does not wait for the delivery");
    // The first retry comes 5 s after the first attempt; then, out of attempts, it is dropped.
    assert_eq!(rp.tokens(2, 15).await.len(), 2);
    tokio::time::sleep(Duration::from_millis(6000)).await;
    assert_eq!(rp.got.lock().unwrap().len(), 2, "at most backchannel_logout_attempts");
    let metrics = oauthd::metrics::handle().render();
    assert!(metrics.contains("oauthd_backchannel_logout_total{outcome=\"failed\"}"), "{metrics}");
}

async fn backchannel_logout_uris_must_be_https_unless_the_testing_setting_allows_loopback(b: Backend) {
    let t = TestApp::spawn(b).await;
    let store = t.app.store.as_ref();
    for (uri, loopback, ok) in [
        ("https://rp.example.com/bc?x=1", false, true),
        ("http://rp.example.com/bc", false, false),
        ("http://127.0.0.1:8080/bc", false, false),
        ("https://10.0.0.7/bc", false, false),
        ("https://rp.example.com/bc#f", false, false),
        ("http://127.0.0.1:8080/bc", true, true),
        ("http://10.0.0.7/bc", true, false),
    ] {
        let req = oauthd::admin::clients::NewClient {
            name: "x".into(),
            grants: vec!["authorization_code".into()],
            redirect_uris: vec![REDIRECT.into()],
            backchannel_logout_uri: Some(uri.into()),
            allow_http_loopback_backchannel: loopback,
            ..Default::default()
        };
        let r = oauthd::admin::clients::create(store, req, None, oauthd::clock::now()).await;
        assert_eq!(r.is_ok(), ok, "{uri} loopback={loopback}: {:?}", r.err());
    }
}

on_both_backends!(
    logout_posts_a_logout_token_to_every_client_of_the_session,
    the_operator_and_user_changes_end_sessions_with_logout_tokens,
    a_failing_client_is_retried_then_given_up_and_counted,
    backchannel_logout_uris_must_be_https_unless_the_testing_setting_allows_loopback,
);
