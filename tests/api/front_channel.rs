//! Front-channel requests as sent, not as a form library would send them: repeated and unknown
//! parameters (RFC 6749 §4.1.2.1), request objects (OIDC Core §3.1.2.6), sizes and the headers on
//! responses the handlers do not write.

use crate::browser::*;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

async fn get_raw(br: &Browser<'_>, query: &str) -> reqwest::Response {
    br.get(&format!("/authorize?{query}")).await
}

async fn unknown_parameters_are_ignored_even_repeated_or_not_utf8(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let q = serde_urlencoded(&params(&id, &[]));
    let r = get_raw(&br, &format!("{q}&foo=1&foo=2&bar=%FF&%FF=1&baz=%00&display=page&display=popup")).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
}

async fn a_repeated_or_malformed_known_parameter_redirects_with_invalid_request(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let q = serde_urlencoded(&params(&id, &[("nonce", "")]));
    for extra in ["scope=openid", "code_challenge_method=S256", "nonce=n%00x", "login_hint=%FF"] {
        let r = get_raw(&br, &format!("{q}&{extra}")).await;
        assert_eq!(r.status(), 303, "{extra}");
        let loc = location(&r);
        assert!(loc.starts_with(&format!("{REDIRECT}?")), "{loc}");
        assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_request"), "{extra}");
        assert_eq!(query_param(&loc, "state").as_deref(), Some("st-123"));
        assert_eq!(query_param(&loc, "iss").as_deref(), Some(t.base.as_str()));
    }
    // The same in a POST body.
    let body = format!("{q}&scope=openid");
    let r = br.http.post(t.url("/authorize")).header("content-type", "application/x-www-form-urlencoded");
    let r = r.body(body).send().await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"));
}

async fn a_repeated_client_id_or_redirect_uri_gets_a_page_never_a_redirect(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let q = serde_urlencoded(&params(&id, &[]));
    let redirect = serde_urlencoded(&[("redirect_uri", REDIRECT)]);
    for extra in [redirect, format!("client_id={id}"), "redirect_uri=%FF".into(), "client_id=x%00".into()] {
        let r = get_raw(&br, &format!("{q}&{extra}")).await;
        assert_eq!(r.status(), 400, "{extra}");
        assert!(r.headers().get("location").is_none(), "{extra}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
}

async fn request_objects_are_refused_by_redirect(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    for (key, error) in [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")] {
        let r = br.authorize(&params(&id, &[(key, "eyJhbGciOiJub25lIn0.e30.")])).await;
        assert_eq!(r.status(), 303);
        assert_eq!(query_param(&location(&r), "error").as_deref(), Some(error));
        assert_eq!(query_param(&location(&r), "state").as_deref(), Some("st-123"));
    }
}

async fn oversized_front_channel_bodies_are_413(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let body = format!("{}&filler={}", serde_urlencoded(&params(&id, &[])), "x".repeat(70 * 1024));
    for path in ["/authorize", "/login", "/consent", "/logout", "/device", "/device/login", "/device/decide"] {
        let r = t
            .http
            .post(t.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
}

async fn responses_axum_writes_on_the_front_channel_carry_the_page_headers(b: Backend) {
    let t = TestApp::spawn(b).await;
    for (method, path) in [(reqwest::Method::GET, "/login"), (reqwest::Method::PUT, "/authorize")] {
        let r = t.http.request(method, t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{path}");
        let h = r.headers();
        crate::browser::assert_page_headers(h);
    }
}

on_both_backends!(
    unknown_parameters_are_ignored_even_repeated_or_not_utf8,
    a_repeated_or_malformed_known_parameter_redirects_with_invalid_request,
    a_repeated_client_id_or_redirect_uri_gets_a_page_never_a_redirect,
    request_objects_are_refused_by_redirect,
    oversized_front_channel_bodies_are_413,
    responses_axum_writes_on_the_front_channel_carry_the_page_headers,
);
