//! `POST /device_authorization`, RFC 8628 §3.1–3.2: a device or CLI asks for a device code and
//! a user code. Answered like the token endpoint: JSON, `Cache-Control: no-store`, RFC 6749 §5.2
//! errors.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::read_form;
use crate::flows::device;
use crate::state::App;

pub async fn device_authorization(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ip = super::client_ip(&parts.extensions);
    let result = async {
        let form = read_form(&parts.headers, body).await?;
        device::authorize(&app, &parts.headers, &form, ip, crate::clock::now()).await
    }
    .await;
    match result {
        Ok(resp) => super::no_store(StatusCode::OK, &resp),
        Err(e) => e.into_response(),
    }
}
