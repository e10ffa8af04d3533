//! `grant_type=refresh_token`, RFC 6749 §6, rotated on every use with reuse detection
//! (RFC 9700 §4.14.2): presenting a rotated token revokes its whole family, except the token
//! rotated last, presented again by its client within `refresh_reuse_grace` (its successor's
//! response was lost): that gets a fresh successor, which supersedes the lost one. A public
//! client's family bound to a DPoP key (RFC 9449 §5) refreshes only with a proof by that key.

use super::issue::{mint, response, Minted};
use super::{requested_audience, Ctx, Subject, TokenResponse};
use crate::flows::dpop::check_binding;
use crate::oauth::claims::Requested;
use crate::oauth::refresh::{self, Presented, Secret, Standing};
use crate::oauth::resource;
use crate::oauth::TokenError;
use crate::oauth::{scope, subject};
use crate::store::{RefreshFamily, Rotation};

fn invalid() -> TokenError {
    TokenError::grant("refresh token is invalid, expired or revoked")
}

pub async fn handle(ctx: &Ctx<'_>) -> Result<TokenResponse, TokenError> {
    let app = ctx.app;
    let presented = refresh::parse(ctx.form.require("refresh_token")?).ok_or_else(invalid)?;
    let fam = app.store.get_refresh_family(&presented.family_id).await?.ok_or_else(invalid)?;
    if fam.client_id != ctx.client.id() {
        return Err(TokenError::grant("refresh token was issued to another client"));
    }
    // RFC 9449 §5: a public client's refresh token only works with the key it was bound to.
    check_binding(fam.dpop_jkt.as_deref(), ctx.dpop_jkt.as_deref(), "refresh token")?;
    let standing = refresh::standing(&fam, &presented, ctx.now, app.settings.refresh_reuse_grace);
    match standing {
        Standing::Current | Standing::Grace => {}
        Standing::Reused => return Err(reuse(ctx, &fam).await),
        Standing::Revoked | Standing::Expired | Standing::Forged => return Err(invalid()),
    }
    // RFC 8707 §2.2: a refresh may name another of the grant's resources, never a new one, and
    // its token is downscoped to that resource.
    requested_audience(ctx.form)?;
    let targets = resource::decode(&fam.resources, &fam.audience, &fam.scope);
    let target = resource::select(&targets, ctx.form.get("resource"), ctx.form.get("audience"), &fam.audience);
    let target = target.ok_or_else(|| {
        let s = if targets.len() == 1 { "" } else { "s" };
        TokenError::target(format!("the refresh token was issued for audience{s} {}", resource::list(&targets)))
    })?;
    let granted: Vec<&str> =
        target.scope.split(' ').filter(|s| !s.is_empty() && scope::contains(&fam.scope, s)).collect();
    let narrowed = scope::narrow(ctx.form.get("scope"), &granted).map_err(TokenError::scope)?;
    // Minted before the old token is consumed, so a token is never used up without a response.
    let minted = mint_for(ctx, &fam, &target.aud, &narrowed).await?;
    let secret = Secret::generate();
    let rotation = Rotation {
        family_id: &fam.id,
        client_id: ctx.client.id(),
        generation: presented.generation,
        secret_hash: &presented.secret_hash,
        new_hash: &secret.hash,
        now: ctx.now,
        grace: i64::try_from(app.settings.refresh_reuse_grace).unwrap_or(i64::MAX),
        idle_expires_at: crate::clock::later(ctx.now, app.settings.refresh_token_idle_ttl).min(fam.expires_at),
        access_exp: minted.exp,
    };
    let Some(generation) = app.store.rotate_refresh_family(&rotation).await? else {
        return Err(lost_race(ctx, &presented).await);
    };
    if standing == Standing::Grace {
        crate::metrics::event("refresh_grace");
        tracing::info!(
            event = "refresh_grace",
            client_id = ctx.client.id(),
            family_id = fam.id,
            generation,
            "rotated refresh token presented again within the grace; its successor is superseded"
        );
    }
    Ok(response(ctx, minted, narrowed, Some(refresh::token(&presented.handle, generation, &secret))))
}

/// The family's user (still enabled) gets the new tokens, with the `sub`, `gty`, `auth_time`,
/// `sid` and `claims` request of the login.
async fn mint_for(ctx: &Ctx<'_>, fam: &RefreshFamily, aud: &str, scope: &str) -> Result<Minted, TokenError> {
    let user = ctx.app.store.get_user(&fam.user_id).await?.filter(|u| !u.disabled).ok_or_else(invalid)?;
    let requested: Option<Requested> = fam.claims.as_deref().and_then(|c| serde_json::from_str(c).ok());
    let subject = Subject {
        sub: subject::of_user(&user),
        user: Some(&user),
        gty: &fam.gty,
        auth_time: Some(fam.auth_time),
        nonce: None,
        idp: None,
        sid: fam.sid.as_deref(),
        requested: requested.as_ref(),
    };
    mint(ctx, &subject, aud, scope, Some(&fam.id))
}

/// The family changed between reading and rotating it. The rotation accepts whatever the grace
/// allows, so the token is now either stale (another request rotated it beyond the grace: one
/// of the two holders is not legitimate) or the family ended.
async fn lost_race(ctx: &Ctx<'_>, presented: &Presented) -> TokenError {
    match ctx.app.store.get_refresh_family(&presented.family_id).await {
        Ok(Some(fam)) if refresh::standing(&fam, presented, ctx.now, 0) == Standing::Reused => reuse(ctx, &fam).await,
        Ok(_) => invalid(),
        Err(e) => e.into(),
    }
}

async fn reuse(ctx: &Ctx<'_>, fam: &RefreshFamily) -> TokenError {
    crate::metrics::event("refresh_reuse");
    tracing::warn!(
        event = "refresh_reuse",
        client_id = ctx.client.id(),
        user_id = fam.user_id,
        family_id = fam.id,
        "refresh token reuse; family revoked"
    );
    if let Err(e) = ctx.app.store.revoke_refresh_family(&fam.id, ctx.now).await {
        return e.into();
    }
    TokenError::grant("refresh token was already used; its family is revoked")
}
