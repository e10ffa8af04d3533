//! `grant_type=client_credentials`, RFC 6749 §4.4: a token about the client itself.

use super::{issue, target_and_scope, Ctx, Refresh, Subject, TokenResponse};
use crate::oauth::subject;
use crate::oauth::TokenError;

pub async fn handle(ctx: &Ctx<'_>) -> Result<TokenResponse, TokenError> {
    if !ctx.client.authenticated {
        return Err(TokenError::unauthorized("public clients cannot use client_credentials"));
    }
    let (aud, scope) = target_and_scope(ctx, false)?;
    let sub = subject::of_client(ctx.client.id());
    let subject = Subject {
        sub: &sub,
        user: None,
        gty: "client-credentials",
        auth_time: None,
        nonce: None,
        idp: None,
        sid: None,
        requested: None,
    };
    issue(ctx, subject, &aud, scope, Refresh::None).await
}
