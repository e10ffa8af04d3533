//! `grant_type=authorization_code`, RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and the
//! RFC 9700 §4.8.2 downgrade check. A code is redeemed once; a second try revokes what the
//! first one issued (§4.1.2). The token is for one of the code's resources (RFC 8707 §2.2):
//! the one the request names, or the first one the authorization request named.

use crate::config::PkceRequired;

use crate::flows::dpop::check_binding;

use super::issue::{first_token, mint, response, wants_refresh, Binding};
use super::{requested_audience, Ctx, Subject, TokenResponse};
use crate::oauth::claims::Requested;
use crate::oauth::refresh::NewFamily;
use crate::oauth::resource::{self, Target};
use crate::oauth::TokenError;
use crate::oauth::{pkce, scope, secret, subject};
use crate::store::{AuthCode, Redemption};

pub async fn handle(ctx: &Ctx<'_>) -> Result<TokenResponse, TokenError> {
    let app = ctx.app;
    let code = ctx.form.require("code")?;
    let verifier = ctx.form.get("code_verifier");
    if verifier.is_some_and(|v| !pkce::is_valid_verifier(v)) {
        return Err(TokenError::request("code_verifier must be 43-128 unreserved characters"));
    }
    let hash = secret::digest(code);
    let rec = app.store.find_code(&hash).await?.ok_or_else(|| TokenError::grant("authorization code is invalid"))?;
    if rec.used_at.is_some() {
        return Err(reused(ctx, &hash).await);
    }
    check(ctx, &rec, verifier)?;
    let targets = resource::decode(&rec.resources, &rec.audience, &rec.scope);
    let target = target_of(ctx, &targets, &rec.audience)?;
    let user = app.store.get_user(&rec.user_id).await?.filter(|u| !u.disabled);
    let user = user.ok_or_else(|| TokenError::grant("the user is no longer active"))?;

    let requested: Option<Requested> = rec.claims.as_deref().and_then(|c| serde_json::from_str(c).ok());
    let subject = Subject {
        sub: subject::of_user(&user),
        user: Some(&user),
        gty: "authorization-code",
        auth_time: Some(rec.auth_time),
        nonce: rec.nonce.as_deref(),
        idp: None,
        sid: rec.sid.as_deref(),
        requested: requested.as_ref(),
    };
    let with_refresh = wants_refresh(ctx, &rec.scope);
    let keep = |s: &str| if with_refresh { s.to_string() } else { scope::without(s, "offline_access") };
    let scope = keep(&target.scope);
    let family = with_refresh.then(NewFamily::generate);
    let minted = mint(ctx, &subject, &target.aud, &scope, family.as_ref().map(|f| f.id.as_str()))?;
    // The family keeps the whole grant: a refresh may switch to another of the code's resources.
    let binding = Binding {
        user_id: &user.id,
        aud: &target.aud,
        scope: &keep(&rec.scope),
        targets: &targets,
        gty: subject.gty,
        auth_time: rec.auth_time,
        sid: rec.sid.as_deref(),
        claims: rec.claims.clone(),
    };
    let refresh = family.map(|f| first_token(ctx, f, &minted, &binding));
    let redemption =
        Redemption { access_jti: &minted.jti, access_exp: minted.exp, refresh: refresh.as_ref().map(|r| &r.1) };
    if !app.store.redeem_code(&hash, ctx.now, &redemption).await? {
        return Err(reused(ctx, &hash).await);
    }
    Ok(response(ctx, minted, scope, refresh.map(|r| r.0)))
}

/// The target the token request names (RFC 8707 §2.2: one the authorization request named, or
/// `invalid_target`), or the code's first.
fn target_of<'t>(ctx: &Ctx<'_>, targets: &'t [Target], first: &str) -> Result<&'t Target, TokenError> {
    requested_audience(ctx.form)?;
    resource::select(targets, ctx.form.get("resource"), ctx.form.get("audience"), first)
        .ok_or_else(|| TokenError::target(format!("the authorization code was issued for {}", resource::list(targets))))
}

fn check(ctx: &Ctx<'_>, rec: &AuthCode, verifier: Option<&str>) -> Result<(), TokenError> {
    if rec.client_id != ctx.client.id() {
        return Err(TokenError::grant("authorization code was issued to another client"));
    }
    if rec.expires_at <= ctx.now {
        return Err(TokenError::grant("authorization code has expired"));
    }
    // RFC 9449 §10: the key named by dpop_jkt at /authorize must sign this request's proof.
    check_binding(rec.dpop_jkt.as_deref(), ctx.dpop_jkt.as_deref(), "authorization code (dpop_jkt)")?;
    let given = ctx.form.get("redirect_uri");
    if (rec.redirect_uri_given || given.is_some()) && given != Some(rec.redirect_uri.as_str()) {
        return Err(TokenError::grant("redirect_uri does not match the authorization request"));
    }
    match (rec.code_challenge.as_deref(), verifier) {
        (Some(challenge), Some(v)) if pkce::verify(v, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(TokenError::grant("code_verifier does not match the code_challenge")),
        (Some(_), None) => Err(TokenError::grant("code_verifier is required")),
        (None, Some(_)) => {
            Err(TokenError::grant("code_verifier sent but the authorization request had no code_challenge"))
        }
        (None, None) if ctx.client.entry.client.public => Err(TokenError::grant("PKCE is required for public clients")),
        (None, None) if ctx.client.entry.client.require_pkce || ctx.app.settings.pkce_required == PkceRequired::All => {
            Err(TokenError::grant("PKCE is required for this client"))
        }
        (None, None) => Ok(()),
    }
}

async fn reused(ctx: &Ctx<'_>, hash: &str) -> TokenError {
    tracing::warn!(
        event = "code_reuse",
        client_id = ctx.client.id(),
        "authorization code reused; issued tokens revoked"
    );
    match ctx.app.store.revoke_code_tokens(hash, ctx.now).await {
        Ok(()) => TokenError::grant("authorization code was already used"),
        Err(e) => e.into(),
    }
}
