//! Token exchange (RFC 8693) with oauthd's own tokens: delegation and `act` nesting,
//! impersonation, the default-deny policy, scopes that never widen, every error code.

use oauthd::admin::{self, exchange::NewPolicy};
use oauthd::clock::now;
use serde_json::{json, Value};

use crate::helpers::{json as body, Backend, TestApp, API};
use crate::on_both_backends;

pub const GT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ORDERS: &str = "https://orders.test";

/// A user's token for `API` (read:x write:x), a service `svc` that may exchange, and ORDERS,
/// which knows the same scope names.
pub struct World {
    pub t: TestApp,
    pub user_id: String,
    pub user_token: String,
    pub svc: (String, String),
}

pub async fn world(b: Backend) -> World {
    let t = TestApp::spawn_with(b, |s| s.allow_http_loopback_jwks = true).await;
    let web = t.client(&["password"], "read:x write:x").await;
    let user = t.user("alice", "correct horse").await;
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "correct horse"),
        ("audience", API),
        ("scope", "read:x write:x"),
    ];
    let (s, _, v) = body(t.post_token_basic(&web.0, &web.1, &form).await).await;
    assert_eq!(s, 200, "{v}");
    admin::create_api(t.app.store.as_ref(), ORDERS, None, "read:x write:x admin:x", now()).await.unwrap();
    let svc = service(&t, "svc").await;
    World { user_id: user.id, user_token: v["access_token"].as_str().unwrap().into(), svc, t }
}

/// A confidential client allowed client_credentials and token exchange, granted every scope on
/// `API` and ORDERS.
pub async fn service(t: &TestApp, id: &str) -> (String, String) {
    let req = admin::clients::NewClient {
        name: id.into(),
        id: Some(id.into()),
        grants: vec!["client_credentials".into(), GT.into()],
        scope: Some("read:x write:x admin:x".into()),
        api: Some(API.into()),
        ..Default::default()
    };
    let (c, secret) = admin::clients::create(t.app.store.as_ref(), req, None, now()).await.unwrap();
    admin::grant(t.app.store.as_ref(), &c.id, ORDERS, "read:x write:x admin:x").await.unwrap();
    (c.id, secret.unwrap())
}

pub async fn allow(t: &TestApp, client: &str, source: &str, audience: &str, scope: Option<&str>, impersonate: bool) {
    let p = NewPolicy {
        client_id: client.into(),
        source: source.into(),
        audience: audience.into(),
        scope: scope.map(str::to_string),
        impersonate,
        subject_audience: None,
    };
    admin::exchange::allow(t.app.store.as_ref(), p, now()).await.unwrap();
}

/// The client's own client_credentials token for `API`, its actor token.
pub async fn own_token(t: &TestApp, c: &(String, String)) -> String {
    let form = [("grant_type", "client_credentials"), ("audience", API)];
    let (s, _, v) = body(t.post_token_basic(&c.0, &c.1, &form).await).await;
    assert_eq!(s, 200, "{v}");
    v["access_token"].as_str().unwrap().into()
}

/// Posts an exchange of `subject` (an access token of ours unless `extra` says otherwise).
pub async fn exchange(t: &TestApp, c: &(String, String), subject: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", GT), ("subject_token", subject)];
    if !extra.iter().any(|(k, _)| *k == "subject_token_type") {
        form.push(("subject_token_type", AT));
    }
    form.extend_from_slice(extra);
    let (s, h, v) = body(t.post_token_basic(&c.0, &c.1, &form).await).await;
    assert_eq!(h["cache-control"], "no-store", "{v}");
    (s, v)
}

pub fn assert_error(r: &(u16, Value), status: u16, code: &str, says: &str) {
    assert_eq!(r.0, status, "{}", r.1);
    assert_eq!(r.1["error"], code, "{}", r.1);
    let d = r.1["error_description"].as_str().unwrap_or_default();
    assert!(d.contains(says), "{d:?} should say {says:?}");
}

