//! The authorization-code flow's front half, RFC 6749 §4.1.1–4.1.2 and OIDC Core §3.1.2: the
//! request check, the login, the consent decision and the code issue, answered in the query or
//! by OAuth 2.0 Form Post. The token half is `grants::authorization_code`. Every function
//! returns the next `Step`; `http` renders it.

mod request;

pub use request::{
    response_pairs, response_uri, validate, AuthzError, AuthzRequest, Prompt, ResponseMode, AUTHORIZE_KNOWN, CARRIED,
};

use std::net::IpAddr;

use crate::clock::{later, now};
use crate::flows::login::{self, Outcome};
use crate::oauth::params::Params;
use crate::oauth::{scope, secret, TokenError};
use crate::state::AppState;
use crate::store::{AuthCode, Session, StoreError, User};

/// What the user sees next.
pub enum Step {
    /// The login form, with the username to prefill and an error to show.
    Login { req: Box<AuthzRequest>, username: String, error: Option<&'static str> },
    /// The consent form.
    Consent { req: Box<AuthzRequest>, user: Box<User> },
    /// Back to the client: with a code, or with an error (already in the URI).
    Redirect(String),
    /// Back to the client by an auto-submitted form (OAuth 2.0 Form Post Response Mode §2).
    FormPost { action: String, fields: Vec<(String, String)> },
    /// A new SSO session: set its cookie, then go to `location` (Post/Redirect/Get).
    SignedIn { location: String, session_token: String },
    /// Too many attempts; retry after that many seconds.
    Throttled(u64),
    /// A page error, or storage being down.
    Fail(AuthzError),
}

impl From<AuthzError> for Step {
    fn from(e: AuthzError) -> Self {
        Step::Fail(e)
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Stage {
    Fresh,
    Consented,
}

/// A live SSO session's user (the device verification page signs in the same way).
pub struct Active {
    pub user: User,
    pub auth_time: i64,
    pub sid: Option<String>,
}

/// `/authorize`: check the request, then log in, ask for consent, or issue a code.
pub async fn authorize(app: &AppState, p: &Params, session_token: Option<&str>) -> Step {
    let active = match session(app, session_token).await {
        Ok(active) => active,
        Err(_) => return AuthzError::Unavailable.into(),
    };
    match validate(app, p, active.is_some()).await {
        Ok(areq) => proceed(app, areq, active, Stage::Fresh).await,
        Err(e) => e.into(),
    }
}

/// The login form's POST: check the password, then start a new SSO session.
pub async fn login(app: &AppState, p: &Params, old_session: Option<&str>, ip: IpAddr) -> Step {
    if let Err(TokenError::TooManyRequests { retry_after }) = app.limits.check_ip(ip) {
        return Step::Throttled(retry_after);
    }
    let areq = match validate(app, p, true).await {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    if let Err(TokenError::TooManyRequests { retry_after }) = app.limits.check_client(&areq.client.client.id) {
        return Step::Throttled(retry_after);
    }
    let (username, password) = (p.form.get("username").unwrap_or(""), p.form.get("password").unwrap_or(""));
    let t = now();
    let user = match login::check(app, ip, &areq.client.client.id, username, password, t).await {
        Ok(Outcome::Ok(user)) => *user,
        Ok(Outcome::Invalid) => {
            let error = Some("Wrong username or password.");
            return Step::Login { req: Box::new(areq), username: username.to_string(), error };
        }
        Ok(Outcome::Throttled(secs)) => return Step::Throttled(secs),
        Err(_) => return AuthzError::Unavailable.into(),
    };
    let token = match new_session(app, &user, old_session, t).await {
        Ok(token) => token,
        Err(_) => return AuthzError::Unavailable.into(),
    };
    // Back to /authorize, which now finds the session. The login that was asked for
    // (prompt=login, max_age) has just happened, so those are not sent again.
    Step::SignedIn { location: format!("/authorize?{}", after_login_query(&areq.params)), session_token: token }
}

/// A new session value at every login (no session fixation). A login as the same user keeps the
/// session's `sid`, so its clients stay signed in; any other user's session ends, and its clients
/// are told by back-channel logout.
pub async fn new_session(app: &AppState, user: &User, old: Option<&str>, t: i64) -> Result<String, StoreError> {
    let old = match old {
        Some(token) => app.store.get_session(&secret::digest(token)).await?,
        None => None,
    };
    let kept = old.as_ref().filter(|o| o.user_id == user.id).and_then(|o| o.sid.clone());
    if let Some(o) = &old {
        if kept.is_some() {
            app.store.delete_session(&o.hash).await?;
        } else if app.store.end_session(&o.hash, t).await? > 0 {
            app.logout_wakeup.notify_one();
        }
    }
    let token = secret::random_token(32);
    let s = Session {
        hash: secret::digest(&token),
        user_id: user.id.clone(),
        auth_time: t,
        created_at: t,
        expires_at: later(t, app.settings.session_ttl),
        sid: Some(kept.unwrap_or_else(|| secret::random_token(16))),
    };
    app.store.insert_session(&s).await?;
    Ok(token)
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

/// The consent form's POST: record the user's decision, then continue.
pub async fn consent(app: &AppState, p: &Params, session_token: Option<&str>) -> Step {
    let active = match session(app, session_token).await {
        Ok(a) => a,
        Err(_) => return AuthzError::Unavailable.into(),
    };
    let areq = match validate(app, p, active.is_some()).await {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    let Some(active) = active else { return proceed(app, areq, None, Stage::Fresh).await };
    if p.form.get("decision") != Some("allow") {
        return error_for(&areq, "access_denied", "the user denied the request").into();
    }
    let (user, client) = (&active.user.id, &areq.client.client.id);
    if app.store.grant_consent(user, client, &areq.audience, &areq.scope, now()).await.is_err() {
        return AuthzError::Unavailable.into();
    }
    proceed(app, areq, Some(active), Stage::Consented).await
}

/// Decides what the user sees next: the login form, the consent form, or the client with a code.
async fn proceed(app: &AppState, req: AuthzRequest, active: Option<Active>, stage: Stage) -> Step {
    let t = now();
    let active = active.filter(|a| {
        let forced = req.prompt.login && stage == Stage::Fresh;
        // Whole seconds hide up to a second of age: `>=` so that max_age=0 always forces a login.
        // The login's redirect back drops max_age, so this cannot loop.
        let too_old = req.max_age.is_some_and(|m| t - a.auth_time >= m);
        let someone_else = req.expected_sub.as_ref().is_some_and(|s| *s != a.user.id);
        !forced && !too_old && !someone_else
    });
    let Some(active) = active else {
        if req.prompt.none {
            return error_for(&req, "login_required", "the user is not signed in").into();
        }
        let username = req.login_hint.clone().unwrap_or_default();
        return Step::Login { req: Box::new(req), username, error: None };
    };
    let consented = match app.store.get_consent(&active.user.id, &req.client.client.id, &req.audience).await {
        Ok(c) => c.is_some_and(|granted| {
            req.scope.split(' ').filter(|s| !s.is_empty()).all(|s| scope::contains(&granted, s))
        }),
        Err(_) => return AuthzError::Unavailable.into(),
    };
    let needs_consent =
        stage != Stage::Consented && (req.prompt.consent || (!req.client.client.first_party && !consented));
    if needs_consent {
        if req.prompt.none {
            return error_for(&req, "consent_required", "the user has not consented").into();
        }
        return Step::Consent { req: Box::new(req), user: Box::new(active.user) };
    }
    match issue_code(app, &req, &active, t).await {
        Ok(code) => respond(app, &req, &[("code", &code)]),
        Err(_) => AuthzError::Unavailable.into(),
    }
}

/// The response parameters, in the query or by form post as the request asked.
fn respond(app: &AppState, req: &AuthzRequest, pairs: &[(&str, &str)]) -> Step {
    let state = req.state.as_deref();
    match req.mode {
        ResponseMode::Query => Step::Redirect(response_uri(&req.redirect_uri, &app.settings.issuer, pairs, state)),
        ResponseMode::FormPost => Step::FormPost {
            action: req.redirect_uri.clone(),
            fields: response_pairs(&app.settings.issuer, pairs, state),
        },
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
        expires_at: later(t, app.settings.code_ttl),
        used_at: None,
        access_jti: None,
        access_exp: None,
        family_id: None,
        sid: active.sid.clone(),
        claims: (req.claims != Default::default()).then(|| serde_json::to_string(&req.claims).unwrap_or_default()),
    };
    app.store.insert_code(&rec).await?;
    if let Some(sid) = &active.sid {
        app.store.add_session_client(sid, &req.client.client.id).await?;
    }
    Ok(code)
}

fn error_for(req: &AuthzRequest, error: &'static str, description: &str) -> AuthzError {
    AuthzError::Redirect {
        redirect_uri: req.redirect_uri.clone(),
        mode: req.mode,
        state: req.state.clone(),
        error,
        description: description.into(),
    }
}

/// The user of a live SSO session, with when they logged in.
pub async fn session(app: &AppState, token: Option<&str>) -> Result<Option<Active>, StoreError> {
    let Some(token) = token else { return Ok(None) };
    let Some(s) = app.store.get_session(&secret::digest(token)).await? else { return Ok(None) };
    if s.expires_at <= now() {
        return Ok(None);
    }
    let user = app.store.get_user(&s.user_id).await?.filter(|u| !u.disabled);
    Ok(user.map(|user| Active { user, auth_time: s.auth_time, sid: s.sid }))
}
