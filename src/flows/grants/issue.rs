//! Issuing the token response: the RFC 9068 access token, the OIDC ID token, the refresh token.

use super::{Ctx, TokenResponse};
use crate::jwt::mint::{self, AccessClaims, IdClaims, Typ};
use crate::oauth::claims::{self, Requested};
use crate::oauth::refresh::{self, NewFamily, Secret};
use crate::oauth::TokenError;
use crate::oauth::{scope, subject};
use crate::store::{family_jti, RefreshFamily, User};

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

/// Mints the access (and ID) token; one minted in a refresh family carries the family's id in its
/// `jti`, so that revoking the family denies it.
pub fn mint(
    ctx: &Ctx<'_>,
    s: &Subject<'_>,
    aud: &str,
    scope: &str,
    family: Option<&str>,
) -> Result<Minted, TokenError> {
    mint_acting(ctx, s, aud, scope, family, None)
}

/// As `mint`, with the RFC 8693 `act` claim of a token exchange.
pub fn mint_acting(
    ctx: &Ctx<'_>,
    s: &Subject<'_>,
    aud: &str,
    scope: &str,
    family: Option<&str>,
    act: Option<&serde_json::Value>,
) -> Result<Minted, TokenError> {
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
        jti: family.map_or_else(mint::new_jti, |f| family_jti(f, &mint::new_jti()[..16])),
        gty: s.gty,
        auth_time: s.auth_time,
        idp: s.idp,
        userinfo_claims: s.requested.map_or(&[][..], |r| r.userinfo.as_slice()),
        act,
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
        issued_token_type: None,
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
    let family = family_for.map(|user| (user, NewFamily::generate()));
    let minted = mint(ctx, &s, aud, &scope, family.as_ref().map(|(_, f)| f.id.as_str()))?;
    let refresh_token = match family {
        Some((user, family)) => {
            let b = Binding {
                user_id: &user.id,
                aud,
                scope: &scope,
                gty: s.gty,
                auth_time: s.auth_time.unwrap_or(ctx.now),
                sid: s.sid,
                claims: s.requested.and_then(|r| serde_json::to_string(r).ok()),
            };
            let (token, row) = first_token(ctx, family, &minted, &b);
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

/// What a refresh token is bound to (RFC 6749 §6: the client, the user, the granted scope), and
/// what of the login its ID tokens repeat (OIDC Core §12.2).
pub struct Binding<'a> {
    pub user_id: &'a str,
    pub aud: &'a str,
    pub scope: &'a str,
    pub gty: &'a str,
    pub auth_time: i64,
    pub sid: Option<&'a str>,
    /// The `claims` request parameter as JSON.
    pub claims: Option<String>,
}

/// The first token of `family` and the family's row, not yet stored; `access` is the access
/// token minted with it.
pub fn first_token(ctx: &Ctx<'_>, family: NewFamily, access: &Minted, b: &Binding<'_>) -> (String, RefreshFamily) {
    let settings = &ctx.app.settings;
    let secret = Secret::generate();
    let expires_at = crate::clock::later(ctx.now, settings.refresh_token_ttl);
    let row = RefreshFamily {
        id: family.id,
        client_id: ctx.client.id().to_string(),
        user_id: b.user_id.to_string(),
        scope: b.scope.to_string(),
        audience: b.aud.to_string(),
        gty: b.gty.to_string(),
        auth_time: b.auth_time,
        created_at: ctx.now,
        expires_at,
        idle_expires_at: crate::clock::later(ctx.now, settings.refresh_token_idle_ttl).min(expires_at),
        generation: 0,
        secret_hash: secret.hash.clone(),
        issued_at: ctx.now,
        rotated_generation: None,
        rotated_hash: None,
        rotated_at: None,
        access_exp: access.exp,
        revoked_at: None,
        sid: b.sid.map(str::to_string),
        claims: b.claims.clone(),
    };
    (refresh::token(&family.handle, 0, &secret), row)
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
