//! The verification page's steps, RFC 8628 §3.3 and §5: the user enters the user code (or
//! arrives with it from `verification_uri_complete`, §3.3.1), signs in or uses the SSO session,
//! sees the client, scopes and resource, and approves or denies. Even a pre-filled code is only
//! looked up and decided on a POST the user made (§5.4). Wrong codes are counted per address and
//! per browser session (§5.1). Every function returns the next `Step`; `http` renders it.

use std::net::IpAddr;

use crate::clock::now;
use crate::flows::authorize::{new_session, session};
use crate::flows::login::{self, Outcome};
use crate::oauth::device;
use crate::state::AppState;
use crate::store::{DeviceCode, DeviceDecision, DeviceStatus};

/// What the user sees next.
pub enum Step {
    /// The code form, pre-filled with `code`, with an error to show.
    Enter { code: String, error: Option<&'static str> },
    /// The login form for a valid code.
    Login { code: String, client_name: String, username: String, error: Option<&'static str> },
    /// The approve/deny form.
    Confirm(Box<Confirm>),
    /// A new SSO session: set its cookie and show the approve/deny form.
    SignedIn { session_token: String, confirm: Box<Confirm> },
    /// The user decided; the device may stop waiting.
    Done { approved: bool, client_name: String },
    /// Too many wrong codes or logins; retry after that many seconds.
    Throttled(u64),
    /// Storage is down.
    Unavailable,
}

/// What the approve/deny form shows.
pub struct Confirm {
    /// The user code as shown (`BCDF-GHJK`).
    pub code: String,
    pub client_name: String,
    pub scope: String,
    pub audience: String,
    pub username: String,
}

/// Who is at the page: the SSO session cookie, a key for this browser (rate limits), the address.
pub struct Visit<'a> {
    pub session: Option<&'a str>,
    pub browser: &'a str,
    pub ip: IpAddr,
}

/// A live, pending code and the name of its client.
struct Found {
    row: DeviceCode,
    shown: String,
    client_name: String,
}

/// The code form's POST.
pub async fn enter(app: &AppState, v: &Visit<'_>, typed: &str) -> Step {
    let found = match find(app, v, typed).await {
        Ok(f) => f,
        Err(step) => return step,
    };
    match session(app, v.session).await {
        Ok(Some(active)) => Step::Confirm(Box::new(confirm(found, active.user.username))),
        Ok(None) => {
            Step::Login { code: found.shown, client_name: found.client_name, username: String::new(), error: None }
        }
        Err(_) => Step::Unavailable,
    }
}

/// The login form's POST: checks the password as `/login` does, then starts an SSO session.
pub async fn login(app: &AppState, v: &Visit<'_>, typed: &str, username: &str, password: &str) -> Step {
    if let Err(crate::oauth::TokenError::TooManyRequests { retry_after }) = app.limits.check_ip(v.ip) {
        return Step::Throttled(retry_after);
    }
    let found = match find(app, v, typed).await {
        Ok(f) => f,
        Err(step) => return step,
    };
    let t = now();
    let user = match login::check(app, v.ip, &found.row.client_id, username, password, t).await {
        Ok(Outcome::Ok(user)) => *user,
        Ok(Outcome::Invalid) => {
            let error = Some("Wrong username or password.");
            let (code, client_name) = (found.shown, found.client_name);
            return Step::Login { code, client_name, username: username.to_string(), error };
        }
        Ok(Outcome::Throttled(secs)) => return Step::Throttled(secs),
        Err(_) => return Step::Unavailable,
    };
    match new_session(app, &user, v.session, t).await {
        Ok(session_token) => Step::SignedIn { session_token, confirm: Box::new(confirm(found, user.username)) },
        Err(_) => Step::Unavailable,
    }
}

/// The approve/deny form's POST: records the decision in one statement.
pub async fn decide(app: &AppState, v: &Visit<'_>, typed: &str, approved: bool) -> Step {
    let found = match find(app, v, typed).await {
        Ok(f) => f,
        Err(step) => return step,
    };
    let active = match session(app, v.session).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Step::Login {
                code: found.shown,
                client_name: found.client_name,
                username: String::new(),
                error: None,
            }
        }
        Err(_) => return Step::Unavailable,
    };
    let d = DeviceDecision {
        user_code_hash: &found.row.user_code_hash,
        approved,
        user_id: &active.user.id,
        auth_time: active.auth_time,
        sid: active.sid.as_deref(),
        now: now(),
    };
    match app.store.decide_device_code(&d).await {
        Ok(true) => {}
        Ok(false) => return Step::Enter { code: found.shown, error: Some(GONE) },
        Err(_) => return Step::Unavailable,
    }
    // The session's logout ends what the device got, as for a browser client.
    if let (true, Some(sid)) = (approved, &active.sid) {
        if app.store.add_session_client(sid, &found.row.client_id).await.is_err() {
            return Step::Unavailable;
        }
    }
    let event = if approved { "device_approved" } else { "device_denied" };
    tracing::info!(event, client_id = %found.row.client_id, user_id = %active.user.id, "device decision");
    Step::Done { approved, client_name: found.client_name }
}

const WRONG: &str = "That code is not valid, or it has expired. Check the code on your device and try again.";
const GONE: &str = "That code was already used or has expired. Start again on your device.";

/// The pending, unexpired code the user typed. A wrong code counts against the address and the
/// browser; either over its budget is throttled before the code is even looked up.
async fn find(app: &AppState, v: &Visit<'_>, typed: &str) -> Result<Found, Step> {
    let blocked = app.user_code_ip_failures.blocked(v.ip).max(app.user_code_session_failures.blocked(v.browser.into()));
    if let Some(secs) = blocked {
        return Err(Step::Throttled(secs));
    }
    let wrong = || {
        app.user_code_ip_failures.record_failure(v.ip);
        app.user_code_session_failures.record_failure(v.browser.to_string());
        tracing::warn!(event = "user_code_failure", "wrong user code");
        Step::Enter { code: typed.chars().take(32).collect(), error: Some(WRONG) }
    };
    let Some(code) = device::normalize(typed) else { return Err(wrong()) };
    let row = match app.store.find_device_code(&device::user_code_hash(&code)).await {
        Ok(Some(row)) if row.status == DeviceStatus::Pending && row.expires_at > now() => row,
        Ok(_) => return Err(wrong()),
        Err(_) => return Err(Step::Unavailable),
    };
    let client_name = match app.client(&row.client_id).await {
        Ok(Some(c)) if !c.client.disabled => c.client.name.clone(),
        Ok(_) => return Err(wrong()),
        Err(_) => return Err(Step::Unavailable),
    };
    Ok(Found { row, shown: device::display(&code), client_name })
}

fn confirm(f: Found, username: String) -> Confirm {
    Confirm { code: f.shown, client_name: f.client_name, scope: f.row.scope, audience: f.row.audience, username }
}