async fn a_delegated_exchange_narrows_audience_and_scope_and_names_the_actor(b: Backend) {
    let w = world(b).await;
    allow(&w.t, "svc", "local", ORDERS, None, false).await;
    let actor = own_token(&w.t, &w.svc).await;
    let extra = [("audience", ORDERS), ("scope", "read:x"), ("actor_token", &actor), ("actor_token_type", AT)];
    let (s, v) = exchange(&w.t, &w.svc, &w.user_token, &extra).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["issued_token_type"], AT);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "read:x");
    assert!(v.get("refresh_token").is_none() && v.get("id_token").is_none(), "{v}");
    let (typ, c) = w.t.verify(v["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(typ, "at+jwt");
    assert_eq!(c["sub"], w.user_id.as_str());
    assert_eq!(c["aud"], ORDERS);
    assert_eq!(c["gty"], "token-exchange");
    assert_eq!(c["client_id"], "svc");
    assert_eq!(c["act"], json!({ "sub": "svc@clients" }));
    assert!(c.get("may_act").is_none());
}

async fn act_nests_for_each_hop_and_impersonation_keeps_the_subject_tokens_act(b: Backend) {
    let w = world(b).await;
    allow(&w.t, "svc", "local", ORDERS, None, false).await;
    let actor = own_token(&w.t, &w.svc).await;
    let extra = [("audience", ORDERS), ("actor_token", actor.as_str()), ("actor_token_type", AT)];
    let (_, first) = exchange(&w.t, &w.svc, &w.user_token, &extra).await;
    let first = first["access_token"].as_str().unwrap().to_string();

    let billing = service(&w.t, "billing").await;
    allow(&w.t, "billing", "local", API, None, true).await;
    let billing_actor = own_token(&w.t, &billing).await;
    let extra = [("audience", API), ("actor_token", billing_actor.as_str()), ("actor_token_type", AT)];
    let (s, v) = exchange(&w.t, &billing, &first, &extra).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = w.t.verify(v["access_token"].as_str().unwrap(), API).await;
    assert_eq!(c["sub"], w.user_id.as_str());
    assert_eq!(c["act"], json!({ "sub": "billing@clients", "act": { "sub": "svc@clients" } }));

    let (s, v) = exchange(&w.t, &billing, &first, &[("audience", API)]).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = w.t.verify(v["access_token"].as_str().unwrap(), API).await;
    assert_eq!(c["act"], json!({ "sub": "svc@clients" }), "impersonation keeps the earlier actor");
}

async fn impersonation_without_an_actor_needs_a_policy_that_allows_it(b: Backend) {
    let w = world(b).await;
    allow(&w.t, "svc", "local", ORDERS, None, false).await;
    let r = exchange(&w.t, &w.svc, &w.user_token, &[("audience", ORDERS)]).await;
    assert_error(&r, 400, "unauthorized_client", "allows delegation only");
    allow(&w.t, "svc", "local", ORDERS, None, true).await;
    let (s, v) = exchange(&w.t, &w.svc, &w.user_token, &[("audience", ORDERS)]).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = w.t.verify(v["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(c["sub"], w.user_id.as_str());
    assert!(c.get("act").is_none(), "{c}");
    assert_eq!(c["scope"], "read:x write:x", "no scope asked: all the subject token had");
}

async fn the_policy_denies_by_default_and_refuses_other_targets(b: Backend) {
    let w = world(b).await;
    let r = exchange(&w.t, &w.svc, &w.user_token, &[("audience", ORDERS)]).await;
    assert_error(&r, 400, "unauthorized_client", "no exchange policy");
    allow(&w.t, "svc", "local", ORDERS, None, true).await;
    let r = exchange(&w.t, &w.svc, &w.user_token, &[("audience", API)]).await;
    assert_error(&r, 400, "invalid_target", "does not allow audience");
    let r = exchange(&w.t, &w.svc, &w.user_token, &[("audience", ORDERS), ("resource", API)]).await;
    assert_error(&r, 400, "invalid_target", "differ");
    let (s, v) = exchange(&w.t, &w.svc, &w.user_token, &[("resource", ORDERS)]).await;
    assert_eq!(s, 200, "RFC 8707 resource names the target too: {v}");
    let (s, v) = exchange(&w.t, &w.svc, &w.user_token, &[]).await;
    assert_eq!(s, 200, "the one allowed audience is the default: {v}");
    // A client without the grant on the target API gets nothing, whatever the policy says.
    let bare = w.t.client(&[GT], "read:x").await;
    allow(&w.t, &bare.0, "local", ORDERS, None, true).await;
    let r = exchange(&w.t, &bare, &w.user_token, &[("audience", ORDERS)]).await;
    assert_error(&r, 400, "invalid_target", "not granted");
    // A policy may accept only subject tokens for the API the exchanging service serves.
    let only = |api: &str| NewPolicy {
        client_id: "svc".into(),
        source: "local".into(),
        audience: ORDERS.into(),
        impersonate: true,
        subject_audience: Some(api.into()),
        ..Default::default()
    };
    admin::exchange::allow(w.t.app.store.as_ref(), only(ORDERS), now()).await.unwrap();
    let r = exchange(&w.t, &w.svc, &w.user_token, &[]).await;
    assert_error(&r, 400, "invalid_request", "accepts only tokens for 'https://orders.test'");
    admin::exchange::allow(w.t.app.store.as_ref(), only(API), now()).await.unwrap();
    assert_eq!(exchange(&w.t, &w.svc, &w.user_token, &[]).await.0, 200);
    admin::exchange::deny(w.t.app.store.as_ref(), "svc", "local", ORDERS).await.unwrap();
    let r = exchange(&w.t, &w.svc, &w.user_token, &[("audience", ORDERS)]).await;
    assert_error(&r, 400, "unauthorized_client", "no exchange policy");
}

async fn scopes_never_widen_beyond_the_subject_token_the_grant_and_the_policy(b: Backend) {
    let w = world(b).await;
    allow(&w.t, "svc", "local", ORDERS, Some("read:x admin:x"), true).await;
    let r = exchange(&w.t, &w.svc, &w.user_token, &[("scope", "admin:x")]).await;
    assert_error(&r, 400, "invalid_scope", "subject token's scopes");
    let r = exchange(&w.t, &w.svc, &w.user_token, &[("scope", "write:x")]).await;
    assert_error(&r, 400, "invalid_scope", "policy allows");
    let r = exchange(&w.t, &w.svc, &w.user_token, &[("scope", "openid")]).await;
    assert_error(&r, 400, "invalid_scope", "openid");
    let (s, v) = exchange(&w.t, &w.svc, &w.user_token, &[]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["scope"], "read:x", "the subject's read:x write:x within the policy's read:x admin:x");
}

async fn every_malformed_request_and_unacceptable_token_is_invalid_request(b: Backend) {
    let w = world(b).await;
    allow(&w.t, "svc", "local", ORDERS, None, true).await;
    let actor = own_token(&w.t, &w.svc).await;
    let other = service(&w.t, "other").await;
    let others_token = own_token(&w.t, &other).await;
    let u = w.user_token.as_str();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("subject_token_type", AT)], "missing parameter: subject_token"),
        (vec![("subject_token", u), ("subject_token_type", "urn:ietf:params:oauth:token-type:saml2")], "not supported"),
        (vec![("subject_token", "not.a.token"), ("subject_token_type", AT)], "subject_token: malformed"),
        (
            vec![
                ("subject_token", u),
                ("subject_token_type", AT),
                ("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
            ],
            "requested_token_type",
        ),
        (
            vec![("subject_token", u), ("subject_token_type", AT), ("actor_token", &actor)],
            "actor_token_type is required",
        ),
        (vec![("subject_token", u), ("subject_token_type", AT), ("actor_token_type", AT)], "without actor_token"),
        (
            vec![
                ("subject_token", u),
                ("subject_token_type", AT),
                ("actor_token", &others_token),
                ("actor_token_type", AT),
            ],
            "issued to another client",
        ),
        (vec![("subject_token", u), ("subject_token_type", JWT)], "send it with token type"),
        (
            vec![("subject_token", u), ("subject_token_type", AT), ("actor_token", "x"), ("actor_token_type", JWT)],
            "actor_token:",
        ),
    ];
    for (form, says) in cases {
        let mut full = vec![("grant_type", GT)];
        full.extend(form);
        let (s, h, v) = body(w.t.post_token_basic(&w.svc.0, &w.svc.1, &full).await).await;
        assert_eq!(h["cache-control"], "no-store");
        assert_error(&(s, v), 400, "invalid_request", says);
    }
    // A revoked subject token, and a user disabled since.
    let rev = w.t.http.post(w.t.url("/revoke")).basic_auth(&w.svc.0, Some(&w.svc.1)).form(&[("token", &actor)]).send();
    assert_eq!(rev.await.unwrap().status(), 200);
    let r = exchange(&w.t, &w.svc, &actor, &[]).await;
    assert_error(&r, 400, "invalid_request", "subject_token: the token was revoked");
    w.t.app.store.set_user_disabled(&w.user_id, true, now()).await.unwrap();
    let r = exchange(&w.t, &w.svc, u, &[]).await;
    assert_error(&r, 400, "invalid_request", "disabled");
}

async fn only_authenticated_clients_allowed_the_grant_may_exchange(b: Backend) {
    let w = world(b).await;
    let form = [("grant_type", GT), ("subject_token", w.user_token.as_str()), ("subject_token_type", AT)];
    let (s, _, v) = body(w.t.post_token(&form).await).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "{v}");
    let (s, _, v) = body(w.t.post_token(&[&form[..], &[("client_id", "svc")]].concat()).await).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "{v}");
    let cc_only = w.t.m2m().await;
    let r = exchange(&w.t, &cc_only, &w.user_token, &[]).await;
    assert_error(&r, 400, "unauthorized_client", "not allowed");
    let public = admin::clients::NewClient {
        name: "cli".into(),
        public: true,
        grants: vec![GT.into()],
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        ..Default::default()
    };
    let err = admin::clients::create(w.t.app.store.as_ref(), public, None, now()).await.unwrap_err();
    assert!(err.to_string().contains("public client cannot use token exchange"), "{err}");
}

