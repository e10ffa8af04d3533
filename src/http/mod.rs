//! HTTP: routes, middleware, and thin handlers that parse, call and respond.

pub mod client_auth;
mod discovery;
pub mod extract;
mod health;
mod jwks;
mod token;
mod userinfo;

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Request};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn routes(app: App) -> Router {
    // Discovery and keys are public documents: any origin may read them.
    let public = Router::new()
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .layer(CorsLayer::permissive());
    // /token enforces its own limit, so that an oversized body still gets an RFC 6749 JSON error.
    let rest = Router::new()
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(public)
        .layer(RequestBodyLimitLayer::new(extract::MAX_BODY_BYTES));
    Router::new()
        .route("/token", post(token::token))
        .merge(rest)
        .with_state(app)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    // Method and path only: query strings and headers may carry secrets.
                    let id = req.extensions().get::<RequestId>().and_then(|r| r.header_value().to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
                .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"))),
        )
}

/// JSON with `Cache-Control: no-store`, for every response that carries tokens or user data.
pub fn no_store<T: serde::Serialize>(
    status: axum::http::StatusCode,
    body: &T,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}
