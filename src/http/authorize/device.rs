//! The device verification page, RFC 8628 §3.3: `GET /device` shows the code form (pre-filled
//! from `verification_uri_complete`, never looked up on a GET, §5.4), and the POSTs to `/device`,
//! `/device/login` and `/device/decide` call `flows::device::verify`. Every form carries the
//! double-submit CSRF token of the login and consent pages.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use minijinja::context;

use super::forms::{check_csrf, csrf, describe, secure, with_csrf};
use super::pages::{read_cookie, set_cookie, CSRF_COOKIE, SESSION_COOKIE};
use super::params::{front, Front};
use super::unavailable;
use crate::flows::device::verify::{self, Confirm, Step, Visit};
use crate::http::Web;
use crate::oauth::secret;

const KNOWN: [&str; 5] = ["user_code", "csrf", "username", "password", "decision"];

pub async fn device_get(State(w): State<Web>, req: Request) -> Response {
    let f = match front(req, true, &KNOWN).await {
        Ok(f) => f,
        Err((status, msg)) => return w.pages.error(status, msg),
    };
    let code: String = f.form().get("user_code").unwrap_or("").chars().take(32).collect();
    render(&w, &f.headers, Step::Enter { code, error: None })
}

pub async fn device_post(State(w): State<Web>, req: Request) -> Response {
    let f = match checked(&w, req).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let (session, browser) = visitor(&f.headers);
    let v = Visit { session: session.as_deref(), browser: &browser, ip: f.ip };
    let step = verify::enter(&w.app, &v, f.form().get("user_code").unwrap_or("")).await;
    render(&w, &f.headers, step)
}

pub async fn device_login_post(State(w): State<Web>, req: Request) -> Response {
    let f = match checked(&w, req).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let (session, browser) = visitor(&f.headers);
    let v = Visit { session: session.as_deref(), browser: &browser, ip: f.ip };
    let form = f.form();
    let (code, user, pass) =
        (form.get("user_code").unwrap_or(""), form.get("username").unwrap_or(""), form.get("password").unwrap_or(""));
    let step = verify::login(&w.app, &v, code, user, pass).await;
    render(&w, &f.headers, step)
}

pub async fn device_decide_post(State(w): State<Web>, req: Request) -> Response {
    let f = match checked(&w, req).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let (session, browser) = visitor(&f.headers);
    let v = Visit { session: session.as_deref(), browser: &browser, ip: f.ip };
    let approved = f.form().get("decision") == Some("allow");
    let step = verify::decide(&w.app, &v, f.form().get("user_code").unwrap_or(""), approved).await;
    render(&w, &f.headers, step)
}

/// A POST's parameters, once its CSRF token checks out.
async fn checked(w: &Web, req: Request) -> Result<Front, Response> {
    let f = front(req, false, &KNOWN).await.map_err(|(status, msg)| w.pages.error(status, msg))?;
    match check_csrf(&w.pages, &f.headers, f.form()) {
        Some(resp) => Err(resp),
        None => Ok(f),
    }
}

/// The SSO session cookie, and the key wrong codes are counted under for this browser: its
/// session, or else its CSRF cookie (digests, so no cookie value is kept in memory).
fn visitor(headers: &HeaderMap) -> (Option<String>, String) {
    let session = read_cookie(headers, SESSION_COOKIE);
    let browser = match &session {
        Some(s) => format!("s:{}", secret::digest(s)),
        None => format!("c:{}", secret::digest(&read_cookie(headers, CSRF_COOKIE).unwrap_or_default())),
    };
    (session, browser)
}

fn render(w: &Web, headers: &HeaderMap, step: Step) -> Response {
    let secure = secure(&w.app);
    let (token, new) = csrf(headers);
    let (status, ctx) = match step {
        Step::Enter { code, error } => (bad_if(error), context! { stage => "enter", code, error, csrf => token }),
        Step::Login { code, client_name, username, error } => {
            (bad_if(error), context! { stage => "login", code, client_name, username, error, csrf => token })
        }
        Step::Confirm(c) => (StatusCode::OK, confirm_ctx(&c, &token)),
        Step::SignedIn { session_token, confirm } => {
            let page = w.pages.render(StatusCode::OK, "device.html", confirm_ctx(&confirm, &token), None);
            let mut resp = with_csrf(secure, page, &token, new);
            let ttl = Some(w.app.settings.session_ttl as i64);
            set_cookie(&mut resp, SESSION_COOKIE, &session_token, ttl, secure);
            return resp;
        }
        Step::Done { approved: true, client_name } => {
            let msg = format!("{client_name} is now connected. You can close this window and return to your device.");
            return w.pages.message("Device connected", &msg);
        }
        Step::Done { approved: false, client_name } => {
            let msg = format!("{client_name} was denied access. You can close this window.");
            return w.pages.message("Request denied", &msg);
        }
        Step::Throttled(retry_after) => {
            let mut r = w.pages.error(StatusCode::TOO_MANY_REQUESTS, "Too many attempts. Try again later.");
            r.headers_mut().insert("retry-after", HeaderValue::from(retry_after));
            return r;
        }
        Step::Unavailable => return unavailable(&w.pages),
    };
    with_csrf(secure, w.pages.render(status, "device.html", ctx, None), &token, new)
}

fn bad_if(error: Option<&str>) -> StatusCode {
    if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

fn confirm_ctx(c: &Confirm, token: &str) -> minijinja::Value {
    let scopes: Vec<String> = c.scope.split(' ').filter(|s| !s.is_empty()).map(|s| describe(s, &c.audience)).collect();
    context! {
        stage => "confirm", code => c.code, client_name => c.client_name, username => c.username,
        audience => c.audience, scopes, csrf => token,
    }
}
