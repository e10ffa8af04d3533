//! Admin API errors, each with a stable problem type (RFC 9457 §3.1.1) and an HTTP status; the
//! bearer-token ones carry the RFC 6750 §3.1 error code of their `WWW-Authenticate` challenge.

use crate::password::HashError;
use crate::store::StoreError;

/// What can go wrong in an admin call. `http/admin` writes each as `application/problem+json`.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No bearer token at all (RFC 6750 §3.1: a bare challenge).
    #[error("an admin access token is required")]
    MissingToken,
    /// RFC 6750 §3.1 `invalid_token`: expired, revoked, forged, or not for the admin API.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// RFC 6750 §3.1 `insufficient_scope`: the token lacks the scope this call needs.
    #[error("this call needs the scope {0}")]
    InsufficientScope(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or a value in it is refused.
    #[error("{0}")]
    Invalid(String),
    /// The request body is not of the media type the call takes.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// The thing to create exists already.
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` names another version than the current one (RFC 9110 §13.1.1).
    #[error("the resource changed since it was read (If-Match does not match its ETag)")]
    PreconditionFailed,
    /// The `Idempotency-Key` was used before with another request body.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running.
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyKeyInProgress,
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// Storage or password hashing is unavailable: 503, retry.
    #[error("the service is unavailable; retry later")]
    Unavailable,
    /// Logged with the request id; answered as a bare 500.
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl AdminError {
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        AdminError::NotFound(format!("no {what}"))
    }

    /// The stable problem type (a URN, so it never depends on where oauthd is deployed), its
    /// title, and its status code.
    pub fn problem(&self) -> (&'static str, &'static str, u16) {
        use AdminError::*;
        match self {
            MissingToken => ("urn:oauthd:problem:unauthorized", "Unauthorized", 401),
            InvalidToken(_) => ("urn:oauthd:problem:invalid-token", "Invalid token", 401),
            InsufficientScope(_) => ("urn:oauthd:problem:insufficient-scope", "Insufficient scope", 403),
            NotFound(_) => ("urn:oauthd:problem:not-found", "Not found", 404),
            Invalid(_) => ("urn:oauthd:problem:invalid-request", "Invalid request", 400),
            UnsupportedMediaType(_) => ("urn:oauthd:problem:unsupported-media-type", "Unsupported media type", 415),
            Conflict(_) => ("urn:oauthd:problem:conflict", "Conflict", 409),
            PreconditionFailed => ("urn:oauthd:problem:precondition-failed", "Precondition failed", 412),
            IdempotencyKeyReused => ("urn:oauthd:problem:idempotency-key-reused", "Idempotency key reused", 422),
            IdempotencyKeyInProgress => {
                ("urn:oauthd:problem:idempotency-key-in-progress", "Idempotency key in progress", 409)
            }
            PayloadTooLarge => ("urn:oauthd:problem:payload-too-large", "Payload too large", 413),
            Unavailable => ("urn:oauthd:problem:unavailable", "Service unavailable", 503),
            Internal(_) => ("urn:oauthd:problem:internal", "Internal error", 500),
        }
    }

    /// The RFC 6750 §3.1 error code for the `WWW-Authenticate` challenge, if this is one.
    pub fn bearer_error(&self) -> Option<&'static str> {
        match self {
            AdminError::InvalidToken(_) => Some("invalid_token"),
            AdminError::InsufficientScope(_) => Some("insufficient_scope"),
            _ => None,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => AdminError::Unavailable,
            StoreError::Conflict => AdminError::Conflict("it exists already".into()),
            StoreError::InvalidInput(_) => AdminError::Invalid("the database refused a value of the request".into()),
            StoreError::Other(m) => AdminError::Internal(anyhow::anyhow!(m)),
        }
    }
}

/// The provisioning functions (shared with the CLI) answer `anyhow` errors: a storage or hashing
/// failure inside is 503/500, a typed `AdminError` stays itself, and any other is a refused value.
impl From<anyhow::Error> for AdminError {
    fn from(e: anyhow::Error) -> Self {
        let e = match e.downcast::<AdminError>() {
            Ok(a) => return a,
            Err(e) => e,
        };
        let e = match e.downcast::<StoreError>() {
            Ok(s) => return s.into(),
            Err(e) => e,
        };
        match e.downcast_ref::<HashError>() {
            Some(HashError::Busy) => AdminError::Unavailable,
            Some(HashError::Failed(_)) => AdminError::Internal(e),
            None if e.downcast_ref::<sqlx::Error>().is_some() => AdminError::Internal(e),
            None => AdminError::Invalid(e.to_string()),
        }
    }
}
