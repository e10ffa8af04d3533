//! Issuing the token response: the RFC 9068 access token, the OIDC ID token, the refresh token.

use super::{Ctx, TokenResponse};
use crate::jwt::mint::{self, AccessClaims, IdClaims, Typ};
use crate::oauth::claims::{self, Requested};
use crate::oauth::TokenError;
use crate::oauth::{scope, secret, subject};
use crate::store::{RefreshToken, User};

/// Who the token is about, and how they got here.
pub struct Subject<'a> {
    pub sub: &'a str,
    pub user: Option<&'a User>,
    pub gty: &'a str,
    pub auth_time: Option<i64>,
    pub nonce: Option<&'a str>,
    pub idp: Option<&'a str>,
    /// The SSO session of a browser login (the ID token's `sid`).
    pub sid: Option<&'a str>,
    /// What the `claims` request parameter asked for.
    pub requested: Option<&'a Requested>,
}

pub enum Refresh {
    None,
    /// Start a new family when `offline_access` was granted and the client may refresh.
    NewFamily,
}

/// The signed tokens of one response, before anything is stored.
pub struct Minted {
    pub access_token: String,
    pub jti: String,
    pub exp: i64,
    pub id_token: Option<String>,
}

pub fn mint(ctx: &Ctx<'_>, s: &Subject<'_>, aud: &str, scope: &str) -> Result<Minted, TokenError> {
    let settings = &ctx.app.settings;
    let client_id = ctx.client.id();
    let key = ctx.app.keys.load().active.clone();
    let claims = AccessClaims {
        iss: &settings.issuer,
        sub: s.sub,
        aud,
        client_id,
        azp: client_id,
        scope,
        iat: ctx.now,
        exp: crate::clock::later(ctx.now, settings.access_token_ttl),
        jti: mint::new_jti(),
        gty: s.gty,
        auth_time: s.auth_time,
        idp: s.idp,
        userinfo_claims: s.requested.map_or(&[][..], |r| r.userinfo.as_slice()),
    };
    let access_token = mint::sign(&key, Typ::AccessToken, &claims).map_err(TokenError::Internal)?;
    let id_token = match s.user {
        Some(user) if scope::contains(scope, "openid") => Some(id_token(ctx, user, s, scope, &access_token)?),
        _ => None,
    };
    Ok(Minted { access_token, jti: claims.jti, exp: claims.exp, id_token })
}

pub fn response(ctx: &Ctx<'_>, m: Minted, scope: String, refresh_token: Option<String>) -> TokenResponse {
    TokenResponse {
        access_token: m.access_token,
        token_type: "Bearer",
        expires_in: ctx.app.settings.access_token_ttl,
        scope,
        refresh_token,
        id_token: m.id_token,
    }
}

pub async fn issue(
    ctx: &Ctx<'_>,
    s: Subject<'_>,
    aud: &str,
    scope: String,
    refresh: Refresh,
) -> Result<TokenResponse, TokenError> {
    let family_for = match (refresh, s.user) {
        (Refresh::NewFamily, Some(user)) if wants_refresh(ctx, &scope) => Some(user),
        _ => None,
    };
    let scope = if family_for.is_some() { scope } else { scope::without(&scope, "offline_access") };
    let minted = mint(ctx, &s, aud, &scope)?;
    let refresh_token = match family_for {
        Some(user) => {
            let b = Binding {
                user_id: &user.id,
                aud,
                scope: &scope,
                gty: s.gty,
                auth_time: s.auth_time.unwrap_or(ctx.now),
            };
            let (token, row) = new_family(ctx, &minted, &b);
            ctx.app.store.insert_refresh_family(&row).await?;
            Some(token)
        }
        None => None,
    };
    Ok(response(ctx, minted, scope, refresh_token))
}

/// Refresh tokens go to user flows that were granted `offline_access` by a client allowed them.
/// Without one, `offline_access` is left out of the granted scope (OIDC Core §11).
pub fn wants_refresh(ctx: &Ctx<'_>, scope: &str) -> bool {
    scope::contains(scope, "offline_access") && ctx.client.entry.client.allows_grant("refresh_token")
}

/// What a refresh token is bound to (RFC 6749 §6: the client, the user, the granted scope).
pub struct Binding<'a> {
    pub user_id: &'a str,
    pub aud: &'a str,
    pub scope: &'a str,
    pub gty: &'a str,
    pub auth_time: i64,
}

/// A new refresh token row; `family` (id, absolute expiry) is shared by every token rotated from
/// the first one, and `access` is the access token minted with it.
pub fn refresh_row(ctx: &Ctx<'_>, access: &Minted, token: &str, family: (&str, i64), b: &Binding<'_>) -> RefreshToken {
    RefreshToken {
        hash: secret::digest(token),
        family_id: family.0.to_string(),
        client_id: ctx.client.id().to_string(),
        user_id: b.user_id.to_string(),
        scope: b.scope.to_string(),
        audience: b.aud.to_string(),
        gty: b.gty.to_string(),
        auth_time: b.auth_time,
        created_at: ctx.now,
        expires_at: crate::clock::later(ctx.now, ctx.app.settings.refresh_token_idle_ttl).min(family.1),
        family_expires_at: family.1,
        used_at: None,
        access_jti: Some(access.jti.clone()),
        access_exp: Some(access.exp),
        family_revoked: false,
    }
}

/// The first token of a new family, not yet stored.
pub fn new_family(ctx: &Ctx<'_>, access: &Minted, b: &Binding<'_>) -> (String, RefreshToken) {
    let token = secret::random_token(32);
    let family_id = mint::new_jti();
    let expires = crate::clock::later(ctx.now, ctx.app.settings.refresh_token_ttl);
    let row = refresh_row(ctx, access, &token, (&family_id, expires), b);
    (token, row)
}

fn id_token(
    ctx: &Ctx<'_>,
    user: &User,
    s: &Subject<'_>,
    scope: &str,
    access_token: &str,
) -> Result<String, TokenError> {
    let settings = &ctx.app.settings;
    let client_id = ctx.client.id();
    // Federated logins (jwt-bearer) were not authenticated here: no acr or amr of ours.
    let by_password = s.gty != "jwt-bearer";
    let extra = s.requested.map_or(&[][..], |r| r.id_token.as_slice());
    let claims = IdClaims {
        iss: &settings.issuer,
        sub: subject::of_user(user),
        aud: client_id,
        azp: client_id,
        iat: ctx.now,
        exp: crate::clock::later(ctx.now, settings.id_token_ttl),
        auth_time: s.auth_time.unwrap_or(ctx.now),
        nonce: s.nonce,
        at_hash: Some(mint::at_hash(access_token)),
        acr: by_password.then_some(claims::ACR_PASSWORD),
        amr: by_password.then_some([claims::AMR_PASSWORD]),
        sid: s.sid,
        profile: claims::release(user, scope, extra),
    };
    let key = ctx.app.keys.load().id_signer.clone();
    mint::sign(&key, Typ::IdToken, &claims).map_err(TokenError::Internal)
}
