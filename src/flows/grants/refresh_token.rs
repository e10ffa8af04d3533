//! `grant_type=refresh_token`, RFC 6749 §6, rotated on every use with reuse detection
//! (RFC 9700 §4.14.2): presenting a used token revokes its whole family.

use super::issue::{mint, refresh_row, response, Binding};
use super::{requested_audience, Ctx, Subject, TokenResponse};
use crate::oauth::TokenError;
use crate::oauth::{scope, secret, subject};
use crate::store::Rotation;

pub async fn handle(ctx: &Ctx<'_>) -> Result<TokenResponse, TokenError> {
    let app = ctx.app;
    let presented = ctx.form.require("refresh_token")?;
    let hash = secret::digest(presented);
    let invalid = || TokenError::grant("refresh token is invalid, expired or revoked");
    let rec = app.store.find_refresh_token(&hash).await?.ok_or_else(invalid)?;
    if rec.client_id != ctx.client.id() {
        return Err(TokenError::grant("refresh token was issued to another client"));
    }
    if rec.used_at.is_some() {
        return Err(reuse(ctx, &rec.family_id, &rec.user_id).await);
    }
    if rec.family_revoked || rec.expires_at <= ctx.now || rec.family_expires_at <= ctx.now {
        return Err(invalid());
    }
    // RFC 8707 §2.2: a refresh cannot switch the token to another resource.
    if requested_audience(ctx.form)?.is_some_and(|a| a != rec.audience) {
        return Err(TokenError::target(format!("the refresh token was issued for audience '{}'", rec.audience)));
    }
    let granted: Vec<&str> = rec.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let narrowed = scope::narrow(ctx.form.get("scope"), &granted).map_err(TokenError::scope)?;

    let user = app.store.get_user(&rec.user_id).await?.filter(|u| !u.disabled).ok_or_else(invalid)?;
    let subject = Subject {
        sub: subject::of_user(&user),
        user: Some(&user),
        gty: &rec.gty,
        auth_time: Some(rec.auth_time),
        nonce: None,
        idp: None,
        sid: None,
        requested: None,
    };
    // Minted before the old token is consumed, so a token is never used up without a response.
    let minted = mint(ctx, &subject, &rec.audience, &narrowed)?;
    let next = secret::random_token(32);
    let binding = Binding {
        user_id: &rec.user_id,
        aud: &rec.audience,
        scope: &rec.scope,
        gty: &rec.gty,
        auth_time: rec.auth_time,
    };
    let row = refresh_row(ctx, &minted, &next, (&rec.family_id, rec.family_expires_at), &binding);
    if app.store.rotate_refresh_token(&hash, ctx.client.id(), ctx.now, &row).await? == Rotation::Rejected {
        // Another request consumed it first: one of the two holders is not legitimate.
        return Err(reuse(ctx, &rec.family_id, &rec.user_id).await);
    }
    Ok(response(ctx, minted, narrowed, Some(next)))
}

async fn reuse(ctx: &Ctx<'_>, family_id: &str, user_id: &str) -> TokenError {
    crate::metrics::event("refresh_reuse");
    tracing::warn!(
        event = "refresh_reuse",
        client_id = ctx.client.id(),
        user_id,
        family_id,
        "refresh token reuse; family revoked"
    );
    if let Err(e) = ctx.app.store.revoke_refresh_family(family_id, ctx.now).await {
        return e.into();
    }
    TokenError::grant("refresh token was already used; its family is revoked")
}
