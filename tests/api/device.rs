//! The device authorization grant (RFC 8628): the endpoint's codes, the verification page (login,
//! SSO session, approve or deny, CSRF, the user-code rate limit), and polling at /token with
//! every error code, tokens exactly once under concurrent polls.

use std::time::Duration;

use oauthd::oauth::device::{normalize, user_code_hash};
use oauthd::store::DeviceStatus;
use serde_json::Value;
use sqlx::Connection;

use crate::browser::{csrf_of, Browser};
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public CLI client allowed the device grant (and refresh), granted `read:x` on `API`.
async fn cli_client(t: &TestApp) -> String {
    t.api("read:x write:x admin:x").await;
    let req = oauthd::admin::clients::NewClient {
        name: "Test CLI".into(),
        public: true,
        grants: vec![GRANT.into(), "refresh_token".into()],
        scope: Some("read:x".into()),
        api: Some(API.into()),
        ..Default::default()
    };
    oauthd::admin::clients::create(t.app.store.as_ref(), req, None, oauthd::clock::now()).await.unwrap().0.id
}

/// Starts a device authorization; returns the status and body.
async fn start(t: &TestApp, client_id: &str, scope: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let form = [("client_id", client_id), ("scope", scope), ("audience", API)];
    json(t.http.post(t.url("/device_authorization")).form(&form).send().await.unwrap()).await
}

async fn codes(t: &TestApp, client_id: &str) -> (String, String) {
    let (s, _, body) = start(t, client_id, "openid offline_access read:x").await;
    assert_eq!(s, 200, "{body}");
    (body["device_code"].as_str().unwrap().into(), body["user_code"].as_str().unwrap().into())
}

async fn poll(t: &TestApp, client_id: &str, device_code: &str) -> (u16, Value) {
    let form = [("grant_type", GRANT), ("device_code", device_code), ("client_id", client_id)];
    let (s, h, body) = json(t.post_token(&form).await).await;
    assert_eq!(h["cache-control"], "no-store");
    (s, body)
}

/// The verification page, driven as a browser would.
async fn enter(br: &Browser<'_>, code: &str) -> reqwest::Response {
    let page = br.get(&format!("/device?user_code={code}")).await.text().await.unwrap();
    let form = [("csrf", csrf_of(&page)), ("user_code", code.to_string())];
    br.http.post(br.t.url("/device")).form(&form).send().await.unwrap()
}

async fn sign_in(br: &Browser<'_>, page: &str, code: &str, user: &str) -> reqwest::Response {
    let form = [
        ("csrf", csrf_of(page)),
        ("user_code", code.to_string()),
        ("username", user.to_string()),
        ("password", format!("pw-{user}")),
    ];
    br.http.post(br.t.url("/device/login")).form(&form).send().await.unwrap()
}

async fn decide(br: &Browser<'_>, page: &str, code: &str, decision: &str) -> reqwest::Response {
    let form = [("csrf", csrf_of(page)), ("user_code", code.to_string()), ("decision", decision.to_string())];
    br.http.post(br.t.url("/device/decide")).form(&form).send().await.unwrap()
}

