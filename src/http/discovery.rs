//! `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server` (RFC 8414
//! §3), the latter also in the path-inserted form of §3.1 for an issuer with a path, and
//! `GET /.well-known/jwks.json` (RFC 7517 §5).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::flows::discovery;
use crate::state::App;

pub async fn metadata(State(app): State<App>) -> Response {
    cached(Json(discovery::metadata(&app).await).into_response(), "public, max-age=300")
}

/// RFC 8414 §3.1: the metadata of issuer `https://host/tenant` is at
/// `https://host/.well-known/oauth-authorization-server/tenant`; any other path is not ours.
pub async fn metadata_at(State(app): State<App>, Path(path): Path<String>) -> Response {
    if discovery::issuer_path(&app.settings.issuer).as_deref() != Some(path.as_str()) {
        return super::error::status_error(axum::http::StatusCode::NOT_FOUND);
    }
    metadata(State(app)).await
}

pub async fn jwks(State(app): State<App>) -> Response {
    cached(Json(discovery::jwks(&app).await).into_response(), "public, max-age=60")
}

fn cached(mut r: Response, control: &'static str) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(control));
    r
}
