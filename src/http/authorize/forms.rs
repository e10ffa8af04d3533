//! The forms the front channel renders (login, consent, sign-out; the device page uses them too), each with a double-submit
//! CSRF token (RFC 6749 §10.12, RFC 9700 §4.7).

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use subtle::ConstantTimeEq;

use super::pages::{origin_of, read_cookie, set_cookie, Pages, CSRF_COOKIE};
use crate::flows::authorize::AuthzRequest;
use crate::oauth::{secret, Form};
use crate::state::AppState;
use crate::store::User;

pub fn secure(app: &AppState) -> bool {
    app.settings.issuer.starts_with("https://")
}

/// Double-submit CSRF check: the hidden field must equal the cookie set with the form.
pub fn check_csrf(pages: &Pages, headers: &HeaderMap, form: &Form) -> Option<Response> {
    let cookie = read_cookie(headers, CSRF_COOKIE).unwrap_or_default();
    let field = form.get("csrf").unwrap_or("");
    let ok = !cookie.is_empty() && bool::from(cookie.as_bytes().ct_eq(field.as_bytes()));
    (!ok).then(|| {
        pages.error(
            StatusCode::FORBIDDEN,
            "This form has expired or was not sent from this site. Go back to the application and try again.",
        )
    })
}

/// The CSRF token of this browser, and whether it must be set as a cookie.
pub fn csrf(headers: &HeaderMap) -> (String, bool) {
    match read_cookie(headers, CSRF_COOKIE).filter(|c| c.len() >= 32) {
        Some(c) => (c, false),
        None => (secret::random_token(32), true),
    }
}

pub fn with_csrf(secure: bool, mut resp: Response, token: &str, new: bool) -> Response {
    if new {
        set_cookie(&mut resp, CSRF_COOKIE, token, None, secure);
    }
    resp
}

pub fn login_page(
    pages: &Pages,
    secure: bool,
    headers: &HeaderMap,
    req: &AuthzRequest,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (token, new) = csrf(headers);
    let ctx = context! {
        client_name => req.client.client.name, params => req.params, csrf => token, action => "/login", username, error,
    };
    let resp = pages.render(status, "login.html", ctx, origin_of(&req.redirect_uri).as_deref());
    with_csrf(secure, resp, &token, new)
}

pub fn consent_page(pages: &Pages, secure: bool, headers: &HeaderMap, req: &AuthzRequest, user: &User) -> Response {
    let (token, new) = csrf(headers);
    let scopes: Vec<String> =
        req.scope.split(' ').filter(|s| !s.is_empty()).map(|s| describe(s, &req.audience)).collect();
    let ctx = context! {
        client_name => req.client.client.name, params => req.params, csrf => token, action => "/consent",
        username => user.username, scopes,
    };
    let resp = pages.render(StatusCode::OK, "consent.html", ctx, origin_of(&req.redirect_uri).as_deref());
    with_csrf(secure, resp, &token, new)
}

pub fn describe(scope: &str, audience: &str) -> String {
    match scope {
        "openid" => "Confirm who you are".into(),
        "profile" => "See your username and profile".into(),
        "email" => "See your email address".into(),
        "address" => "See your postal address".into(),
        "phone" => "See your phone number".into(),
        "offline_access" => "Stay connected to your account when you are not using it".into(),
        s => format!("Use {audience} with the permission “{s}”"),
    }
}
