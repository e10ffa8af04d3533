//! `grant_type=password`, RFC 6749 §4.3 (ROPG). RFC 9700 §2.4 says not to use it; it is off for
//! every client unless explicitly granted, and meant only for trusted first-party backends.

use super::{issue, target_and_scope, Ctx, Refresh, Subject, TokenResponse};
use crate::flows::login::{self, Outcome};
use crate::oauth::subject;
use crate::oauth::TokenError;

pub async fn handle(ctx: &Ctx<'_>) -> Result<TokenResponse, TokenError> {
    if !ctx.client.authenticated && !ctx.app.settings.password_grant_public_clients {
        return Err(TokenError::unauthorized("public clients cannot use the password grant"));
    }
    let username = ctx.form.require("username")?;
    let password = ctx.form.require("password")?;
    let (aud, scope) = target_and_scope(ctx, true)?;
    let user = match login::check(ctx.app, ctx.ip, ctx.client.id(), username, password, ctx.now).await? {
        Outcome::Ok(user) => user,
        Outcome::Invalid => return Err(TokenError::grant("invalid username or password")),
        Outcome::Throttled(retry_after) => return Err(TokenError::TooManyRequests { retry_after }),
    };
    let subject = Subject {
        sub: subject::of_user(&user),
        user: Some(&user),
        gty: "password",
        auth_time: Some(ctx.now),
        nonce: None,
        idp: None,
        sid: None,
        requested: None,
    };
    issue(ctx, subject, &aud, scope, Refresh::NewFamily).await
}
