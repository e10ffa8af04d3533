//! The front channel: `/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2), the login and consent
//! forms, and `/logout`. Never CORS-enabled; every page forbids framing.

mod pages;
mod request;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use minijinja::context;
use subtle::ConstantTimeEq;

pub use pages::Pages;
use pages::{origin_of, read_cookie, redirect, set_cookie, CSRF_COOKIE, SESSION_COOKIE};
use request::{response_uri, validate, AuthzError, AuthzRequest};

use super::extract::{parse_form, Form, MAX_BODY_BYTES};
use crate::app::{now, App, AppState};
use crate::login::{self, Outcome};
use crate::oauth::{scope, secret};
use crate::store::{AuthCode, Session, StoreError, User};

#[derive(PartialEq, Eq, Clone, Copy)]
enum Stage {
    Fresh,
    Consented,
}

struct Active {
    user: User,
    auth_time: i64,
}

/// Everything a front-channel handler needs from the request.
struct Front {
    headers: HeaderMap,
    form: Form,
    ip: std::net::IpAddr,
}

async fn front(req: Request, from_query: bool) -> Result<Front, &'static str> {
    let ip = super::client_ip(req.extensions());
    let (parts, body) = req.into_parts();
    let bytes = if from_query {
        Bytes::from(parts.uri.query().unwrap_or("").to_string())
    } else {
        axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await.map_err(|_| "The request body is too large.")?
    };
    let form = parse_form(&bytes).map_err(|_| "The request parameters are malformed or repeated.")?;
    Ok(Front { headers: parts.headers, form, ip })
}

pub async fn authorize_get(State(app): State<App>, req: Request) -> Response {
    authorize(app, req, true).await
}

pub async fn authorize_post(State(app): State<App>, req: Request) -> Response {
    authorize(app, req, false).await
}

async fn authorize(app: App, req: Request, from_query: bool) -> Response {
    let f = match front(req, from_query).await {
        Ok(f) => f,
        Err(msg) => return app.pages.error(StatusCode::BAD_REQUEST, msg),
    };
    let areq = match validate(&app, &f.form).await {
        Ok(r) => r,
        Err(e) => return fail(&app, e),
    };
    match session(&app, &f.headers).await {
        Ok(active) => proceed(&app, &f.headers, areq, active, Stage::Fresh).await,
        Err(_) => fail(&app, AuthzError::Unavailable),
    }
}

pub async fn login_post(State(app): State<App>, req: Request) -> Response {
    let f = match front(req, false).await {
        Ok(f) => f,
        Err(msg) => return app.pages.error(StatusCode::BAD_REQUEST, msg),
    };
    if let Some(resp) = check_csrf(&app, &f) {
        return resp;
    }
    if let Err(crate::error::TokenError::TooManyRequests { retry_after }) = app.limits.check_ip(f.ip) {
        return throttled(&app, retry_after);
    }
    let areq = match validate(&app, &f.form).await {
        Ok(r) => r,
        Err(e) => return fail(&app, e),
    };
    let (username, password) = (f.form.get("username").unwrap_or(""), f.form.get("password").unwrap_or(""));
    let t = now();
    let user = match login::check(&app, f.ip, &areq.client.client.id, username, password, t).await {
        Ok(Outcome::Ok(user)) => *user,
        Ok(Outcome::Invalid) => {
            return login_page(
                &app,
                &f.headers,
                &areq,
                username,
                Some("Wrong username or password."),
                StatusCode::BAD_REQUEST,
            );
        }
        Ok(Outcome::Throttled(secs)) => return throttled(&app, secs),
        Err(_) => return fail(&app, AuthzError::Unavailable),
    };
    // A new session value at every login (no session fixation); the old one ends.
    let token = secret::random_token(32);
    let s = Session {
        hash: secret::digest(&token),
        user_id: user.id.clone(),
        auth_time: t,
        created_at: t,
        expires_at: crate::app::later(t, app.settings.session_ttl),
    };
    let stored = async {
        if let Some(old) = read_cookie(&f.headers, SESSION_COOKIE) {
            app.store.delete_session(&secret::digest(&old)).await?;
        }
        app.store.insert_session(&s).await
    };
    if stored.await.is_err() {
        return fail(&app, AuthzError::Unavailable);
    }
    // Post/Redirect/Get: back to /authorize, which now finds the session. The login that was
    // asked for (prompt=login, max_age) has just happened, so those are not sent again.
    let mut resp = redirect(&format!("/authorize?{}", after_login_query(&areq.params)));
    set_cookie(&mut resp, SESSION_COOKIE, &token, Some(app.settings.session_ttl as i64), secure(&app));
    resp
}

fn after_login_query(params: &[(String, String)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        match k.as_str() {
            "max_age" => {}
            "prompt" => {
                let rest: Vec<&str> = v.split(' ').filter(|p| !p.is_empty() && *p != "login").collect();
                if !rest.is_empty() {
                    ser.append_pair(k, &rest.join(" "));
                }
            }
            _ => {
                ser.append_pair(k, v);
            }
        }
    }
    ser.finish()
}

