//! HTTP answers for the protocol errors: RFC 6749 §5.2 JSON with `Cache-Control: no-store`, and
//! the challenges RFC 9110 §15.5.2 and RFC 6585 ask for.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::oauth::error::{sanitize_description, TokenError};

/// The JSON answer of the panic backstop: a bare `server_error`, never the panic message.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    TokenError::Internal(anyhow::anyhow!("panic")).into_response()
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        if let TokenError::Internal(e) = &self {
            tracing::error!(error = %e, "internal error on token endpoint");
        }
        let (status, code, desc) = self.parts();
        let body = match desc {
            Some(d) => json!({ "error": code, "error_description": sanitize_description(d) }),
            None => json!({ "error": code }),
        };
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match self {
            TokenError::InvalidClient(_) => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"oauthd\""));
            }
            TokenError::MethodNotAllowed => {
                h.insert(header::ALLOW, HeaderValue::from_static("POST"));
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

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn every_invalid_client_answer_carries_a_basic_challenge() {
        let r = TokenError::client("nope").into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"oauthd\"");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn a_panic_is_a_json_server_error_with_no_store() {
        let r = panic_response(Box::new("boom"));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert!(r.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    }
}
