//! Probes (Kubernetes liveness and readiness, load-balancer checks): `GET /healthz` (the process
//! answers), `GET /readyz` (this instance can serve: up, keys loaded, not draining) and
//! `GET /healthz/db` (the database answers). The database is reported apart from readiness: a
//! database blip would otherwise take every instance out at once, though each can still mint
//! tokens for cached clients.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::no_store;
use super::server::Draining;
use crate::state::{App, AppState};

pub async fn healthz() -> Response {
    no_store(StatusCode::OK, &json!({ "status": "ok" }))
}

/// The keys are loaded before the listener takes its first connection (`AppState::init`), so an
/// instance that answers is ready unless a shutdown has begun.
pub async fn readyz(draining: Option<Extension<Draining>>) -> Response {
    if draining.is_some_and(|Extension(d)| d.is_set()) {
        no_store(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": "draining" }))
    } else {
        no_store(StatusCode::OK, &json!({ "status": "ready" }))
    }
}

pub async fn healthz_db(State(app): State<App>) -> Response {
    if database_up(&app).await {
        no_store(StatusCode::OK, &json!({ "status": "up" }))
    } else {
        no_store(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": "down" }))
    }
}

/// Pings the database (within `db_timeout_ms`) and records the answer in `oauthd_db_up`.
pub async fn database_up(app: &AppState) -> bool {
    let up = match app.database_ok().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "database health check failed");
            false
        }
    };
    metrics::gauge!("oauthd_db_up").set(if up { 1.0 } else { 0.0 });
    up
}
