//! The front channel: `/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2), the login and consent
//! forms, and `/logout`. Never CORS-enabled; every page forbids framing.

mod forms;
mod logout;
mod pages;
mod params;
mod request;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use forms::{check_csrf, consent_page, login_page, secure};
pub use logout::{logout_get, logout_post};
use pages::{read_cookie, redirect, set_cookie, SESSION_COOKIE};
pub use pages::{Pages, PAGE_CSP};
use params::{front, AUTHORIZE_KNOWN};
use request::{response_uri, validate, AuthzError, AuthzRequest};

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

pub async fn authorize_get(State(app): State<App>, req: Request) -> Response {
    authorize(app, req, true).await
}

pub async fn authorize_post(State(app): State<App>, req: Request) -> Response {
    authorize(app, req, false).await
}

async fn authorize(app: App, req: Request, from_query: bool) -> Response {
    let f = match front(req, from_query, &AUTHORIZE_KNOWN).await {
        Ok(f) => f,
        Err((status, msg)) => return app.pages.error(status, msg),
    };
    let areq = match validate(&app, &f.params).await {
        Ok(r) => r,
        Err(e) => return fail(&app, e),
    };
    match session(&app, &f.headers).await {
        Ok(active) => proceed(&app, &f.headers, areq, active, Stage::Fresh).await,
        Err(_) => fail(&app, AuthzError::Unavailable),
    }
}

pub async fn login_post(State(app): State<App>, req: Request) -> Response {
    let f = match front(req, false, &AUTHORIZE_KNOWN).await {
        Ok(f) => f,
        Err((status, msg)) => return app.pages.error(status, msg),
    };
    if let Some(resp) = check_csrf(&app, &f.headers, f.form()) {
        return resp;
    }
    if let Err(crate::error::TokenError::TooManyRequests { retry_after }) = app.limits.check_ip(f.ip) {
        return throttled(&app, retry_after);
    }
    let areq = match validate(&app, &f.params).await {
        Ok(r) => r,
        Err(e) => return fail(&app, e),
    };
    if let Err(crate::error::TokenError::TooManyRequests { retry_after }) =
        app.limits.check_client(&areq.client.client.id)
    {
        return throttled(&app, retry_after);
    }
    let (username, password) = (f.form().get("username").unwrap_or(""), f.form().get("password").unwrap_or(""));
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
    let f = match front(req, false, &AUTHORIZE_KNOWN).await {
        Ok(f) => f,
        Err((status, msg)) => return app.pages.error(status, msg),
    };
    if let Some(resp) = check_csrf(&app, &f.headers, f.form()) {
        return resp;
    }
    let areq = match validate(&app, &f.params).await {
        Ok(r) => r,
        Err(e) => return fail(&app, e),
    };
    let active = match session(&app, &f.headers).await {
        Ok(Some(a)) => a,
        Ok(None) => return proceed(&app, &f.headers, areq, None, Stage::Fresh).await,
        Err(_) => return fail(&app, AuthzError::Unavailable),
    };
    if f.form().get("decision") != Some("allow") {
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
    let (user, client) = (&active.user.id, &areq.client.client.id);
    if app.store.grant_consent(user, client, &areq.audience, &areq.scope, now()).await.is_err() {
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
        // Whole seconds hide up to a second of age: `>=` so that max_age=0 always forces a login.
        // The login's redirect back drops max_age, so this cannot loop.
        let too_old = req.max_age.is_some_and(|m| t - a.auth_time >= m);
        !forced && !too_old
    });
    let Some(active) = active else {
        if req.prompt.none {
            return fail(app, error_for(&req, "login_required", "the user is not signed in"));
        }
        let hint = req.login_hint.clone().unwrap_or_default();
        return login_page(app, headers, &req, &hint, None, StatusCode::OK);
    };
    let consented = match app.store.get_consent(&active.user.id, &req.client.client.id, &req.audience).await {
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
