//! The userinfo decision, OIDC Core §5.3: which user a bearer token names, and which of their
//! claims its scope (§5.4) and the `claims` request parameter (§5.5) release. The token comes in
//! the `Authorization` header or a form body (RFC 6750 §2.1–2.2); errors are §3.1 codes.

use serde_json::{Map, Value};

use crate::jwt::verify;
use crate::oauth::{claims, scope, TokenError};
use crate::state::AppState;

/// RFC 6750 §3.1 errors of a protected resource.
pub enum BearerError {
    /// No token at all: a bare challenge.
    Missing,
    /// A malformed request, such as a token sent two ways at once (§2): 400.
    InvalidRequest(&'static str),
    /// Expired, revoked, malformed, or naming no usable user.
    InvalidToken(&'static str),
    /// The token lacks this scope.
    InsufficientScope(&'static str),
    /// Storage failed: 503, never "invalid".
    Store(TokenError),
}

/// Where the access token was found.
pub struct Presented<'a> {
    pub header: Option<&'a str>,
    pub body: Option<&'a str>,
}

/// The claims the presented token may see, with `sub`.
pub async fn userinfo(app: &AppState, token: Presented<'_>) -> Result<Map<String, Value>, BearerError> {
    let token = match (token.header, token.body) {
        (Some(_), Some(_)) => return Err(BearerError::InvalidRequest("the access token was sent more than one way")),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(BearerError::Missing),
    };
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
    let mut body = claims::release(&user, &claims.scope, &claims.userinfo_claims);
    body.insert("sub".into(), Value::String(user.id));
    Ok(body)
}
