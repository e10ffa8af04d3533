//! `GET /.well-known/jwks.json`, RFC 7517 §5: public keys only.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::app::{now, App};
use crate::jwt::keys::public_jwks;

pub async fn jwks(State(app): State<App>) -> Response {
    // Read the database so a key rotated by another instance or the CLI is published at once;
    // fall back to the in-memory set while the database is unreachable.
    let set = match app.store.list_keys().await {
        Ok(records) => public_jwks(&records, now(), app.settings.key_publish_window()),
        Err(_) => (*app.keys.load().jwks).clone(),
    };
    let mut r = Json(set).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    r
}
