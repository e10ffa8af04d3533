//! Token endpoint errors, RFC 6749 §5.2 (plus RFC 8707 §2 `invalid_target` and the device grant's
//! polling errors, RFC 8628 §3.5).

use std::borrow::Cow;

use axum::http::StatusCode;

use crate::store::StoreError;

type Desc = Cow<'static, str>;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The request is missing a required parameter, repeats one, or is otherwise malformed.
    #[error("invalid_request: {0}")]
    InvalidRequest(Desc),
    /// Client authentication failed: 401 with `WWW-Authenticate: Basic`, whatever method was
    /// tried, because RFC 9110 §15.5.2 requires a challenge on every 401.
    #[error("invalid_client: {0}")]
    InvalidClient(Desc),
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
    /// RFC 8628 §3.5: the user has not yet approved or denied the device code.
    #[error("authorization_pending")]
    AuthorizationPending,
    /// RFC 8628 §3.5: still pending, and the client polls too fast; it must add 5 s to its interval.
    #[error("slow_down")]
    SlowDown,
    /// RFC 8628 §3.5: the user denied the device authorization.
    #[error("access_denied")]
    AccessDenied,
    /// RFC 8628 §3.5: the device code expired; the client may start over.
    #[error("expired_token")]
    ExpiredToken,
    /// The endpoint was called with a method other than POST: 405 with `Allow: POST`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The client did not send its request body in time: 408.
    #[error("request body timeout")]
    BodyTimeout,
    /// The request body is larger than the endpoint accepts.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Too many attempts from this address or client: 429 `temporarily_unavailable` with
    /// `Retry-After`. RFC 6749 has no code for it, and `slow_down` means "poll less often" to a
    /// device client (RFC 8628 §3.5), so the device grant answers a throttled poll that way.
    #[error("too many requests")]
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
    pub fn client(d: impl Into<Desc>) -> Self {
        Self::InvalidClient(d.into())
    }

    /// The RFC 6749 error code.
    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    /// Status, RFC 6749 code and description.
    pub fn parts(&self) -> (StatusCode, &'static str, Option<&str>) {
        use TokenError::*;
        match self {
            InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", Some(d)),
            InvalidClient(d) => (StatusCode::UNAUTHORIZED, "invalid_client", Some(d)),
            InvalidGrant(d) => (StatusCode::BAD_REQUEST, "invalid_grant", Some(d)),
            UnauthorizedClient(d) => (StatusCode::BAD_REQUEST, "unauthorized_client", Some(d)),
            UnsupportedGrantType(d) => (StatusCode::BAD_REQUEST, "unsupported_grant_type", Some(d)),
            InvalidScope(d) => (StatusCode::BAD_REQUEST, "invalid_scope", Some(d)),
            InvalidTarget(d) => (StatusCode::BAD_REQUEST, "invalid_target", Some(d)),
            AuthorizationPending => {
                (StatusCode::BAD_REQUEST, "authorization_pending", Some("the user has not yet approved the device"))
            }
            SlowDown => (StatusCode::BAD_REQUEST, "slow_down", Some("polling too fast; add 5 seconds to the interval")),
            AccessDenied => (StatusCode::BAD_REQUEST, "access_denied", Some("the user denied the device")),
            ExpiredToken => (
                StatusCode::BAD_REQUEST,
                "expired_token",
                Some("the device code has expired; start a new device authorization"),
            ),
            MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "invalid_request", Some("this endpoint accepts only POST"))
            }
            BodyTimeout => {
                (StatusCode::REQUEST_TIMEOUT, "invalid_request", Some("the request body was not received in time"))
            }
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", Some("request body too large")),
            TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable", Some("too many attempts; retry later"))
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
            StoreError::InvalidInput(msg) => {
                tracing::warn!(error = %msg, "the database refused a request value");
                TokenError::request("a parameter contains characters that are not allowed")
            }
            other => TokenError::Internal(other.into()),
        }
    }
}

/// RFC 6749 §5.2 allows only `%x20-21 / %x23-5B / %x5D-7E` in `error_description`: quotes become
/// `'`, and backslashes, control and non-ASCII characters become `?`.
pub fn sanitize_description(d: &str) -> String {
    d.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '?',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_only_the_characters_rfc6749_allows() {
        assert_eq!(sanitize_description("scope 'a' is not allowed"), "scope 'a' is not allowed");
        assert_eq!(sanitize_description("scope \"é\\x\"\n\u{0}"), "scope '??x'??");
        let all: String = (0u8..=127).map(char::from).chain(['€', '\u{202e}']).collect();
        let clean = sanitize_description(&all);
        assert!(clean
            .bytes()
            .all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)));
        assert_eq!(clean.chars().count(), all.chars().count(), "one character for one");
    }
}