pub async fn consent_post(State(app): State<App>, req: Request) -> Response {
    let f = match front(req, false).await {
        Ok(f) => f,
        Err(msg) => return app.pages.error(StatusCode::BAD_REQUEST, msg),
    };
    if let Some(resp) = check_csrf(&app, &f) {
        return resp;
    }
    let areq = match validate(&app, &f.form).await {
        Ok(r) => r,
        Err(e) => return fail(&app, e),
    };
    let active = match session(&app, &f.headers).await {
        Ok(Some(a)) => a,
        Ok(None) => return proceed(&app, &f.headers, areq, None, Stage::Fresh).await,
        Err(_) => return fail(&app, AuthzError::Unavailable),
    };
    if f.form.get("decision") != Some("allow") {
        let (redirect_uri, state) = (areq.redirect_uri, areq.state);
        return fail(
            &app,
            AuthzError::Redirect {
                redirect_uri,
                state,
                error: "access_denied",
                description: "the user denied the request".into(),
            },
        );
    }
    if app.store.upsert_consent(&active.user.id, &areq.client.client.id, &areq.scope, now()).await.is_err() {
        return fail(&app, AuthzError::Unavailable);
    }
    proceed(&app, &f.headers, areq, Some(active), Stage::Consented).await
}

/// Decides what the user sees next: the login form, the consent form, or the client with a code.
async fn proceed(
    app: &AppState,
    headers: &HeaderMap,
    req: AuthzRequest,
    active: Option<Active>,
    stage: Stage,
) -> Response {
    let t = now();
    let active = active.filter(|a| {
        let forced = req.prompt.login && stage == Stage::Fresh;
        let too_old = req.max_age.is_some_and(|m| t - a.auth_time > m);
        !forced && !too_old
    });
    let Some(active) = active else {
        if req.prompt.none {
            return fail(app, error_for(&req, "login_required", "the user is not signed in"));
        }
        let hint = req.login_hint.clone().unwrap_or_default();
        return login_page(app, headers, &req, &hint, None, StatusCode::OK);
    };
    let consented = match app.store.get_consent(&active.user.id, &req.client.client.id).await {
        Ok(c) => c.is_some_and(|granted| {
            req.scope.split(' ').filter(|s| !s.is_empty()).all(|s| scope::contains(&granted, s))
        }),
        Err(_) => return fail(app, AuthzError::Unavailable),
    };
    let needs_consent =
        stage != Stage::Consented && (req.prompt.consent || (!req.client.client.first_party && !consented));
    if needs_consent {
        if req.prompt.none {
            return fail(app, error_for(&req, "consent_required", "the user has not consented"));
        }
        return consent_page(app, headers, &req, &active.user);
    }
    match issue_code(app, &req, &active, t).await {
        Ok(code) => {
            redirect(&response_uri(&req.redirect_uri, &app.settings.issuer, &[("code", &code)], req.state.as_deref()))
        }
        Err(_) => fail(app, AuthzError::Unavailable),
    }
}

async fn issue_code(app: &AppState, req: &AuthzRequest, active: &Active, t: i64) -> Result<String, StoreError> {
    let code = secret::random_token(32);
    let rec = AuthCode {
        hash: secret::digest(&code),
        client_id: req.client.client.id.clone(),
        user_id: active.user.id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        redirect_uri_given: req.redirect_given,
        code_challenge: req.code_challenge.clone(),
        scope: req.scope.clone(),
        audience: req.audience.clone(),
        nonce: req.nonce.clone(),
        auth_time: active.auth_time,
        created_at: t,
        expires_at: crate::app::later(t, app.settings.code_ttl),
        used_at: None,
        access_jti: None,
        access_exp: None,
        family_id: None,
    };
    app.store.insert_code(&rec).await?;
    Ok(code)
}

fn throttled(app: &AppState, retry_after: u64) -> Response {
    let mut r = app.pages.error(StatusCode::TOO_MANY_REQUESTS, "Too many attempts. Try again later.");
    r.headers_mut().insert("retry-after", HeaderValue::from(retry_after));
    r
}

fn error_for(req: &AuthzRequest, error: &'static str, description: &str) -> AuthzError {
    AuthzError::Redirect {
        redirect_uri: req.redirect_uri.clone(),
        state: req.state.clone(),
        error,
        description: description.into(),
    }
}

