//! `POST /par`, the pushed authorization request endpoint (RFC 9126 §2): JSON answers with
//! `Cache-Control: no-store`, errors as RFC 6749 §5.2 objects (§2.3).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::{parse_form, read_form_bytes};
use crate::flows::authorize::par::{self, ParError};
use crate::oauth::error::sanitize_description;
use crate::state::App;

pub async fn par(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ip = super::client_ip(&parts.extensions);
    let result = async {
        let bytes = read_form_bytes(&parts.headers, body).await?;
        let form = parse_form(&bytes)?;
        app.limits.check_ip(ip)?;
        par::push(&app, &parts.headers, &bytes, &form).await
    }
    .await;
    match result {
        // §2.2: 201 Created.
        Ok(p) => {
            super::no_store(StatusCode::CREATED, &json!({ "request_uri": p.request_uri, "expires_in": p.expires_in }))
        }
        Err(e) => e.into_response(),
    }
}

impl IntoResponse for ParError {
    fn into_response(self) -> Response {
        match self {
            ParError::Token(e) => e.into_response(),
            ParError::Request { error, description } => super::no_store(
                StatusCode::BAD_REQUEST,
                &json!({ "error": error, "error_description": sanitize_description(&description) }),
            ),
        }
    }
}