async fn requested_token_type_jwt_is_issued_as_an_rfc9068_jwt(b: Backend) {
    let w = world(b).await;
    allow(&w.t, "svc", "local", ORDERS, None, true).await;
    let (s, v) = exchange(&w.t, &w.svc, &w.user_token, &[("requested_token_type", JWT)]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["issued_token_type"], JWT);
    assert_eq!(v["token_type"], "Bearer");
    let (typ, _) = w.t.verify(v["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(typ, "at+jwt");
}

async fn a_storage_outage_is_a_503_not_an_invalid_token(b: Backend) {
    let w = world(b).await;
    allow(&w.t, "svc", "local", ORDERS, None, true).await;
    let (base, probe, _) = crate::probe::probed(&w.t, |_| {}).await;
    let form = [("grant_type", GT), ("subject_token", w.user_token.as_str()), ("subject_token_type", AT)];
    let warm = w.t.http.post(format!("{base}/token")).basic_auth(&w.svc.0, Some(&w.svc.1)).form(&form);
    assert_eq!(warm.send().await.unwrap().status(), 200);
    probe.set_down(true);
    let r = w.t.http.post(format!("{base}/token")).basic_auth(&w.svc.0, Some(&w.svc.1)).form(&form);
    let (s, _, v) = body(r.send().await.unwrap()).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"], "temporarily_unavailable");
}

on_both_backends!(
    a_delegated_exchange_narrows_audience_and_scope_and_names_the_actor,
    act_nests_for_each_hop_and_impersonation_keeps_the_subject_tokens_act,
    impersonation_without_an_actor_needs_a_policy_that_allows_it,
    the_policy_denies_by_default_and_refuses_other_targets,
    scopes_never_widen_beyond_the_subject_token_the_grant_and_the_policy,
    every_malformed_request_and_unacceptable_token_is_invalid_request,
    only_authenticated_clients_allowed_the_grant_may_exchange,
    requested_token_type_jwt_is_issued_as_an_rfc9068_jwt,
    a_storage_outage_is_a_503_not_an_invalid_token,
);
