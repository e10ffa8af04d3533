//! HTTP: routes, middleware, and thin handlers that parse, call and respond.

pub mod admin;
mod authorize;
mod discovery;
pub mod error;
pub mod extract;
mod health;
mod introspect;
mod revoke;
pub mod server;
mod token;
mod userinfo;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::oauth::TokenError;
use crate::state::App;
pub use authorize::Pages;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router's state: the app, and the page renderer the front channel needs besides it.
#[derive(Clone)]
pub struct Web {
    pub app: App,
    pub pages: Arc<Pages>,
}

impl FromRef<Web> for App {
    fn from_ref(w: &Web) -> App {
        w.app.clone()
    }
}

pub fn routes(app: App) -> anyhow::Result<Router> {
    let state = Web { app: app.clone(), pages: Arc::new(Pages::new()?) };
    // Discovery and keys are public documents: any origin may read them.
    let public = Router::new()
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route("/.well-known/oauth-authorization-server", get(discovery::metadata))
        .route("/.well-known/openid-configuration", get(discovery::metadata))
        .layer(CorsLayer::permissive());
    let request_timeout = Duration::from_secs(app.settings.request_timeout);
    let deadline = axum::middleware::from_fn_with_state(request_timeout, deadline);
    // Whatever axum or a layer answers on its own here (a 405 on /userinfo, a 413) is JSON too.
    let json_errors = axum::middleware::map_response(error::json_errors);
    let back = Router::new()
        .route("/token", post(token::token).fallback(only_post))
        .route("/revoke", post(revoke::revoke).fallback(only_post))
        .route("/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .layer(deadline.clone())
        .layer(json_errors.clone())
        .layer(page_header(header::CACHE_CONTROL, "no-store"))
        .layer(client_cors(app.clone()));
    // Introspection is server-to-server (RFC 7662): no CORS, so no browser can call it.
    let server = Router::new()
        .route("/introspect", post(introspect::introspect).fallback(only_post))
        .layer(deadline.clone())
        .layer(json_errors.clone());
    // Probes and documents. /token enforces its own body limit, so that an oversized body still
    // gets an RFC 6749 JSON error.
    let rest = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/healthz/db", get(health::healthz_db))
        .route("/readyz", get(health::readyz))
        .merge(public)
        .layer(RequestBodyLimitLayer::new(extract::MAX_BODY_BYTES))
        .layer(deadline)
        .layer(json_errors);
    // Pages: a stalled request gets a bare 408.
    let timeout = TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, request_timeout);
    // The front channel: never CORS.
    let front = Router::new()
        .route("/authorize", get(authorize::authorize_get).post(authorize::authorize_post))
        .route("/login", post(authorize::login_post))
        .route("/consent", post(authorize::consent_post))
        .route("/logout", get(authorize::logout_get).post(authorize::logout_post))
        .layer(timeout)
        // For what axum and the timeout write themselves, such as a 405 or 408; pages set their own.
        .layer(
            ServiceBuilder::new()
                .layer(page_header(header::X_FRAME_OPTIONS, "DENY"))
                .layer(page_header(header::CONTENT_SECURITY_POLICY, authorize::PAGE_CSP))
                .layer(page_header(header::REFERRER_POLICY, "no-referrer"))
                .layer(page_header(header::CACHE_CONTROL, "no-store")),
        );
    let mut all = Router::new().merge(back).merge(server).merge(front).merge(rest);
    if app.settings.admin_bind.is_empty() {
        all = all.merge(admin::routes());
    }
    Ok(finish(all, state))
}

/// The admin API alone, for its own listener (`admin_bind`).
pub fn admin_router(app: App) -> anyhow::Result<Router> {
    let state = Web { app, pages: Arc::new(Pages::new()?) };
    Ok(finish(admin::routes(), state))
}

/// The layers every listener's requests pass: metrics, request ids, tracing, the panic backstop.
fn finish(routes: Router<Web>, state: Web) -> Router {
    // route_layer: the matched route is known there, so metrics label by route, not raw path.
    routes
        .route_layer(axum::middleware::from_fn(track))
        .fallback(not_found)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(tower::util::MapRequestLayer::new(plain_request_id))
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    // Method and path only: query strings and headers may carry secrets.
                    let id =
                        req.extensions().get::<RequestId>().and_then(|r| r.header_value().to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                })
                // 5xx answers are logged where they arise (storage warnings, internal errors,
                // panics); at ERROR here, a login flood's 503s would write a line per refusal.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                // The backstop: a panic is a logged JSON 500, not a dropped connection.
                .layer(CatchPanicLayer::custom(crate::http::error::panic_response))
                .layer(axum::middleware::from_fn(metered)),
        )
}

/// The full router with its middleware.
pub fn router(app: App) -> anyhow::Result<Router> {
    routes(app)
}

/// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
pub async fn serve(listener: tokio::net::TcpListener, app: App) -> anyhow::Result<()> {
    serve_until(listener, app, shutdown_signal()).await
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish for `shutdown_grace`.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    crate::metrics::spawn_upkeep();
    crate::flows::backchannel::spawn(app.clone());
    let limits = server::ConnLimits::from_settings(&app.settings);
    server::serve(listener, router(app)?, limits, shutdown).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// A caller's `x-request-id` is kept only when it is short and plain; anything else (log
/// injection, a 12 KB value) is replaced by a fresh one before it reaches a log line.
fn plain_request_id<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    let plain = |v: &HeaderValue| {
        v.len() <= 64 && v.as_bytes().iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    };
    if req.headers().get(&REQUEST_ID).is_some_and(|v| !plain(v)) {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

fn page_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// The back channel and the documents answer in JSON even when our own work stalls: 503
/// `temporarily_unavailable` with no-store, where the front channel gets a bare 408. A client slow
/// to send its body gets 408 from `read_form` well before this fires.
async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(limit_s = limit.as_secs(), "request timed out");
            TokenError::Unavailable("the request took too long; retry later".into()).into_response()
        }
    }
}

/// One counter and one latency observation per request, by route and status.
async fn track(req: Request, next: Next) -> Response {
    let path = req.extensions().get::<MatchedPath>().map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("oauthd_http_requests_total", "endpoint" => path.clone(), "status" => status).increment(1);
    metrics::histogram!("oauthd_http_request_duration_seconds", "endpoint" => path)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// Gives each request one account of database time (`db_timeout_ms` in all).
async fn metered(req: Request, next: Next) -> Response {
    crate::store::metered(next.run(req)).await
}

/// RFC 6749 §3.2: the token endpoint (and revocation, introspection) takes POST only.
async fn only_post() -> Response {
    TokenError::MethodNotAllowed.into_response()
}

/// Unknown paths: a JSON 404 with no-store.
async fn not_found() -> Response {
    error::status_error(axum::http::StatusCode::NOT_FOUND)
}

/// The metrics listener's router: `GET /metrics` in Prometheus text format.
pub fn metrics_routes(app: App) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let app = app.clone();
                async move {
                    let (size, idle) = app.pool_state();
                    metrics::gauge!("oauthd_db_pool_connections").set(size as f64);
                    metrics::gauge!("oauthd_db_pool_idle_connections").set(idle as f64);
                    metrics::gauge!("oauthd_password_hash_queue").set(app.passwords.queued() as f64);
                    // So that `oauthd_db_up` is current even where nothing polls /healthz/db.
                    health::database_up(&app).await;
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::handle().render())
                }
            }),
        )
        .fallback(not_found)
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
                app.origin_allowed(origin).await
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
pub fn no_store<T: serde::Serialize>(status: axum::http::StatusCode, body: &T) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}
