//! Server-rendered pages (minijinja, auto-escaped) with the headers every page sends:
//! no framing, a restrictive CSP, no referrer, no caching; and the form post response page.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use minijinja::{context, Environment, Value};

pub const SESSION_COOKIE: &str = "oauthd_session";
pub const CSRF_COOKIE: &str = "oauthd_csrf";
/// The CSP of a page whose forms post only to us.
pub const PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn new() -> anyhow::Result<Pages> {
        let mut env = Environment::new();
        env.add_template("base.html", include_str!("../../../templates/base.html"))?;
        env.add_template("login.html", include_str!("../../../templates/login.html"))?;
        env.add_template("consent.html", include_str!("../../../templates/consent.html"))?;
        env.add_template("device.html", include_str!("../../../templates/device.html"))?;
        env.add_template("message.html", include_str!("../../../templates/message.html"))?;
        env.add_template("form_post.html", include_str!("../../../templates/form_post.html"))?;
        Ok(Pages { env })
    }

    /// Renders `name`; `form_target` is the origin a form on the page may end up redirecting to.
    pub fn render(&self, status: StatusCode, name: &str, ctx: Value, form_target: Option<&str>) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => page(status, html, form_target),
            Err(e) => {
                tracing::error!(error = %e, template = name, "template failed");
                page(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into(), None)
            }
        }
    }

    /// An error page: used whenever redirecting back to the client would be unsafe.
    pub fn error(&self, status: StatusCode, message: &str) -> Response {
        self.render(status, "message.html", context! { title => "Something went wrong", message, error => true }, None)
    }

    pub fn message(&self, title: &str, message: &str) -> Response {
        self.render(StatusCode::OK, "message.html", context! { title, message }, None)
    }

    /// OAuth 2.0 Form Post Response Mode §2: a page that posts `fields` to `action` at once. Its
    /// one script is allowed by hash; the form may go only to the client's origin.
    pub fn form_post(&self, action: &str, fields: &[(String, String)]) -> Response {
        let ctx = context! { action, fields, script => FORM_POST_SCRIPT };
        let html = match self.env.get_template("form_post.html").and_then(|t| t.render(ctx)) {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(error = %e, "form_post template failed");
                return page(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into(), None);
            }
        };
        let target = origin_of(action).unwrap_or_else(|| "'none'".into());
        let csp = format!(
            "default-src 'none'; script-src '{}'; form-action {target}; frame-ancestors 'none'; base-uri 'none'",
            script_hash()
        );
        let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
        if let Ok(v) = HeaderValue::from_str(&csp) {
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
        secure_headers(r.headers_mut());
        r
    }
}

/// The form post page's only script.
const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// CSP `sha256-…` of `FORM_POST_SCRIPT` (CSP Level 3 §8.4: base64 of the digest).
fn script_hash() -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes());
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

fn page(status: StatusCode, html: String, form_target: Option<&str>) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    // A form may redirect to the client after posting to us: CSP form-action covers redirects.
    let csp = match form_target {
        Some(t) => PAGE_CSP.replacen("form-action 'self'", &format!("form-action 'self' {t}"), 1),
        None => PAGE_CSP.to_string(),
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    secure_headers(h);
    r
}

/// Headers for every page and every redirect that may carry a code in its URL.
pub fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A 303 redirect (RFC 9700 §4.12: never 307 after a POST with credentials).
pub fn redirect(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(r.headers_mut());
    r
}

pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// `HttpOnly; SameSite=Lax; Path=/`, and `Secure` when the issuer is https.
pub fn set_cookie(r: &mut Response, name: &str, value: &str, max_age: Option<i64>, secure: bool) {
    let mut c = Cookie::build((name, value)).http_only(true).same_site(SameSite::Lax).path("/").secure(secure);
    if let Some(age) = max_age {
        c = c.max_age(cookie::time::Duration::seconds(age));
    }
    if let Ok(v) = HeaderValue::from_str(&c.build().to_string()) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The origin part of a redirect URI, for the CSP `form-action` directive.
pub fn origin_of(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.scheme() {
        "http" | "https" => Some(u.origin().ascii_serialization()),
        s => Some(format!("{s}:")),
    }
}
