//! `POST /revoke`, RFC 7009: a client revokes its own refresh or access token.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::read_form;
use crate::flows::tokens;
use crate::state::App;

pub async fn revoke(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let result = async { tokens::revoke_request(&app, &parts.headers, &read_form(&parts.headers, body).await?).await };
    match result.await {
        Ok(()) => super::no_store(StatusCode::OK, &serde_json::json!({})),
        Err(e) => e.into_response(),
    }
}
