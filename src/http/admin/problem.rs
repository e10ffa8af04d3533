//! RFC 9457 problem details for the admin API: `application/problem+json` with a stable `type`,
//! and for token errors the RFC 6750 §3.1 `WWW-Authenticate: Bearer` challenge.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::admin::AdminError;

pub const PROBLEM_JSON: &str = "application/problem+json";

pub fn respond(e: AdminError) -> Response {
    if let AdminError::Internal(err) = &e {
        tracing::error!(error = %err, "internal error in the admin API");
    }
    let (kind, title, status) = e.problem();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let detail = match &e {
        AdminError::Internal(_) => "internal error; the request id is in the log".to_string(),
        other => crate::oauth::error::sanitize_description(&other.to_string()),
    };
    let mut r = problem(status, kind, title, &detail);
    let h = r.headers_mut();
    let challenge = match (&e, e.bearer_error()) {
        (AdminError::MissingToken, _) => Some("Bearer realm=\"oauthd-admin\"".to_string()),
        (AdminError::InsufficientScope(scope), Some(code)) => {
            Some(format!("Bearer realm=\"oauthd-admin\", error=\"{code}\", scope=\"{scope}\""))
        }
        (_, Some(code)) => {
            Some(format!("Bearer realm=\"oauthd-admin\", error=\"{code}\", error_description=\"{detail}\""))
        }
        _ => None,
    };
    if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    r
}

fn problem(status: StatusCode, kind: &str, title: &str, detail: &str) -> Response {
    let body = json!({ "type": kind, "title": title, "status": status.as_u16(), "detail": detail });
    let mut r = crate::http::no_store(status, &body);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    r
}

/// What axum or a layer answers on its own under /admin/v1 (a 404, 405, 413, a bad query)
/// becomes a problem too, keeping its `Allow`.
pub async fn problem_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON));
    if is_problem || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (kind, title) = match status {
        StatusCode::NOT_FOUND => ("urn:oauthd:problem:not-found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("urn:oauthd:problem:method-not-allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("urn:oauthd:problem:payload-too-large", "Payload too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("urn:oauthd:problem:unsupported-media-type", "Unsupported media type"),
        s if s.is_server_error() => ("urn:oauthd:problem:internal", "Internal error"),
        _ => ("urn:oauthd:problem:invalid-request", "Invalid request"),
    };
    let detail = status.canonical_reason().unwrap_or("the request was refused");
    let mut out = problem(status, kind, title, detail);
    if let Some(v) = resp.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, v.clone());
    }
    out
}
