//! Token endpoint errors, RFC 6749 §5.2 (plus RFC 8707 §2 `invalid_target`).

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

type Desc = Cow<'static, str>;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The request is missing a required parameter, repeats one, or is otherwise malformed.
    #[error("invalid_request: {0}")]
    InvalidRequest(Desc),
    /// Client authentication failed. `basic` is set when the client used the Authorization header,
    /// which makes the answer 401 with `WWW-Authenticate: Basic`.
    #[error("invalid_client: {desc}")]
    InvalidClient { desc: Desc, basic: bool },
    /// The grant (code, refresh token, credentials, assertion) is invalid, expired or revoked.
    #[error("invalid_grant: {0}")]
    InvalidGrant(Desc),
    /// The authenticated client is not authorized to use this grant type.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Desc),
    /// The grant type is not supported by this server.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType(Desc),
    /// The requested scope is invalid, unknown, malformed, or exceeds what was granted.
    #[error("invalid_scope: {0}")]
    InvalidScope(Desc),
    /// RFC 8707: the requested resource (audience) is unknown or not allowed for this client.
    #[error("invalid_target: {0}")]
    InvalidTarget(Desc),
    /// The request body is larger than the endpoint accepts.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Too many attempts from this address; `Retry-After` says when to try again.
    #[error("slow_down")]
    TooManyRequests { retry_after: u64 },
    /// Storage is unreachable: 503, the client should retry.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable,
    /// A dependency other than storage (an issuer's key set) is unreachable: 503.
    #[error("temporarily_unavailable: {0}")]
    Unavailable(Desc),
    /// Anything unexpected: logged with the request id, answered as a bare 500.
    #[error("server_error: {0}")]
    Internal(anyhow::Error),
}

impl TokenError {
    pub fn request(d: impl Into<Desc>) -> Self {
        Self::InvalidRequest(d.into())
    }
    pub fn grant(d: impl Into<Desc>) -> Self {
        Self::InvalidGrant(d.into())
    }
    pub fn scope(d: impl Into<Desc>) -> Self {
        Self::InvalidScope(d.into())
    }
    pub fn target(d: impl Into<Desc>) -> Self {
        Self::InvalidTarget(d.into())
    }
    pub fn unauthorized(d: impl Into<Desc>) -> Self {
        Self::UnauthorizedClient(d.into())
    }
    pub fn client(basic: bool) -> Self {
        Self::InvalidClient { desc: "client authentication failed".into(), basic }
    }

    /// The RFC 6749 error code.
    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    fn parts(&self) -> (StatusCode, &'static str, Option<&str>) {
        use TokenError::*;
        match self {
            InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", Some(d)),
            InvalidClient { desc, .. } => (StatusCode::UNAUTHORIZED, "invalid_client", Some(desc)),
            InvalidGrant(d) => (StatusCode::BAD_REQUEST, "invalid_grant", Some(d)),
            UnauthorizedClient(d) => (StatusCode::BAD_REQUEST, "unauthorized_client", Some(d)),
            UnsupportedGrantType(d) => (StatusCode::BAD_REQUEST, "unsupported_grant_type", Some(d)),
            InvalidScope(d) => (StatusCode::BAD_REQUEST, "invalid_scope", Some(d)),
            InvalidTarget(d) => (StatusCode::BAD_REQUEST, "invalid_target", Some(d)),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", Some("request body too large")),
            TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "slow_down", Some("too many attempts; retry later"))
            }
            TemporarilyUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                Some("storage is unavailable; retry later"),
            ),
            Unavailable(d) => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", Some(d)),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None),
        }
    }
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "storage unavailable");
                TokenError::TemporarilyUnavailable
            }
            other => TokenError::Internal(other.into()),
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        if let TokenError::Internal(e) = &self {
            tracing::error!(error = %e, "internal error on token endpoint");
        }
        let (status, code, desc) = self.parts();
        let body = match desc {
            Some(d) => json!({ "error": code, "error_description": d }),
            None => json!({ "error": code }),
        };
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match self {
            TokenError::InvalidClient { basic: true, .. } => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"oauthd\", charset=\"UTF-8\""),
                );
            }
            TokenError::TooManyRequests { retry_after } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            TokenError::TemporarilyUnavailable | TokenError::Unavailable(_) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        resp
    }
}
