//! Reading request bodies: the token endpoint's form (RFC 6749 §3.2) with its size and time limits.

use axum::body::Body;
use axum::http::{header, HeaderMap};

pub use crate::oauth::form::{basic_credentials, parse_form, Form};
use crate::oauth::TokenError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A client that has not sent its body by then is stalling, not us: 408, not 503.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and parses a form body, enforcing the size limit first (so an oversized body is 413
/// whatever its type), then the content type. The body is read up to the limit rather than
/// refused on its Content-Length: closing on a client still sending would reset the connection
/// before it reads our answer.
pub async fn read_form(headers: &HeaderMap, body: Body) -> Result<Form, TokenError> {
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES));
    let bytes = read.await.map_err(|_| TokenError::BodyTimeout)?.map_err(|e| {
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            TokenError::PayloadTooLarge
        } else {
            TokenError::request("could not read body")
        }
    })?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(TokenError::request("body must be application/x-www-form-urlencoded"));
    }
    parse_form(&bytes)
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1), if there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}
