//! `/authorize`, the login and consent pages (RFC 6749 §4.1, RFC 9207, RFC 9700, OIDC Core).

use crate::browser::*;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

async fn unknown_clients_and_unregistered_redirect_uris_get_a_page_never_a_redirect(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &["http://127.0.0.1/native"]).await;
    let br = Browser::new(&t);
    let r = br.authorize(&params("no-such-client", &[])).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    for attack in [
        "http://127.0.0.1:9999/CB",
        "http://127.0.0.1:9999/cb/",
        "http://127.0.0.1:9999/cb/../cb",
        "http://127.0.0.1:9999/x/../cb",
        "http://127.0.0.1:9999@evil.test/cb",
        "http://127.0.0.1:9999/cb?x=1",
        "http://127.0.0.1:9999/cb#frag",
        "javascript:alert(1)",
        "https://evil.test/cb",
        "HTTP://127.0.0.1:9999/cb",
    ] {
        let r = br.authorize(&params(&id, &[("redirect_uri", attack)])).await;
        assert_eq!(r.status(), 400, "{attack}");
        assert!(r.headers().get("location").is_none(), "{attack} redirected");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    // Several registered and none given: a page too.
    let r = br.authorize(&params(&id, &[("redirect_uri", "")])).await;
    assert_eq!(r.status(), 400);
    // The loopback exception: any port for a registered loopback IP redirect (RFC 8252 §7.3).
    let r = br.authorize(&params(&id, &[("redirect_uri", "http://127.0.0.1:51234/native")])).await;
    assert_eq!(r.status(), 200);
}

async fn a_single_registered_redirect_uri_is_used_when_none_is_given(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let r = br.authorize(&params(&id, &[("redirect_uri", "")])).await;
    assert_eq!(r.status(), 200);
    let r = br.authorize(&params(&id, &[("redirect_uri", ""), ("response_type", "token")])).await;
    assert!(location(&r).starts_with(REDIRECT));
}

