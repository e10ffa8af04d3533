//! OAuth 2.0 Form Post Response Mode §2: the response as an auto-submitting form, for
//! `response_type=code`; the implicit and hybrid types stay unsupported (OAuth 2.1).

use crate::browser::*;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

/// HTML attribute text as a browser reads it.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden fields of a form post page.
fn fields(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let name = rest.split('"').next().unwrap().to_string();
            let value = rest.split("value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
            (name, unescape(&value))
        })
        .collect()
}

async fn form_post_answers_with_an_auto_submitting_form_to_the_redirect_uri(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = web_client(&t, |_| {}).await;
    t.user("fay", "pw-fay").await;
    let br = Browser::new(&t);
    let p = rp_params(&id, &[("response_mode", "form_post")]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let r = br.login(&page, &p, "fay", "pw-fay").await;
    let r = br.follow(&r).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action http://127.0.0.1:9999") && csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{csp}");
    let page = r.text().await.unwrap();
    assert!(unescape(&page).contains(&format!("<form method=\"post\" action=\"{REDIRECT}\">")), "{page}");
    assert!(page.contains("<script>document.forms[0].submit();</script>"));
    let f = fields(&page);
    let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["code", "state", "iss"]);
    assert_eq!(f[1].1, "st-123");
    let (s, body) = exchange_basic(&t, &id, &secret, &f[0].1, None).await;
    assert_eq!(s, 200, "{body}");
}

async fn errors_are_form_posted_too_and_other_response_types_stay_unsupported(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, _) = web_client(&t, |_| {}).await;
    let br = Browser::new(&t);
    let r = br.authorize(&rp_params(&id, &[("response_mode", "form_post"), ("prompt", "none")])).await;
    assert_eq!(r.status(), 200);
    let f = fields(&r.text().await.unwrap());
    assert_eq!(f[0], ("error".to_string(), "login_required".to_string()));
    for rt in ["id_token", "token", "code id_token", "id_token token"] {
        let r = br.authorize(&rp_params(&id, &[("response_type", rt), ("response_mode", "form_post")])).await;
        let f = fields(&r.text().await.unwrap());
        assert_eq!(f[0].1, "unsupported_response_type", "{rt}");
    }
    let r = br.authorize(&rp_params(&id, &[("response_mode", "fragment")])).await;
    assert_eq!(r.status(), 303);
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"));
}

async fn reflected_values_in_the_form_post_page_are_escaped(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, _) = web_client(&t, |_| {}).await;
    let br = Browser::new(&t);
    let evil = "\"><script>alert(1)</script>";
    let r = br.authorize(&rp_params(&id, &[("response_mode", "form_post"), ("prompt", "none"), ("state", evil)])).await;
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert_eq!(page.matches("<script>").count(), 1);
}

on_both_backends!(
    form_post_answers_with_an_auto_submitting_form_to_the_redirect_uri,
    errors_are_form_posted_too_and_other_response_types_stay_unsupported,
    reflected_values_in_the_form_post_page_are_escaped,
);