fn fail(app: &AppState, e: AuthzError) -> Response {
    match e {
        AuthzError::Page(msg) => app.pages.error(StatusCode::BAD_REQUEST, &msg),
        AuthzError::Unavailable => {
            let mut r = app
                .pages
                .error(StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable. Try again shortly.");
            r.headers_mut().insert("retry-after", HeaderValue::from_static("5"));
            r
        }
        AuthzError::Redirect { redirect_uri, state, error, description } => {
            let description = crate::error::sanitize_description(&description);
            let pairs = [("error", error), ("error_description", description.as_str())];
            redirect(&response_uri(&redirect_uri, &app.settings.issuer, &pairs, state.as_deref()))
        }
    }
}

async fn session(app: &AppState, headers: &HeaderMap) -> Result<Option<Active>, StoreError> {
    let Some(token) = read_cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let Some(s) = app.store.get_session(&secret::digest(&token)).await? else { return Ok(None) };
    if s.expires_at <= now() {
        return Ok(None);
    }
    let user = app.store.get_user(&s.user_id).await?.filter(|u| !u.disabled);
    Ok(user.map(|user| Active { user, auth_time: s.auth_time }))
}

fn secure(app: &AppState) -> bool {
    app.settings.issuer.starts_with("https://")
}

/// Double-submit CSRF check: the hidden field must equal the cookie set with the form.
fn check_csrf(app: &AppState, f: &Front) -> Option<Response> {
    let cookie = read_cookie(&f.headers, CSRF_COOKIE).unwrap_or_default();
    let field = f.form.get("csrf").unwrap_or("");
    let ok = !cookie.is_empty() && bool::from(cookie.as_bytes().ct_eq(field.as_bytes()));
    (!ok).then(|| {
        app.pages.error(
            StatusCode::FORBIDDEN,
            "This form has expired or was not sent from this site. Go back to the application and try again.",
        )
    })
}

/// The CSRF token of this browser, and whether it must be set as a cookie.
fn csrf(headers: &HeaderMap) -> (String, bool) {
    match read_cookie(headers, CSRF_COOKIE).filter(|c| c.len() >= 32) {
        Some(c) => (c, false),
        None => (secret::random_token(32), true),
    }
}

fn with_csrf(app: &AppState, mut resp: Response, token: &str, new: bool) -> Response {
    if new {
        set_cookie(&mut resp, CSRF_COOKIE, token, None, secure(app));
    }
    resp
}

fn login_page(
    app: &AppState,
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
    let resp = app.pages.render(status, "login.html", ctx, origin_of(&req.redirect_uri).as_deref());
    with_csrf(app, resp, &token, new)
}

fn consent_page(app: &AppState, headers: &HeaderMap, req: &AuthzRequest, user: &User) -> Response {
    let (token, new) = csrf(headers);
    let scopes: Vec<String> =
        req.scope.split(' ').filter(|s| !s.is_empty()).map(|s| describe(s, &req.audience)).collect();
    let ctx = context! {
        client_name => req.client.client.name, params => req.params, csrf => token, action => "/consent",
        username => user.username, scopes,
    };
    let resp = app.pages.render(StatusCode::OK, "consent.html", ctx, origin_of(&req.redirect_uri).as_deref());
    with_csrf(app, resp, &token, new)
}

fn describe(scope: &str, audience: &str) -> String {
    match scope {
        "openid" => "Confirm who you are".into(),
        "profile" => "See your username and profile".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Stay connected to your account when you are not using it".into(),
        s => format!("Use {audience} with the permission “{s}”"),
    }
}

/// `GET /logout` (OIDC RP-Initiated Logout 1.0): ends the SSO session.
pub async fn logout(State(app): State<App>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let Ok(form) = parse_form(q.unwrap_or_default().as_bytes()) else {
        return app.pages.error(StatusCode::BAD_REQUEST, "The request parameters are malformed or repeated.");
    };
    let target = match (form.get("post_logout_redirect_uri"), form.get("client_id")) {
        (None, _) => None,
        (Some(_), None) => {
            return app.pages.error(StatusCode::BAD_REQUEST, "post_logout_redirect_uri needs client_id.")
        }
        (Some(uri), Some(id)) => match app.client(id).await {
            Ok(Some(c)) if c.client.post_logout_redirect_uris.split(' ').any(|r| r == uri) => Some(uri.to_string()),
            Ok(_) => {
                return app.pages.error(StatusCode::BAD_REQUEST, "That post_logout_redirect_uri is not registered.")
            }
            Err(_) => return fail(&app, AuthzError::Unavailable),
        },
    };
    if let Some(token) = read_cookie(&headers, SESSION_COOKIE) {
        if app.store.delete_session(&secret::digest(&token)).await.is_err() {
            return fail(&app, AuthzError::Unavailable);
        }
    }
    let mut resp = match target {
        Some(uri) => {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            if let Some(s) = form.get("state") {
                ser.append_pair("state", s);
            }
            let q = ser.finish();
            let sep = if uri.contains('?') { '&' } else { '?' };
            redirect(&if q.is_empty() { uri } else { format!("{uri}{sep}{q}") })
        }
        None => app.pages.message("Signed out", "You are signed out."),
    };
    set_cookie(&mut resp, SESSION_COOKIE, "", Some(0), secure(&app));
    resp
}
