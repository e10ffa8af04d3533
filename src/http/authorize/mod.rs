//! The front channel's handlers: `/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2), the login and
//! consent forms, `/logout`, and the device verification page (RFC 8628 §3.3). They read the request, call `flows::authorize`, and render the
//! step it returns. Never CORS-enabled; every page forbids framing.

mod device;
mod forms;
mod logout;
mod pages;
mod params;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

pub use device::{device_decide_post, device_get, device_login_post, device_post};
use forms::{check_csrf, consent_page, login_page, secure};
pub use logout::{logout_get, logout_post};
use pages::{read_cookie, redirect, set_cookie, SESSION_COOKIE};
pub use pages::{Pages, PAGE_CSP};
use params::front;

use super::Web;
use crate::flows::authorize::{self, response_pairs, response_uri, AuthzError, ResponseMode, Step, AUTHORIZE_KNOWN};
use crate::oauth::error::sanitize_description;

pub async fn authorize_get(State(w): State<Web>, req: Request) -> Response {
    authorize(w, req, true).await
}

pub async fn authorize_post(State(w): State<Web>, req: Request) -> Response {
    authorize(w, req, false).await
}

async fn authorize(w: Web, req: Request, from_query: bool) -> Response {
    let f = match front(req, from_query, &AUTHORIZE_KNOWN).await {
        Ok(f) => f,
        Err((status, msg)) => return w.pages.error(status, msg),
    };
    let session = read_cookie(&f.headers, SESSION_COOKIE);
    let step = authorize::authorize(&w.app, &f.params, session.as_deref()).await;
    render(&w, &f.headers, step)
}

pub async fn login_post(State(w): State<Web>, req: Request) -> Response {
    let f = match front(req, false, &AUTHORIZE_KNOWN).await {
        Ok(f) => f,
        Err((status, msg)) => return w.pages.error(status, msg),
    };
    if let Some(resp) = check_csrf(&w.pages, &f.headers, f.form()) {
        return resp;
    }
    let session = read_cookie(&f.headers, SESSION_COOKIE);
    let step = authorize::login(&w.app, &f.params, session.as_deref(), f.ip).await;
    render(&w, &f.headers, step)
}

pub async fn consent_post(State(w): State<Web>, req: Request) -> Response {
    let f = match front(req, false, &AUTHORIZE_KNOWN).await {
        Ok(f) => f,
        Err((status, msg)) => return w.pages.error(status, msg),
    };
    if let Some(resp) = check_csrf(&w.pages, &f.headers, f.form()) {
        return resp;
    }
    let session = read_cookie(&f.headers, SESSION_COOKIE);
    let step = authorize::consent(&w.app, &f.params, session.as_deref()).await;
    render(&w, &f.headers, step)
}

/// The page or redirect for the flow's next step.
fn render(w: &Web, headers: &HeaderMap, step: Step) -> Response {
    let secure = secure(&w.app);
    match step {
        Step::Login { req, username, error } => {
            let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
            login_page(&w.pages, secure, headers, &req, &username, error, status)
        }
        Step::Consent { req, user } => consent_page(&w.pages, secure, headers, &req, &user),
        Step::Redirect(uri) => redirect(&uri),
        Step::FormPost { action, fields } => w.pages.form_post(&action, &fields),
        Step::SignedIn { location, session_token } => {
            let mut resp = redirect(&location);
            set_cookie(&mut resp, SESSION_COOKIE, &session_token, Some(w.app.settings.session_ttl as i64), secure);
            resp
        }
        Step::Throttled(retry_after) => {
            let mut r = w.pages.error(StatusCode::TOO_MANY_REQUESTS, "Too many attempts. Try again later.");
            r.headers_mut().insert("retry-after", HeaderValue::from(retry_after));
            r
        }
        Step::Fail(e) => fail(w, e),
    }
}

fn fail(w: &Web, e: AuthzError) -> Response {
    match e {
        AuthzError::Page(msg) => w.pages.error(StatusCode::BAD_REQUEST, &msg),
        AuthzError::Unavailable => unavailable(&w.pages),
        AuthzError::Redirect { redirect_uri, mode, state, error, description } => {
            let description = sanitize_description(&description);
            let pairs = [("error", error), ("error_description", description.as_str())];
            let iss = &w.app.settings.issuer;
            match mode {
                ResponseMode::Query => redirect(&response_uri(&redirect_uri, iss, &pairs, state.as_deref())),
                ResponseMode::FormPost => {
                    w.pages.form_post(&redirect_uri, &response_pairs(iss, &pairs, state.as_deref()))
                }
            }
        }
    }
}

fn unavailable(pages: &Pages) -> Response {
    let mut r =
        pages.error(StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable. Try again shortly.");
    r.headers_mut().insert("retry-after", HeaderValue::from_static("5"));
    r
}
