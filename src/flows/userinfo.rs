//! The userinfo decision, OIDC Core §5.3: which user an access token names, and which of their
//! claims its scope (§5.4) and the `claims` request parameter (§5.5) release. The token comes in
//! the `Authorization` header or a form body (RFC 6750 §2.1–2.2); errors are §3.1 codes. A
//! DPoP-bound token comes with the `DPoP` scheme and a proof with `ath` (RFC 9449 §7), and only so.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::clock::now;
use crate::flows::dpop::{self, Refused};
use crate::jwt::dpop::Expect;
use crate::jwt::verify::{self, VerifiedAccess};
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
    /// RFC 9449 §7.1: a refusal answered with a `DPoP` challenge.
    Dpop(DpopError),
    /// Storage failed: 503, never "invalid".
    Store(TokenError),
}

/// The errors of the `DPoP` scheme, RFC 9449 §7.1 and §9.
pub enum DpopError {
    InvalidToken(String),
    InvalidProof(String),
    /// The nonce the next proof must carry.
    UseNonce(String),
}

/// Where the access token was found, and the request's headers (for the DPoP proof).
pub struct Presented<'a> {
    pub bearer: Option<&'a str>,
    /// `Authorization: DPoP <token>`.
    pub dpop: Option<&'a str>,
    pub body: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub method: &'a str,
}

/// The claims the presented token may see, with `sub`.
pub async fn userinfo(app: &AppState, p: Presented<'_>) -> Result<Map<String, Value>, BearerError> {
    let (token, with_dpop) = match (p.bearer, p.dpop, p.body) {
        (Some(t), None, None) | (None, None, Some(t)) => (t, false),
        (None, Some(t), None) => (t, true),
        (None, None, None) => return Err(BearerError::Missing),
        _ => return Err(BearerError::InvalidRequest("the access token was sent more than one way")),
    };
    let invalid = |why: &'static str| match with_dpop {
        true => BearerError::Dpop(DpopError::InvalidToken(why.into())),
        false => BearerError::InvalidToken(why),
    };
    let claims = verify::access_token(&app.keys.load(), &app.settings.issuer, token).map_err(invalid)?;
    if with_dpop {
        check_proof(app, &p, token, &claims).await?;
    } else if claims.jkt().is_some() {
        // RFC 9449 §7.2: a bound token used as a bearer token is refused, whoever holds it.
        return Err(BearerError::Dpop(DpopError::InvalidToken(
            "the token is DPoP-bound: send it with the DPoP scheme and a proof".into(),
        )));
    }
    if app.store.is_jti_revoked(&claims.jti).await.map_err(|e| BearerError::Store(e.into()))? {
        return Err(invalid("the token was revoked"));
    }
    if !scope::contains(&claims.scope, "openid") {
        return Err(BearerError::InsufficientScope("openid"));
    }
    let user = match app.store.get_user(&claims.sub).await.map_err(|e| BearerError::Store(e.into()))? {
        Some(u) if !u.disabled => u,
        _ => return Err(invalid("the user no longer exists or is disabled")),
    };
    let mut body = claims::release(&user, &claims.scope, &claims.userinfo_claims);
    body.insert("sub".into(), Value::String(user.id));
    Ok(body)
}

/// RFC 9449 §7.1: the proof fits this request, carries `ath` of this token, is signed by the key
/// the token is bound to, carries a nonce where the token's client needs one, and is new.
async fn check_proof(
    app: &AppState,
    p: &Presented<'_>,
    token: &str,
    claims: &VerifiedAccess,
) -> Result<(), BearerError> {
    let refused = |r: Refused| match r {
        Refused::Proof(d) => BearerError::Dpop(DpopError::InvalidProof(d)),
        Refused::Nonce(n) => BearerError::Dpop(DpopError::UseNonce(n)),
        Refused::Store(e) => BearerError::Store(e.into()),
    };
    let raw = dpop::header(p.headers).map_err(refused)?;
    let raw = raw.ok_or_else(|| refused(Refused::Proof("the DPoP scheme needs a DPoP proof".into())))?;
    let Some(jkt) = claims.jkt() else {
        return Err(BearerError::Dpop(DpopError::InvalidToken("the token is not DPoP-bound".into())));
    };
    let client = app.client(&claims.client_id).await.map_err(|e| BearerError::Store(e.into()))?;
    let need_nonce = dpop::nonce_required(app, client.as_ref().map(|c| &c.client));
    let endpoint = app.settings.userinfo_endpoint();
    let want =
        Expect { htm: p.method, htu: &endpoint, now: now(), window: dpop::window(app), access_token: Some(token) };
    let proof = dpop::accept(app, raw, &want, need_nonce).await.map_err(refused)?;
    if proof.jkt != jkt {
        return Err(refused(Refused::Proof("the proof is signed by another key than the token is bound to".into())));
    }
    Ok(())
}
