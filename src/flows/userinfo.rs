//! The userinfo decision, OIDC Core §5.3: which user a bearer token names, and which of their
//! claims its scope releases. Errors are RFC 6750 §3.1 codes.

use serde_json::{Map, Value};

use crate::flows::grants::issue::profile_claims;
use crate::jwt::verify;
use crate::oauth::{scope, TokenError};
use crate::state::AppState;

/// RFC 6750 §3.1 errors of a protected resource.
pub enum BearerError {
    /// No token at all: a bare challenge.
    Missing,
    /// Expired, revoked, malformed, or naming no usable user.
    InvalidToken(&'static str),
    /// The token lacks this scope.
    InsufficientScope(&'static str),
    /// Storage failed: 503, never "invalid".
    Store(TokenError),
}

/// The claims `token` may see, with `sub`.
pub async fn userinfo(app: &AppState, token: Option<&str>) -> Result<Map<String, Value>, BearerError> {
    let token = token.ok_or(BearerError::Missing)?;
    let claims =
        verify::access_token(&app.keys.load(), &app.settings.issuer, token).map_err(BearerError::InvalidToken)?;
    if app.store.is_jti_revoked(&claims.jti).await.map_err(|e| BearerError::Store(e.into()))? {
        return Err(BearerError::InvalidToken("the token was revoked"));
    }
    if !scope::contains(&claims.scope, "openid") {
        return Err(BearerError::InsufficientScope("openid"));
    }
    let user = match app.store.get_user(&claims.sub).await.map_err(|e| BearerError::Store(e.into()))? {
        Some(u) if !u.disabled => u,
        _ => return Err(BearerError::InvalidToken("the user no longer exists or is disabled")),
    };
    let mut body = profile_claims(&user, &claims.scope);
    body.insert("sub".into(), Value::String(user.id));
    Ok(body)
}
