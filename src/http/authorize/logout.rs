//! `/logout` (OIDC RP-Initiated Logout 1.0 §2–3): reads the request, calls `flows::logout`, and
//! redirects or shows the signed-out page, clearing the session cookie.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::forms::secure;
use super::pages::{read_cookie, redirect, set_cookie, SESSION_COOKIE};
use super::params::front;
use super::unavailable;
use crate::flows::logout::{self, LogoutError, KNOWN};
use crate::http::Web;

pub async fn logout_get(State(w): State<Web>, req: Request) -> Response {
    end(w, req, true).await
}

pub async fn logout_post(State(w): State<Web>, req: Request) -> Response {
    end(w, req, false).await
}

async fn end(w: Web, req: Request, from_query: bool) -> Response {
    let f = match front(req, from_query, &KNOWN).await {
        Ok(f) => f,
        Err((status, msg)) => return w.pages.error(status, msg),
    };
    if let Some(problem) = f.params.problem() {
        return w.pages.error(StatusCode::BAD_REQUEST, &format!("The request is malformed: {problem}."));
    }
    let session = read_cookie(&f.headers, SESSION_COOKIE);
    let mut resp = match logout::logout(&w.app, f.form(), session.as_deref()).await {
        Ok(Some(uri)) => redirect(&uri),
        Ok(None) => w.pages.message("Signed out", "You are signed out."),
        Err(LogoutError::Page(msg)) => return w.pages.error(StatusCode::BAD_REQUEST, msg),
        Err(LogoutError::Unavailable) => return unavailable(&w.pages),
    };
    set_cookie(&mut resp, SESSION_COOKIE, "", Some(0), secure(&w.app));
    resp
}
