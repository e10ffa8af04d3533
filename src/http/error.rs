//! HTTP answers for the protocol errors: RFC 6749 §5.2 JSON with `Cache-Control: no-store`, and
//! the challenges RFC 9110 §15.5.2 and RFC 6585 ask for; the same JSON for what axum and the
//! tower layers answer on their own on the back channel and the documents.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::oauth::error::{sanitize_description, TokenError};

/// The JSON answer of the panic backstop: a bare `server_error`, never the panic message.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    TokenError::Internal(anyhow::anyhow!("panic")).into_response()
}

/// What axum or a tower layer answers on its own (a 404, 405, 408 or 413, empty or plain text)
/// becomes RFC 6749 §5.2-shaped JSON with no-store, keeping its `Allow` and `Retry-After`.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let mut out = status_error(status);
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = resp.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// The JSON answer for a bare status, with the RFC 6749 code that fits it (`not_found` for 404,
/// which RFC 6749 has no code for).
pub fn status_error(status: StatusCode) -> Response {
    let (code, desc) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
        StatusCode::TOO_MANY_REQUESTS => ("temporarily_unavailable", "too many requests; retry later"),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            ("temporarily_unavailable", "the service is unavailable; retry later")
        }
        s if s.is_server_error() => ("server_error", "internal error"),
        s => ("invalid_request", s.canonical_reason().unwrap_or("the request was refused")),
    };
    let mut r = super::no_store(status, &json!({ "error": code, "error_description": desc }));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    r
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
        let content_type = r.headers()[header::CONTENT_TYPE].to_str().unwrap(); // ok: unit test
        assert!(content_type.starts_with("application/json"));
    }
}
