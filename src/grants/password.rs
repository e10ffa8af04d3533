//! `grant_type=password`, RFC 6749 §4.3 (ROPG). RFC 9700 §2.4 says not to use it; it is off for
//! every client unless explicitly granted, and meant only for trusted first-party backends.

use super::{issue, target_and_scope, Ctx, Refresh, Subject, TokenResponse};
use crate::error::TokenError;
use crate::password::MAX_PASSWORD_BYTES;
use crate::store::LockoutPolicy;

const FAILED: &str = "invalid username or password";

pub async fn handle(ctx: &Ctx<'_>) -> Result<TokenResponse, TokenError> {
    let app = ctx.app;
    if !ctx.client.authenticated && !app.settings.password_grant_public_clients {
        return Err(TokenError::unauthorized(
            "public clients cannot use the password grant",
        ));
    }
    if let Some(retry_after) = app.ip_failures.blocked(ctx.ip) {
        return Err(TokenError::TooManyRequests { retry_after });
    }
    let username = ctx.form.require("username")?;
    let password = ctx.form.require("password")?;
    let (aud, scope) = target_and_scope(ctx, true)?;
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(fail(ctx, None, false));
    }

    let policy = LockoutPolicy {
        now: ctx.now,
        window: app.settings.lockout_window as i64,
        threshold: app.settings.lockout_threshold,
    };
    let user = app.store.register_login_attempt(username, &policy).await?;
    let locked = user.as_ref().is_some_and(|u| u.locked_until > ctx.now);
    let usable = user.as_ref().filter(|u| !u.disabled && !locked);
    let stored = usable.and_then(|u| u.password_hash.clone());
    let verified = app
        .passwords
        .verify(password.to_string(), stored)
        .await
        .map_err(TokenError::Internal)?;
    let Some(user) = usable.filter(|_| verified.ok) else {
        return Err(fail(ctx, user.as_ref().map(|u| u.id.as_str()), locked));
    };

    app.store.reset_login_attempts(&user.id).await?;
    if verified.needs_rehash {
        upgrade_hash(ctx, &user.id, password).await;
    }
    tracing::info!(event = "login_success", client_id = ctx.client.id(), user_id = %user.id, "password grant");
    let subject = Subject {
        sub: &user.id,
        user: Some(user),
        gty: "password",
        auth_time: Some(ctx.now),
        nonce: None,
    };
    issue(ctx, subject, &aud, scope, Refresh::NewFamily).await
}

/// Every failure looks the same to the caller: same status, same body.
fn fail(ctx: &Ctx<'_>, user_id: Option<&str>, locked: bool) -> TokenError {
    ctx.app.ip_failures.record_failure(ctx.ip);
    if locked {
        tracing::warn!(
            event = "lockout",
            client_id = ctx.client.id(),
            user_id,
            "account locked"
        );
    }
    tracing::warn!(
        event = "login_failure",
        client_id = ctx.client.id(),
        user_id,
        "password grant failed"
    );
    TokenError::grant(FAILED)
}

/// Imported bcrypt (or outdated Argon2) hashes become current Argon2id after a good login.
async fn upgrade_hash(ctx: &Ctx<'_>, user_id: &str, password: &str) {
    match ctx.app.passwords.hash(password.to_string()).await {
        Ok(h) => {
            if let Err(e) = ctx.app.store.set_password_hash(user_id, &h, ctx.now).await {
                tracing::warn!(error = %e, user_id, "could not upgrade password hash");
            }
        }
        Err(e) => tracing::warn!(error = %e, user_id, "could not rehash password"),
    }
}
