//! The admin API under `/admin/v1`: JSON over HTTP for everything the CLI can do, authorized by
//! oauthd access tokens for `urn:oauthd:admin` (RFC 6750), errors as RFC 9457 problem details,
//! `PATCH` as RFC 7396 merge patches with `If-Match`, creates with `Idempotency-Key`. Handlers
//! authenticate, parse, and call `admin::calls`.

mod handlers;
mod problem;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::limit::RequestBodyLimitLayer;

use super::Web;
use crate::admin::calls::{self, Ctx, Reply};
use crate::admin::AdminError;
use crate::state::AppState;
use handlers as h;

/// The largest request body of an admin call; an import may be larger.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

pub fn routes() -> Router<Web> {
    let import = Router::new()
        .route("/admin/v1/users/import", post(h::import_users))
        .layer(RequestBodyLimitLayer::new(MAX_IMPORT_BYTES))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BYTES));
    Router::new()
        .route("/admin/v1/apis", get(h::list_apis).post(h::create_api))
        .route("/admin/v1/apis/{identifier}", get(h::show_api))
        .route("/admin/v1/clients", get(h::list_clients).post(h::create_client))
        .route("/admin/v1/clients/{id}", get(h::show_client).patch(h::update_client).delete(h::delete_client))
        .route("/admin/v1/clients/{id}/enable", post(h::enable_client))
        .route("/admin/v1/clients/{id}/disable", post(h::disable_client))
        .route("/admin/v1/clients/{id}/rotate-secret", post(h::rotate_secret))
        .route("/admin/v1/clients/{id}/grants/{api}", put(h::grant))
        .route("/admin/v1/clients/{id}/refresh-families", get(h::client_families).delete(h::revoke_client_families))
        .route("/admin/v1/users", get(h::list_users).post(h::create_user))
        .route("/admin/v1/users/{id}", get(h::show_user).patch(h::update_user).delete(h::delete_user))
        .route("/admin/v1/users/{id}/password", post(h::set_password))
        .route("/admin/v1/users/{id}/enable", post(h::enable_user))
        .route("/admin/v1/users/{id}/disable", post(h::disable_user))
        .route("/admin/v1/users/{id}/links", post(h::link_user))
        .route("/admin/v1/users/{id}/sessions", get(h::user_sessions).delete(h::end_user_sessions))
        .route("/admin/v1/users/{id}/refresh-families", get(h::user_families))
        .route("/admin/v1/users/{id}/consents", get(h::consents))
        .route("/admin/v1/users/{id}/consents/{client_id}", delete(h::revoke_consent))
        .route("/admin/v1/keys", get(h::list_keys))
        .route("/admin/v1/keys/rotate", post(h::rotate_key))
        .route("/admin/v1/trusted-issuers", get(h::list_issuers).post(h::add_issuer))
        .route("/admin/v1/trusted-issuers/check", post(h::check_assertion))
        .route("/admin/v1/trusted-issuers/{issuer}", get(h::show_issuer).delete(h::remove_issuer))
        .route("/admin/v1/trusted-issuers/{issuer}/enable", post(h::enable_issuer))
        .route("/admin/v1/trusted-issuers/{issuer}/disable", post(h::disable_issuer))
        .route("/admin/v1/audit", get(h::audit))
        .route("/admin/v1/{*rest}", axum::routing::any(h::unknown))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .merge(import)
        .layer(axum::middleware::map_response(problem::problem_errors))
}

/// Authenticates the request's bearer token, requires `scope`, and gathers the call's context.
pub async fn ctx<'a>(
    app: &'a AppState,
    headers: &HeaderMap,
    scope: &'static str,
    body: &[u8],
) -> Result<Ctx<'a>, AdminError> {
    let actor = calls::authorize(app, super::extract::bearer(headers), scope).await?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut fingerprint = scope.as_bytes().to_vec();
    fingerprint.extend_from_slice(body);
    Ok(Ctx {
        app,
        actor,
        request_id: text("x-request-id"),
        if_match: text(header::IF_MATCH.as_str()),
        idempotency_key: text("idempotency-key"),
        fingerprint,
    })
}

/// Parses a JSON body of the `media` type, naming the field a type error is in.
pub fn json<T: DeserializeOwned>(headers: &HeaderMap, bytes: &Bytes, media: &'static str) -> Result<T, AdminError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case(media) {
        return Err(AdminError::UnsupportedMediaType(media));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| AdminError::Invalid(format!("invalid JSON body: {e}")))
}

/// A call's reply as HTTP: JSON with no-store (admin answers carry user data and secrets), its
/// ETag, and `Idempotent-Replayed` on a replay.
pub fn respond(r: Result<Reply, AdminError>) -> Response {
    let r = match r {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let mut resp = match &r.body {
        Some(v) => super::no_store(status, v),
        None => status.into_response(),
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(tag) = r.etag.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert(header::ETAG, tag);
    }
    if r.replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    resp
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        problem::respond(self)
    }
}
