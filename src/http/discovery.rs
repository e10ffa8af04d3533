//! `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server` (RFC 8414
//! §3), and `GET /.well-known/jwks.json` (RFC 7517 §5).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::flows::discovery;
use crate::state::App;

pub async fn metadata(State(app): State<App>) -> Response {
    cached(Json(discovery::metadata(&app).await).into_response(), "public, max-age=300")
}

pub async fn jwks(State(app): State<App>) -> Response {
    cached(Json(discovery::jwks(&app).await).into_response(), "public, max-age=60")
}

fn cached(mut r: Response, control: &'static str) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(control));
    r
}
