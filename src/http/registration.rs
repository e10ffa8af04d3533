//! `POST /register` (RFC 7591 §3) and `GET/PUT/DELETE /register/{client_id}` (RFC 7592 §2):
//! JSON in and out with `Cache-Control: no-store`, the §3.2.2 errors, and RFC 6750 §3
//! challenges for the initial and registration access tokens.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::BODY_READ_TIMEOUT;
use super::userinfo::bearer;
use crate::flows::registration;
use crate::oauth::client_metadata::RegistrationError;
use crate::oauth::error::sanitize_description;
use crate::state::App;

/// Client metadata is small: a registration with every field at its limit stays under this.
const MAX_METADATA_BYTES: usize = 16 * 1024;

pub async fn register(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ip = super::client_ip(&parts.extensions);
    let result = async {
        registration::admit(&app, ip)?;
        let bytes = read_json(&parts.headers, body).await?;
        registration::register(&app, bearer(&parts.headers), &bytes).await
    }
    .await;
    match result {
        Ok(v) => super::no_store(StatusCode::CREATED, &v),
        Err(e) => e.into_response(),
    }
}

pub async fn read(State(app): State<App>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    match registration::read(&app, &client_id, bearer(&headers)).await {
        Ok(v) => super::no_store(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

pub async fn update(State(app): State<App>, Path(client_id): Path<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let result = async {
        let bytes = read_json(&parts.headers, body).await?;
        registration::update(&app, &client_id, bearer(&parts.headers), &bytes).await
    }
    .await;
    match result {
        Ok(v) => super::no_store(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

pub async fn delete(State(app): State<App>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    match registration::delete(&app, &client_id, bearer(&headers)).await {
        Ok(()) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => e.into_response(),
    }
}

/// The body, if it is `application/json` and at most `MAX_METADATA_BYTES`.
async fn read_json(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, RegistrationError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(RegistrationError::InvalidClientMetadata("the body must be application/json".into()));
    }
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, MAX_METADATA_BYTES));
    match read.await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) => {
            Err(RegistrationError::PayloadTooLarge)
        }
        Ok(Err(_)) => Err(RegistrationError::InvalidClientMetadata("could not read the body".into())),
        Err(_) => Err(RegistrationError::InvalidClientMetadata("the body was not received in time".into())),
    }
}

impl IntoResponse for RegistrationError {
    fn into_response(self) -> Response {
        use RegistrationError::*;
        let (status, code, desc): (StatusCode, &str, String) = match &self {
            InvalidRedirectUri(d) => (StatusCode::BAD_REQUEST, "invalid_redirect_uri", d.clone()),
            InvalidClientMetadata(d) => (StatusCode::BAD_REQUEST, "invalid_client_metadata", d.clone()),
            Disabled => return super::error::status_error(StatusCode::NOT_FOUND),
            MissingToken(d) | InvalidToken(d) => (StatusCode::UNAUTHORIZED, "invalid_token", d.to_string()),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_client_metadata",
                format!("the body is larger than {MAX_METADATA_BYTES} bytes"),
            ),
            TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "slow_down", "too many registrations from this address".into())
            }
            TemporarilyUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "storage is unavailable; retry later".into(),
            ),
            Internal(e) => {
                tracing::error!(error = %e, "internal error on the registration endpoint");
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error", String::new())
            }
        };
        let desc = sanitize_description(&desc);
        let body = if desc.is_empty() {
            json!({ "error": code })
        } else {
            json!({ "error": code, "error_description": desc })
        };
        let mut r = super::no_store(status, &body);
        let h = r.headers_mut();
        let challenge = match &self {
            MissingToken(_) => Some("Bearer realm=\"oauthd\"".to_string()),
            InvalidToken(_) => {
                Some(format!("Bearer realm=\"oauthd\", error=\"invalid_token\", error_description=\"{desc}\""))
            }
            _ => None,
        };
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        match self {
            TooManyRequests { retry_after } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            TemporarilyUnavailable => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        r
    }
}
