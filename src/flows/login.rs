//! Checking a username and password, shared by the password grant (RFC 6749 §4.3) and the login
//! page: a per-account lockout that counts only wrong passwords, atomically after verifying; a
//! per-IP failure throttle; a dummy hash for unknown, disabled and locked users; and transparent
//! re-hashing of imported or outdated hashes.

use std::net::IpAddr;

use crate::oauth::TokenError;
use crate::password::{HashError, MAX_PASSWORD_BYTES};
use crate::state::AppState;
use crate::store::{LockoutPolicy, User};

pub enum Outcome {
    Ok(Box<User>),
    /// Wrong password, unknown, disabled or locked user: the caller cannot tell which.
    Invalid,
    /// This address failed too often; retry after that many seconds.
    Throttled(u64),
}

/// Checks a password. Only a wrong password counts as a failure: an attempt whose request is
/// abandoned, or whose storage fails (an error, 503), counts nothing, so neither can lock anyone.
pub async fn check(
    app: &AppState,
    ip: IpAddr,
    client_id: &str,
    username: &str,
    password: &str,
    now: i64,
) -> Result<Outcome, TokenError> {
    if let Some(retry_after) = app.ip_failures.blocked(ip) {
        return Ok(Outcome::Throttled(retry_after));
    }
    if password.len() > MAX_PASSWORD_BYTES || username.len() > 1024 {
        app.ip_failures.record_failure(ip);
        return Ok(Outcome::Invalid);
    }
    let policy =
        LockoutPolicy { now, window: app.settings.lockout_window as i64, threshold: app.settings.lockout_threshold };
    // Read the account only once it is this attempt's turn, so the lock is checked after every
    // failure counted before it.
    let turn = app.login_gate.enter(&username.to_lowercase()).await;
    let user = app.store.find_user_by_username(username).await?;
    let usable = user.as_ref().filter(|u| !u.disabled && u.locked_until <= now);
    let stored = usable.and_then(|u| u.password_hash.clone());
    let verified = app.passwords.verify(password.to_string(), stored).await.map_err(busy_or_internal)?;
    let Some(user) = usable.filter(|_| verified.ok) else {
        // Locked, disabled and unknown users were checked against the dummy hash: not counted.
        let counted = usable.map(|u| u.id.as_str());
        return failed(app, ip, client_id, user.as_ref(), counted, &policy).await;
    };
    // Succeeds only if no failures locked the account meanwhile: a right guess that finishes
    // after the lock is refused like a wrong one.
    if !app.store.record_login_success(&user.id, now).await? {
        return failed(app, ip, client_id, Some(user), None, &policy).await;
    }
    drop(turn);
    if verified.needs_rehash {
        upgrade_hash(app, &user.id, password, now).await;
    }
    tracing::info!(event = "login_success", client_id, user_id = %user.id, "login");
    Ok(Outcome::Ok(Box::new(user.clone())))
}

/// A refused attempt: counted against `count` (the user whose password was wrong), if any, then
/// against the address.
async fn failed(
    app: &AppState,
    ip: IpAddr,
    client_id: &str,
    user: Option<&User>,
    count: Option<&str>,
    policy: &LockoutPolicy,
) -> Result<Outcome, TokenError> {
    if let Some(id) = count {
        if app.store.record_login_failure(id, policy).await? {
            crate::metrics::event("lockout");
            tracing::warn!(event = "lockout", client_id, user_id = id, "account locked");
        }
    }
    app.ip_failures.record_failure(ip);
    let user_id = user.map(|u| u.id.as_str());
    crate::metrics::event("login_failure");
    tracing::warn!(event = "login_failure", client_id, user_id, "login failed");
    Ok(Outcome::Invalid)
}

fn busy_or_internal(e: HashError) -> TokenError {
    match e {
        HashError::Busy => TokenError::Unavailable("too many logins are being checked; retry shortly".into()),
        HashError::Failed(e) => TokenError::Internal(anyhow::anyhow!(e)),
    }
}

/// Imported bcrypt (or outdated Argon2) hashes become current Argon2id after a good login. Best
/// effort: the login has succeeded whatever happens here.
async fn upgrade_hash(app: &AppState, user_id: &str, password: &str, now: i64) {
    match app.passwords.hash(password.to_string()).await {
        Ok(h) => {
            if let Err(e) = app.store.set_password_hash(user_id, &h, now).await {
                tracing::warn!(error = %e, user_id, "could not upgrade password hash");
            }
        }
        Err(e) => tracing::warn!(error = %e, user_id, "could not rehash password"),
    }
}
