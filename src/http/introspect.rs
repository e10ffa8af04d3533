//! `POST /introspect`, RFC 7662: authenticated clients learn whether a token is active.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::read_form;
use crate::flows::tokens;
use crate::state::App;

pub async fn introspect(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let result =
        async { tokens::introspect_request(&app, &parts.headers, &read_form(&parts.headers, body).await?).await };
    match result.await {
        Ok(v) => super::no_store(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}
