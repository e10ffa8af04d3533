//! `POST /token`, RFC 6749 §3.2.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::read_form;
use crate::app::App;
use crate::grants;

pub async fn token(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ip = super::client_ip(&parts.extensions);
    let result = async {
        let form = read_form(&parts.headers, body).await?;
        grants::dispatch(&app, &parts.headers, &form, ip).await
    }
    .await;
    match result {
        Ok(resp) => super::no_store(StatusCode::OK, &resp),
        Err(e) => e.into_response(),
    }
}
