//! Pushed authorization requests (RFC 9126): the push and its checks, the request_uri at
//! /authorize (single use, expiry, client binding), and requiring PAR per client and globally.

use futures_util::future::join_all;
use oauthd::flows::authorize::par::REQUEST_URI_PREFIX;
use serde_json::Value;
use sqlx::Connection;

use crate::browser::*;
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

/// Pushes `form` to /par, with Basic client authentication when `basic` is given.
async fn push(
    t: &TestApp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = t.http.post(t.url("/par")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    json(req.send().await.unwrap()).await
}

/// Pushes `form` and returns the request_uri.
async fn request_uri(t: &TestApp, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> String {
    let (s, _, body) = push(t, basic, form).await;
    assert_eq!(s, 201, "{body}");
    body["request_uri"].as_str().unwrap().to_string()
}

/// A confidential, first-party web client granted read:x on `API`. Returns (id, secret).
async fn web(t: &TestApp, require_par: bool) -> (String, String) {
    t.api("read:x write:x admin:x").await;
    web_client(t, |c| {
        c.scope = Some("read:x".into());
        c.api = Some(API.into());
        c.require_pushed_authorization_requests = require_par;
    })
    .await
}

/// Runs `sql` on the app's database from a connection of the test's own.
async fn exec(t: &TestApp, sql: &str) {
    let url = &t.app.settings.database_url;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
}

async fn a_pushed_request_replaces_the_front_channel_parameters_and_is_used_once(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = web(&t, false).await;
    t.user("pia", "pw-pia").await;
    let (s, h, body) =
        push(&t, Some((id.as_str(), secret.as_str())), &params(&id, &[("scope", "openid read:x")])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap();
    assert!(uri.starts_with(REQUEST_URI_PREFIX) && uri.len() >= REQUEST_URI_PREFIX.len() + 43, "{uri}");

    // §4: everything but client_id and request_uri on the front channel is ignored.
    let br = Browser::new(&t);
    let front = [
        ("client_id", id.as_str()),
        ("request_uri", uri),
        ("redirect_uri", "https://evil.test/cb"),
        ("scope", "openid admin:x"),
        ("state", "forged"),
    ];
    let r = br.authorize(&front).await;
    assert_eq!(r.status(), 200, "the login page");
    let page = r.text().await.unwrap();
    assert!(page.contains("request_uri") && !page.contains("st-123"), "the pages carry only the request_uri");
    let carried = [("client_id", id.as_str()), ("request_uri", uri)];
    let r = br.follow(&br.login(&page, &carried, "pia", "pw-pia").await).await;
    assert_eq!(r.status(), 303);
    let back = location(&r);
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"), "the pushed state");
    let code = query_param(&back, "code").expect("code");
    let (s, tokens) = exchange_basic(&t, &id, &secret, &code, Some(VERIFIER)).await;
    assert_eq!(s, 200, "{tokens}");
    let (_, at) = t.verify(tokens["access_token"].as_str().unwrap(), API).await;
    let scope = at["scope"].as_str().unwrap_or_default();
    assert!(scope.contains("read:x") && !scope.contains("admin:x"), "the pushed scope: {scope}");

    // One-time use: the signed-in browser presenting it again gets no second code.
    let r = br.authorize(&carried).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("already used"));
    assert_eq!(t.count_rows("pushed_requests").await, 0);
}

async fn of_ten_parallel_uses_of_one_request_uri_exactly_one_gets_a_code(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("quy", "pw-quy").await;
    let br = Browser::new(&t);
    br.code_for(&params(&id, &[]), "quy", "pw-quy").await;
    let uri = request_uri(&t, None, &params(&id, &[])).await;
    let carried = [("client_id", id.as_str()), ("request_uri", uri.as_str())];
    let results = join_all((0..10).map(|_| br.authorize(&carried))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    let codes = results.iter().filter(|r| query_param(&location(r), "code").is_some()).count();
    assert_eq!(codes, 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 9, "{statuses:?}");
}

async fn an_expired_request_uri_is_refused_but_a_login_begun_in_time_finishes(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("rex", "pw-rex").await;
    let begun = request_uri(&t, None, &params(&id, &[])).await;
    let late = request_uri(&t, None, &params(&id, &[])).await;
    let br = Browser::new(&t);
    let carried = [("client_id", id.as_str()), ("request_uri", begun.as_str())];
    let page = br.authorize(&carried).await.text().await.unwrap();

    exec(&t, "update pushed_requests set expires_at = expires_at - 61").await;
    let r = br.authorize(&[("client_id", id.as_str()), ("request_uri", late.as_str())]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("unknown, expired or already used"));

    let r = br.follow(&br.login(&page, &carried, "rex", "pw-rex").await).await;
    assert_eq!(r.status(), 303);
    let code = query_param(&location(&r), "code").expect("the login begun in time gets its code");
    assert_eq!(exchange(&t, &id, &code, Some(VERIFIER)).await.0, 200);
}

async fn a_request_uri_is_bound_to_the_client_that_pushed_it(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (a, other) = (spa(&t, true, &[]).await, spa(&t, true, &[]).await);
    let uri = request_uri(&t, None, &params(&a, &[])).await;
    let br = Browser::new(&t);
    let r = br.authorize(&[("client_id", other.as_str()), ("request_uri", uri.as_str())]).await;
    assert_eq!(r.status(), 400, "another client's request_uri");
    let r = br.authorize(&[("client_id", a.as_str()), ("request_uri", &format!("{REQUEST_URI_PREFIX}forged"))]).await;
    assert_eq!(r.status(), 400, "a request_uri that was never issued");
    let r = br.authorize(&[("client_id", a.as_str()), ("request_uri", "https://rp.test/request.jwt")]).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("request_uri_not_supported"), "a request object");
    let r = br.authorize(&[("client_id", a.as_str()), ("request_uri", uri.as_str())]).await;
    assert_eq!(r.status(), 200, "still usable by its own client");
}

async fn a_client_that_requires_par_is_refused_a_plain_request(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (strict, secret) = web(&t, true).await;
    let (relaxed, _) = web(&t, false).await;
    let shown = oauthd::admin::clients::to_json(
        t.app.store.as_ref(),
        &t.app.store.get_client(&strict).await.unwrap().unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(shown["require_pushed_authorization_requests"], true);
    let br = Browser::new(&t);
    let r = br.authorize(&params(&strict, &[])).await;
    assert_eq!(r.status(), 303);
    let back = location(&r);
    assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(br.authorize(&params(&relaxed, &[])).await.status(), 200, "other clients are not held to it");

    let uri = request_uri(&t, Some((strict.as_str(), secret.as_str())), &params(&strict, &[])).await;
    let r = br.authorize(&[("client_id", strict.as_str()), ("request_uri", uri.as_str())]).await;
    assert_eq!(r.status(), 200, "the pushed request reaches the login page");
}

async fn with_par_required_globally_every_client_must_push_and_discovery_says_so(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.require_pushed_authorization_requests = true).await;
    let id = spa(&t, true, &[]).await;
    let (_, _, meta) = json(t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(meta["pushed_authorization_request_endpoint"], format!("{}/par", t.base));
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    let br = Browser::new(&t);
    let r = br.authorize(&params(&id, &[])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"));
    let uri = request_uri(&t, None, &params(&id, &[])).await;
    assert_eq!(br.authorize(&[("client_id", id.as_str()), ("request_uri", uri.as_str())]).await.status(), 200);

    let relaxed = TestApp::spawn(b).await;
    let (_, _, meta) =
        json(relaxed.http.get(relaxed.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(meta["require_pushed_authorization_requests"], false);
}

async fn the_par_endpoint_checks_the_request_up_front_and_answers_in_json(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let (web_id, secret) = web(&t, false).await;
    let pkce = [("code_challenge", ""), ("code_challenge_method", "")];
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (params(&id, &[("redirect_uri", "https://evil.test/cb")]), "invalid_request"),
        (params(&id, &pkce), "invalid_request"),
        (params(&id, &[("code_challenge_method", "plain")]), "invalid_request"),
        (params(&id, &[("scope", "read:x nope:x")]), "invalid_scope"),
        (params(&id, &[("audience", "https://unknown.test")]), "invalid_target"),
        (params(&id, &[("response_type", "token")]), "unsupported_response_type"),
        (params(&id, &[("request_uri", "urn:ietf:params:oauth:request_uri:x")]), "invalid_request"),
        (params(&id, &[("request", "eyJhbGciOiJub25lIn0.e30.")]), "request_not_supported"),
        (params(&id, &[("prompt", "none login")]), "invalid_request"),
    ];
    for (form, error) in &cases {
        let (s, h, body) = push(&t, None, form).await;
        assert_eq!((s, body["error"].as_str()), (400, Some(*error)), "{form:?}: {body}");
        assert_eq!(h["cache-control"], "no-store");
        assert!(h["content-type"].to_str().unwrap().starts_with("application/json"));
    }
    // Client authentication, as at /token: a confidential client must authenticate.
    // The last one names another client in the body than the one it authenticates as.
    for (basic, form, status, error) in [
        (None, params(&web_id, &[]), 401, "invalid_client"),
        (Some((web_id.as_str(), "wrong")), params(&web_id, &[]), 401, "invalid_client"),
        (Some((web_id.as_str(), secret.as_str())), params(&id, &[]), 400, "invalid_request"),
    ] {
        let (s, h, body) = push(&t, basic, &form).await;
        assert_eq!((s, body["error"].as_str()), (status, Some(error)), "{basic:?}: {body}");
        if status == 401 {
            assert!(h.contains_key("www-authenticate"));
        }
    }
    let (s, h, _) = json(t.http.get(t.url("/par")).send().await.unwrap()).await;
    assert_eq!((s, h["allow"].to_str().unwrap()), (405, "POST"));
    assert_eq!(t.count_rows("pushed_requests").await, 0, "nothing refused was stored");
}

async fn a_pushed_request_survives_login_and_consent_and_its_prompt_login_is_honoured(b: Backend) {
    let t = TestApp::spawn(b).await;
    let first_party = spa(&t, true, &[]).await;
    let third_party = spa(&t, false, &[]).await;
    t.user("sol", "pw-sol").await;
    let br = Browser::new(&t);
    br.code_for(&params(&first_party, &[]), "sol", "pw-sol").await;
    // The session must be older than the push for prompt=login to ask again (whole seconds).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let pushed = params(&third_party, &[("prompt", "login consent"), ("max_age", "0")]);
    let uri = request_uri(&t, None, &pushed).await;
    let carried = [("client_id", third_party.as_str()), ("request_uri", uri.as_str())];
    let r = br.authorize(&carried).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("name=\"password\""), "prompt=login asks for the password despite the session");
    let r = br.follow(&br.login(&page, &carried, "sol", "pw-sol").await).await;
    assert_eq!(r.status(), 200, "after the login: consent, not the login again");
    let page = r.text().await.unwrap();
    assert!(page.contains("decision") && page.contains(&uri));
    let r = br.consent(&page, &carried, "allow").await;
    let code = query_param(&location(&r), "code").expect("code");
    let (s, body) = exchange(&t, &third_party, &code, Some(VERIFIER)).await;
    assert_eq!(s, 200, "{body}");
}

async fn client_create_takes_the_require_par_flag_under_both_names(b: Backend) {
    let db = crate::helpers::fresh_database(b).await;
    for flag in ["--require-par", "--require-pushed-authorization-requests", ""] {
        let mut args = vec!["client", "create", "--name", "web", "--grant", "authorization_code", "--json"];
        args.extend([flag].iter().filter(|f| !f.is_empty()));
        let (ok, out, err) = crate::cli::oauthd(&db, &args, None);
        assert!(ok, "{err}");
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["require_pushed_authorization_requests"], !flag.is_empty(), "{flag}");
    }
}

on_both_backends!(
    client_create_takes_the_require_par_flag_under_both_names,
    a_pushed_request_replaces_the_front_channel_parameters_and_is_used_once,
    of_ten_parallel_uses_of_one_request_uri_exactly_one_gets_a_code,
    an_expired_request_uri_is_refused_but_a_login_begun_in_time_finishes,
    a_request_uri_is_bound_to_the_client_that_pushed_it,
    a_client_that_requires_par_is_refused_a_plain_request,
    with_par_required_globally_every_client_must_push_and_discovery_says_so,
    the_par_endpoint_checks_the_request_up_front_and_answers_in_json,
    a_pushed_request_survives_login_and_consent_and_its_prompt_login_is_honoured,
);