/// Enters `code`, signs in as `user` and decides; returns the last page's status and text.
async fn visit(br: &Browser<'_>, code: &str, user: &str, decision: &str) -> (u16, String) {
    let r = enter(br, code).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let page = if page.contains("/device/login") {
        let r = sign_in(br, &page, code, user).await;
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    } else {
        page
    };
    assert!(page.contains("/device/decide"), "{page}");
    let r = decide(br, &page, code, decision).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn status_of(t: &TestApp, user_code: &str) -> (DeviceStatus, i64) {
    let hash = user_code_hash(&normalize(user_code).unwrap());
    let row = t.app.store.find_device_code(&hash).await.unwrap().unwrap();
    (row.status, row.poll_interval)
}

async fn a_device_authorization_returns_hashed_codes_of_the_promised_shape(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = cli_client(&t).await;
    let (s, h, body) = start(&t, &id, "read:x").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(h["cache-control"], "no-store");
    let device_code = body["device_code"].as_str().unwrap();
    assert_eq!(device_code.len(), 43, "256 bits, base64url");
    let user_code = body["user_code"].as_str().unwrap();
    let (a, z) = user_code.split_once('-').unwrap();
    assert!(
        a.len() == 4 && z.len() == 4 && (a.to_owned() + z).chars().all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
        "{user_code}"
    );
    assert_eq!(body["verification_uri"], t.url("/device"));
    assert_eq!(body["verification_uri_complete"], format!("{}?user_code={user_code}", t.url("/device")));
    assert_eq!((body["expires_in"].as_u64(), body["interval"].as_u64()), (Some(600), Some(5)));
    let hash = user_code_hash(&normalize(user_code).unwrap());
    let row = t.app.store.find_device_code(&hash).await.unwrap().unwrap();
    assert_eq!(row.hash, oauthd::oauth::secret::digest(device_code), "only the digest is stored");
    assert_ne!(row.user_code_hash, normalize(user_code).unwrap());

    let meta: Value =
        t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["device_authorization_endpoint"], t.url("/device_authorization"));
    assert!(meta["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT), "{meta}");
}

async fn a_client_without_the_grant_is_refused_at_both_endpoints(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["client_credentials"], "read:x").await;
    let r = t.http.post(t.url("/device_authorization")).basic_auth(&id, Some(&secret)).form(&[("audience", API)]);
    let (s, _, body) = json(r.send().await.unwrap()).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
    let form = [("grant_type", GRANT), ("device_code", "x")];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
    let (s, _, body) = start(&t, "no-such-client", "read:x").await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let cli = cli_client(&t).await;
    let (s, _, body) = start(&t, &cli, "write:x").await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
}

async fn polling_is_pending_then_slow_down_with_5_more_seconds_then_tokens_once(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.device_poll_interval = 1).await;
    let id = cli_client(&t).await;
    let user = t.user("dana", "pw-dana").await;
    let (device_code, user_code) = codes(&t, &id).await;
    let (s, body) = poll(&t, &id, &device_code).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
    let (s, body) = poll(&t, &id, &device_code).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("slow_down")), "{body}");
    assert_eq!(status_of(&t, &user_code).await, (DeviceStatus::Pending, 6), "the interval grew by 5 s");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, body) = poll(&t, &id, &device_code).await;
    assert_eq!(body["error"], "slow_down", "the old interval is too short now");
    assert_eq!(status_of(&t, &user_code).await.1, 11);

    let br = Browser::new(&t);
    let (s, page) = visit(&br, &user_code, "dana", "allow").await;
    assert_eq!(s, 200);
    assert!(page.contains("connected"), "{page}");
    let (s, body) = poll(&t, &id, &device_code).await;
    assert_eq!(s, 200, "{body}");
    let (typ, claims) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(typ, "at+jwt");
    assert_eq!((claims["sub"].as_str(), claims["gty"].as_str()), (Some(user.id.as_str()), Some("device-code")));
    assert_eq!(claims["client_id"], id.as_str());
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string(), "{body}");
    let (s, body) = poll(&t, &id, &device_code).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "a second redemption: {body}");
}

async fn a_denied_device_gets_access_denied(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = cli_client(&t).await;
    t.user("eli", "pw-eli").await;
    let (device_code, user_code) = codes(&t, &id).await;
    let (s, page) = visit(&Browser::new(&t), &user_code, "eli", "deny").await;
    assert!(s == 200 && page.contains("denied"), "{page}");
    let (s, body) = poll(&t, &id, &device_code).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("access_denied")), "{body}");
}

async fn an_expired_device_code_gets_expired_token_and_its_user_code_is_refused(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = cli_client(&t).await;
    t.user("fin", "pw-fin").await;
    let (device_code, user_code) = codes(&t, &id).await;
    let url = &t.app.settings.database_url;
    let sql = "update device_codes set expires_at = 1";
    if url.starts_with("sqlite:") {
        sqlx::query(sql).execute(&mut sqlx::SqliteConnection::connect(url).await.unwrap()).await.unwrap();
    } else {
        sqlx::query(sql).execute(&mut sqlx::PgConnection::connect(url).await.unwrap()).await.unwrap();
    }
    let (s, body) = poll(&t, &id, &device_code).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("expired_token")), "{body}");
    let r = enter(&Browser::new(&t), &user_code).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not valid, or it has expired"));
}

async fn concurrent_polls_after_approval_get_the_tokens_exactly_once(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = cli_client(&t).await;
    t.user("gil", "pw-gil").await;
    let (device_code, user_code) = codes(&t, &id).await;
    assert_eq!(visit(&Browser::new(&t), &user_code, "gil", "allow").await.0, 200);
    let polls = (0..16).map(|_| poll(&t, &id, &device_code));
    let results = futures_util::future::join_all(polls).await;
    let won = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(won, 1, "{results:?}");
    for (s, body) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*s, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
}

async fn device_codes_are_bound_to_their_client_and_unknown_ones_are_invalid_grant(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, other) = (cli_client(&t).await, cli_client(&t).await);
    let (device_code, _) = codes(&t, &id).await;
    let (s, body) = poll(&t, &other, &device_code).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (s, body) = poll(&t, &id, "no-such-code").await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (s, _, body) = json(t.post_token(&[("grant_type", GRANT), ("client_id", &id)]).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    assert_eq!(poll(&t, &id, &device_code).await.1["error"], "authorization_pending", "the owner still polls");
}

