//! Token lifecycle shared by introspection (RFC 7662) and revocation (RFC 7009): finding out
//! what a presented token is. The hint is tried first but never trusted.

use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::clock::now;
use crate::flows::client_auth::authenticate;
use crate::jwt::verify::{self, VerifiedAccess};
use crate::oauth::refresh::{self, Standing};
use crate::oauth::{Form, TokenError};
use crate::state::AppState;
use crate::store::{RefreshFamily, StoreError};

/// `POST /introspect`: only an authenticated client may ask (RFC 7662 §2.1).
pub async fn introspect_request(app: &AppState, headers: &HeaderMap, form: &Form) -> Result<Value, TokenError> {
    let client = authenticate(app, headers, form).await?;
    if !client.authenticated {
        return Err(TokenError::client("introspection requires client authentication"));
    }
    let token = form.require("token")?;
    Ok(introspect(app, client.id(), token, form.get("token_type_hint"), now()).await?)
}

/// `POST /revoke`: §2.2, unknown tokens and tokens of other clients still succeed; storage
/// failures do not.
pub async fn revoke_request(app: &AppState, headers: &HeaderMap, form: &Form) -> Result<(), TokenError> {
    let client = authenticate(app, headers, form).await?;
    let token = form.require("token")?;
    Ok(revoke(app, client.id(), token, form.get("token_type_hint"), now()).await?)
}

pub enum Found {
    Access(VerifiedAccess),
    /// A token of a known family (not a forged one), and where it stands in it.
    Refresh(RefreshFamily, Standing),
    Unknown,
}

pub async fn find(app: &AppState, token: &str, hint: Option<&str>, now: i64) -> Result<Found, StoreError> {
    let refresh_first = hint == Some("refresh_token");
    if refresh_first {
        if let Some(found) = find_refresh(app, token, now).await? {
            return Ok(found);
        }
    }
    if let Ok(claims) = verify::access_token(&app.keys.load(), &app.settings.issuer, token) {
        return Ok(Found::Access(claims));
    }
    if !refresh_first {
        if let Some(found) = find_refresh(app, token, now).await? {
            return Ok(found);
        }
    }
    Ok(Found::Unknown)
}

async fn find_refresh(app: &AppState, token: &str, now: i64) -> Result<Option<Found>, StoreError> {
    let Some(p) = refresh::parse(token) else { return Ok(None) };
    let Some(fam) = app.store.get_refresh_family(&p.family_id).await? else { return Ok(None) };
    // Introspection and revocation do not rotate: the grace does not apply to them.
    Ok(match refresh::standing(&fam, &p, now, 0) {
        Standing::Forged => None,
        standing => Some(Found::Refresh(fam, standing)),
    })
}

/// RFC 7662 §2.2 response for `token` as seen by `client_id`.
pub async fn introspect(
    app: &AppState,
    client_id: &str,
    token: &str,
    hint: Option<&str>,
    now: i64,
) -> Result<Value, StoreError> {
    let inactive = json!({ "active": false });
    match find(app, token, hint, now).await? {
        Found::Access(c) => {
            if c.exp <= now || app.store.is_jti_revoked(&c.jti).await? {
                return Ok(inactive);
            }
            let mut v = json!({
                "active": true, "token_type": "Bearer", "scope": c.scope, "client_id": c.client_id,
                "sub": c.sub, "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat, "jti": c.jti, "gty": c.gty,
            });
            // RFC 9449 §6.2: a bound token's key, so that the resource can check the proof.
            if let Some(jkt) = c.jkt() {
                v["token_type"] = json!("DPoP");
                v["cnf"] = json!({ "jkt": jkt });
            }
            Ok(v)
        }
        // A refresh token is only described to the client that holds it.
        Found::Refresh(r, standing) if r.client_id == client_id => {
            if standing != Standing::Current {
                return Ok(inactive);
            }
            Ok(json!({
                "active": true, "token_type": "refresh_token", "scope": r.scope, "client_id": r.client_id,
                "sub": r.user_id, "user_id": r.user_id, "aud": r.audience, "iss": app.settings.issuer,
                "exp": r.idle_expires_at, "iat": r.issued_at, "gty": r.gty,
            }))
        }
        _ => Ok(inactive),
    }
}

/// RFC 7009 §2.1: revokes `token` if it belongs to `client_id`; anything else is ignored.
pub async fn revoke(
    app: &AppState,
    client_id: &str,
    token: &str,
    hint: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    match find(app, token, hint, now).await? {
        Found::Refresh(r, _) if r.client_id == client_id => {
            app.store.revoke_refresh_family(&r.id, now).await?;
            tracing::info!(event = "revocation", client_id, user_id = ?r.user_id, kind = "refresh_token", "token revoked");
        }
        Found::Access(c) if c.client_id == client_id => {
            app.store.revoke_jti(&c.jti, c.exp).await?;
            tracing::info!(event = "revocation", client_id, sub = ?c.sub, kind = "access_token", "token revoked");
        }
        _ => {}
    }
    Ok(())
}
