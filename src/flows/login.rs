//! Checking a username and password, shared by the password grant and the login page:
//! per-account lockout counted atomically before verifying, a per-IP failure throttle,
//! a dummy hash for unknown users, and transparent re-hashing of imported hashes.

use std::net::IpAddr;

use crate::oauth::TokenError;
use crate::password::MAX_PASSWORD_BYTES;
use crate::state::AppState;
use crate::store::{LockoutPolicy, User};

pub enum Outcome {
    Ok(Box<User>),
    /// Wrong password, unknown, disabled or locked user: the caller cannot tell which.
    Invalid,
    /// This address failed too often; retry after that many seconds.
    Throttled(u64),
}

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
    // A successful login frees its attempt again (the reset below), so a burst of correct
    // logins never locks an account; only failures that reach the threshold do.
    let reserved = app.store.reserve_login_attempt(username, &policy).await?;
    let usable = reserved.as_ref().filter(|u| !u.disabled);
    let stored = usable.and_then(|u| u.password_hash.clone());
    let verified = app.passwords.verify(password.to_string(), stored).await.map_err(TokenError::Internal)?;
    let Some(user) = usable.filter(|_| verified.ok) else {
        app.ip_failures.record_failure(ip);
        let user = match reserved {
            Some(u) => {
                if app.store.lock_if_over_threshold(&u.id, &policy).await? {
                    crate::metrics::event("lockout");
                    tracing::warn!(event = "lockout", client_id, user_id = %u.id, "account locked");
                }
                Some(u)
            }
            // Locked, out of attempts, or unknown: only the log needs to know which.
            None => app.store.find_user_by_username(username).await?,
        };
        let user_id = user.as_ref().map(|u| u.id.as_str());
        crate::metrics::event("login_failure");
        tracing::warn!(event = "login_failure", client_id, user_id, "login failed");
        return Ok(Outcome::Invalid);
    };
    app.store.reset_login_attempts(&user.id).await?;
    if verified.needs_rehash {
        upgrade_hash(app, &user.id, password, now).await;
    }
    tracing::info!(event = "login_success", client_id, user_id = %user.id, "login");
    Ok(Outcome::Ok(Box::new(user.clone())))
}

/// Imported bcrypt (or outdated Argon2) hashes become current Argon2id after a good login.
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