async fn other_errors_redirect_with_error_state_and_iss(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let weird_state = "a b&c=d/é<>\"'";
    let cases = [
        (vec![("scope", "openid nope:x")], "invalid_scope"),
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("code_challenge", ""), ("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "short")], "invalid_request"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("audience", "https://unknown.test")], "invalid_target"),
    ];
    for (extra, error) in cases {
        let mut extra = extra.clone();
        extra.push(("state", weird_state));
        let r = br.authorize(&params(&id, &extra)).await;
        assert_eq!(r.status(), 303, "{extra:?}");
        let loc = location(&r);
        assert!(loc.starts_with(&format!("{REDIRECT}?")), "{loc}");
        assert_eq!(query_param(&loc, "error").as_deref(), Some(error), "{extra:?}: {loc}");
        assert!(query_param(&loc, "error_description").is_some());
        assert_eq!(query_param(&loc, "state").as_deref(), Some(weird_state), "state echoed byte for byte");
        assert_eq!(query_param(&loc, "iss").as_deref(), Some(t.base.as_str()));
    }
    // Unknown parameters are ignored.
    let r = br.authorize(&params(&id, &[("foo", "bar")])).await;
    assert_eq!(r.status(), 200);
}

async fn pages_send_anti_framing_and_no_store_headers_and_no_cors(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let r = br
        .http
        .get(t.url(&format!("/authorize?{}", serde_urlencoded(&params(&id, &[])))))
        .header("origin", "http://127.0.0.1:9999")
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_page_headers(h);
    assert!(h.get("access-control-allow-origin").is_none());
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let page = r.text().await.unwrap();
    assert!(page.contains("name=\"username\"") && page.contains("name=\"password\""));
    assert!(!page.contains("<script"), "works without JavaScript and loads nothing");
}

async fn reflected_parameters_are_html_escaped(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let evil = "\"><script>alert(1)</script>";
    let r = br.authorize(&params(&id, &[("state", evil), ("login_hint", evil), ("nonce", evil)])).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;") || page.contains("&lt;script&gt;"));
}

async fn a_form_without_the_csrf_token_is_rejected(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("kim", "pw-kim").await;
    let br = Browser::new(&t);
    let p = params(&id, &[]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let mut form = p.clone();
    form.extend([("username", "kim"), ("password", "pw-kim"), ("csrf", "forged-token-forged-token-forged-token")]);
    let r = br.http.post(t.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // A fresh browser without the cookie but with a valid-looking token: rejected too.
    let other = Browser::new(&t);
    let r = other.login(&page, &p, "kim", "pw-kim").await;
    assert_eq!(r.status(), 403);
    // The real form works.
    let r = br.login(&page, &p, "kim", "pw-kim").await;
    assert_eq!(r.status(), 303);
}

async fn a_wrong_password_reshows_the_form_with_a_generic_message(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.lockout_threshold = 3).await;
    let id = spa(&t, true, &[]).await;
    t.user("lee", "pw-lee").await;
    let br = Browser::new(&t);
    let p = params(&id, &[]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let r = br.login(&page, &p, "lee", "wrong").await;
    assert_eq!(r.status(), 400);
    let again = r.text().await.unwrap();
    assert!(again.contains("Wrong username or password.") && again.contains("name=\"password\""));
    let unknown = br.login(&page, &p, "nobody", "wrong").await.text().await.unwrap();
    assert!(unknown.contains("Wrong username or password."));
    for _ in 0..3 {
        br.login(&page, &p, "lee", "wrong").await;
    }
    let r = br.login(&page, &p, "lee", "pw-lee").await;
    assert_eq!(r.status(), 400, "the lockout applies to the login page");
}

async fn a_third_party_client_asks_for_consent_and_remembers_it(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, false, &[]).await;
    t.user("max", "pw-max").await;
    let br = Browser::new(&t);
    let p = params(&id, &[]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let r = br.follow(&br.login(&page, &p, "max", "pw-max").await).await;
    assert_eq!(r.status(), 200);
    let consent = r.text().await.unwrap();
    assert!(
        consent.contains("Test SPA") && consent.contains("See your username and profile") && consent.contains("read:x")
    );

    let denied = br.consent(&consent, &p, "deny").await;
    assert_eq!(denied.status(), 303);
    assert_eq!(query_param(&location(&denied), "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&location(&denied), "state").as_deref(), Some("st-123"));

    let allowed = br.consent(&consent, &p, "allow").await;
    assert!(query_param(&location(&allowed), "code").is_some());
    // Remembered: the next request goes straight back with a code.
    let r = br.authorize(&p).await;
    assert_eq!(r.status(), 303);
    assert!(query_param(&location(&r), "code").is_some());
    // Unless consent is asked for explicitly.
    let r = br.authorize(&params(&id, &[("prompt", "consent")])).await;
    assert_eq!(r.status(), 200);
}

async fn prompt_none_without_a_session_is_login_required(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, false, &[]).await;
    t.user("nia", "pw-nia").await;
    let br = Browser::new(&t);
    let r = br.authorize(&params(&id, &[("prompt", "none")])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"));
    let p = params(&id, &[]);
    let page = br.authorize(&p).await.text().await.unwrap();
    br.login(&page, &p, "nia", "pw-nia").await;
    let r = br.authorize(&params(&id, &[("prompt", "none")])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("consent_required"));
}

async fn the_sso_session_skips_the_login_until_it_ends(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("oli", "pw-oli").await;
    let br = Browser::new(&t);
    let p = params(&id, &[]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let r = br.login(&page, &p, "oli", "pw-oli").await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("oauthd_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "http issuer");
    let first = br.follow(&r).await;
    assert!(query_param(&location(&first), "code").is_some());

    let r = br.authorize(&p).await;
    assert_eq!(r.status(), 303, "SSO: no login page");
    let r = br.authorize(&params(&id, &[("prompt", "login")])).await;
    assert_eq!(r.status(), 200, "prompt=login forces the form");

    // A second login gives a new session value.
    let page = r.text().await.unwrap();
    let r2 = br.login(&page, &p, "oli", "pw-oli").await;
    let cookie2 = r2.headers()["set-cookie"].to_str().unwrap().to_string();
    assert_ne!(cookie.split(';').next(), cookie2.split(';').next());

    let r = br.get("/logout").await;
    assert_eq!(r.status(), 200);
    let r = br.authorize(&p).await;
    assert_eq!(r.status(), 200, "logged out: the form again");
}

async fn max_age_zero_forces_a_login_within_the_same_second_without_a_loop(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, false, &[]).await;
    t.user("pia", "pw-pia").await;
    let br = Browser::new(&t);
    let p = params(&id, &[("max_age", "0")]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let consent = br.follow(&br.login(&page, &p, "pia", "pw-pia").await).await;
    assert_eq!(consent.status(), 200, "the login just happened: on to consent, not the login form again");
    let consent = consent.text().await.unwrap();
    assert!(consent.contains("name=\"decision\"") && !consent.contains("name=\"max_age\""));
    let r = br.consent(&consent, &params(&id, &[]), "allow").await;
    assert!(query_param(&location(&r), "code").is_some(), "{}", location(&r));
    // At once, in the same second: the session is fresh, and max_age=0 still forces the form.
    let r = br.authorize(&p).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
    assert_eq!(br.authorize(&params(&id, &[("max_age", "3600")])).await.status(), 303);
}

async fn registration_rejects_unsafe_redirect_uris(b: Backend) {
    let t = TestApp::spawn(b).await;
    for bad in
        ["http://app.example/cb", "https://app.example/cb#x", "javascript:alert(1)", "relative/cb", "data:text/html,hi"]
    {
        let req = oauthd::admin::clients::NewClient {
            name: "x".into(),
            public: true,
            redirect_uris: vec![bad.into()],
            ..Default::default()
        };
        assert!(oauthd::admin::clients::create(t.app.store.as_ref(), req, None, 0).await.is_err(), "{bad}");
    }
    for good in
        ["https://app.example/cb", "http://localhost:3000/cb", "http://[::1]/cb", "com.example.app:/oauth2redirect"]
    {
        let req = oauthd::admin::clients::NewClient {
            name: "x".into(),
            public: true,
            redirect_uris: vec![good.into()],
            ..Default::default()
        };
        assert!(oauthd::admin::clients::create(t.app.store.as_ref(), req, None, 0).await.is_ok(), "{good}");
    }
}

on_both_backends!(
    unknown_clients_and_unregistered_redirect_uris_get_a_page_never_a_redirect,
    a_single_registered_redirect_uri_is_used_when_none_is_given,
    other_errors_redirect_with_error_state_and_iss,
    pages_send_anti_framing_and_no_store_headers_and_no_cors,
    reflected_parameters_are_html_escaped,
    a_form_without_the_csrf_token_is_rejected,
    a_wrong_password_reshows_the_form_with_a_generic_message,
    a_third_party_client_asks_for_consent_and_remembers_it,
    prompt_none_without_a_session_is_login_required,
    the_sso_session_skips_the_login_until_it_ends,
    max_age_zero_forces_a_login_within_the_same_second_without_a_loop,
    registration_rejects_unsafe_redirect_uris,
);
