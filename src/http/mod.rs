//! HTTP: routes, middleware, and thin handlers that parse, call and respond.

mod authorize;
pub mod client_auth;
mod discovery;
pub mod extract;
mod health;
mod introspect;
mod jwks;
mod revoke;
pub mod server;
mod token;
mod userinfo;

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Request};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn routes(app: App) -> Router {
    let state = app.clone();
    // Discovery and keys are public documents: any origin may read them.
    let public = Router::new()
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/.well-known/oauth-authorization-server", get(discovery::metadata))
        .route("/.well-known/openid-configuration", get(discovery::metadata))
        .layer(CorsLayer::permissive());
    let back = Router::new()
        .route("/token", post(token::token))
        .route("/revoke", post(revoke::revoke))
        .route("/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .layer(client_cors(app.clone()));
    // Introspection is server-to-server (RFC 7662): no CORS, so no browser can call it.
    let server = Router::new().route("/introspect", post(introspect::introspect));
    // /token enforces its own limit, so that an oversized body still gets an RFC 6749 JSON error.
    let rest = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(public)
        .layer(RequestBodyLimitLayer::new(extract::MAX_BODY_BYTES));
    // The front channel: never CORS.
    let front = Router::new()
        .route("/authorize", get(authorize::authorize_get).post(authorize::authorize_post))
        .route("/login", post(authorize::login_post))
        .route("/consent", post(authorize::consent_post))
        .route("/logout", get(authorize::logout_get).post(authorize::logout_post))
        // For what axum writes itself, such as a 405; the pages set their own.
        .layer(
            ServiceBuilder::new()
                .layer(page_header(header::X_FRAME_OPTIONS, "DENY"))
                .layer(page_header(header::CONTENT_SECURITY_POLICY, authorize::PAGE_CSP))
                .layer(page_header(header::REFERRER_POLICY, "no-referrer"))
                .layer(page_header(header::CACHE_CONTROL, "no-store")),
        );
    // route_layer: the matched route is known there, so metrics label by route, not raw path.
    Router::new()
        .merge(back)
        .merge(server)
        .merge(front)
        .merge(rest)
        .route_layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    // Method and path only: query strings and headers may carry secrets.
                    let id =
                        req.extensions().get::<RequestId>().and_then(|r| r.header_value().to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                // The 408 is written here, outside the front router's headers.
                .layer(axum::middleware::map_response(authorize::timeout_headers))
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                )),
        )
}

pub use authorize::Pages;

fn page_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// The metrics listener's router: `GET /metrics` in Prometheus text format.
pub fn metrics_routes(app: App) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let app = app.clone();
            async move {
                let (size, idle) = app.store.pool_state();
                metrics::gauge!("oauthd_db_pool_connections").set(size as f64);
                metrics::gauge!("oauthd_db_pool_idle_connections").set(idle as f64);
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::handle().render())
            }
        }),
    )
}

/// CORS for SPAs: only origins some client registered with `--allowed-origin`, no cookies.
fn client_cors(app: App) -> CorsLayer {
    use axum::http::Method;
    use tower_http::cors::AllowOrigin;
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(move |origin: HeaderValue, _| {
            let app = app.clone();
            async move {
                let Ok(origin) = origin.to_str() else { return false };
                app.origins.allows(&app, origin).await
            }
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

/// The peer address, when the server was started with connect info.
pub fn client_ip(ext: &axum::http::Extensions) -> std::net::IpAddr {
    ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// JSON with `Cache-Control: no-store`, for every response that carries tokens or user data.
pub fn no_store<T: serde::Serialize>(status: axum::http::StatusCode, body: &T) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}