async fn a_prefilled_code_is_looked_up_only_when_the_user_continues_and_decided_only_on_approval(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = cli_client(&t).await;
    t.user("hal", "pw-hal").await;
    let (_, user_code) = codes(&t, &id).await;
    let br = Browser::new(&t);
    let r = br.get(&format!("/device?user_code={user_code}")).await;
    assert_eq!(r.status(), 200);
    crate::browser::assert_page_headers(r.headers());
    let page = r.text().await.unwrap();
    assert!(page.contains(&format!("value=\"{user_code}\"")) && !page.contains("Test CLI"), "{page}");
    let page = enter(&br, &user_code).await.text().await.unwrap();
    assert!(page.contains("Sign in to connect Test CLI"), "{page}");
    let page = sign_in(&br, &page, &user_code, "hal").await.text().await.unwrap();
    assert!(page.contains("Connect Test CLI?") && page.contains("api.test") && page.contains("read:x"), "{page}");
    assert_eq!(status_of(&t, &user_code).await.0, DeviceStatus::Pending, "signing in decides nothing");
    // The SSO session is used for the next code: no second login, but still a confirmation.
    let (_, second) = codes(&t, &id).await;
    let page = enter(&br, &second).await.text().await.unwrap();
    assert!(page.contains("/device/decide") && page.contains("hal"), "{page}");
    assert_eq!(status_of(&t, &second).await.0, DeviceStatus::Pending);
    assert_eq!(decide(&br, &page, &second, "allow").await.status(), 200);
    assert_eq!(status_of(&t, &second).await.0, DeviceStatus::Approved);
}

async fn the_verification_forms_refuse_a_post_without_the_csrf_token(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = cli_client(&t).await;
    let (_, user_code) = codes(&t, &id).await;
    for path in ["/device", "/device/login", "/device/decide"] {
        let form = [("user_code", user_code.as_str()), ("decision", "allow"), ("csrf", "forged")];
        let r = t.http.post(t.url(path)).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    assert_eq!(status_of(&t, &user_code).await.0, DeviceStatus::Pending);
}

async fn wrong_user_codes_are_limited_per_browser_session_and_per_address(b: Backend) {
    let t = TestApp::spawn_with(b, |s| {
        s.user_code_failures_per_session = 3;
        s.user_code_failures_per_ip = 5;
    })
    .await;
    let id = cli_client(&t).await;
    let (_, right) = codes(&t, &id).await;
    let first = Browser::new(&t);
    for _ in 0..3 {
        assert_eq!(enter(&first, "BCDF-GHJK").await.status(), 400);
    }
    let r = enter(&first, &right).await;
    assert_eq!(r.status(), 429, "this browser is over its budget, even with a right code");
    assert!(r.headers().contains_key("retry-after"));
    let second = Browser::new(&t);
    assert_eq!(enter(&second, "BCDF-GHJK").await.status(), 400);
    assert_eq!(enter(&second, "not a code").await.status(), 400);
    assert_eq!(enter(&second, &right).await.status(), 429, "the address has used up its budget");
}

async fn a_throttled_poll_is_slow_down_and_other_grants_get_429_temporarily_unavailable(b: Backend) {
    // 1 request/s per client with a burst of 2.
    let t = TestApp::spawn_with(b, |s| s.rate_limit_per_client = 1).await;
    let id = cli_client(&t).await;
    let (device_code, user_code) = codes(&t, &id).await;
    assert_eq!(poll(&t, &id, &device_code).await.1["error"], "authorization_pending");
    let (s, body) = poll(&t, &id, &device_code).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("slow_down")), "{body}");
    assert_eq!(status_of(&t, &user_code).await.1, 5, "the limiter answered: the poll never reached the database");
    let (m2m, secret) = t.m2m().await;
    let cc = [("grant_type", "client_credentials"), ("audience", API)];
    let mut last = (0, Value::Null);
    for _ in 0..3 {
        let (s, _, body) = json(t.post_token_basic(&m2m, &secret, &cc).await).await;
        last = (s, body);
    }
    assert_eq!((last.0, last.1["error"].as_str()), (429, Some("temporarily_unavailable")), "{:?}", last.1);
}

on_both_backends!(
    a_device_authorization_returns_hashed_codes_of_the_promised_shape,
    a_client_without_the_grant_is_refused_at_both_endpoints,
    polling_is_pending_then_slow_down_with_5_more_seconds_then_tokens_once,
    a_denied_device_gets_access_denied,
    an_expired_device_code_gets_expired_token_and_its_user_code_is_refused,
    concurrent_polls_after_approval_get_the_tokens_exactly_once,
    device_codes_are_bound_to_their_client_and_unknown_ones_are_invalid_grant,
    a_prefilled_code_is_looked_up_only_when_the_user_continues_and_decided_only_on_approval,
    the_verification_forms_refuse_a_post_without_the_csrf_token,
    wrong_user_codes_are_limited_per_browser_session_and_per_address,
    a_throttled_poll_is_slow_down_and_other_grants_get_429_temporarily_unavailable,
);
