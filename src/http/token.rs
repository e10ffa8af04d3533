//! `POST /token`, RFC 6749 §3.2.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::read_form;
use crate::flows::grants;
use crate::state::App;

pub async fn token(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ip = super::client_ip(&parts.extensions);
    let mut grant = String::new();
    let result = async {
        let form = read_form(&parts.headers, body).await?;
        grant = form.get("grant_type").unwrap_or("").to_string();
        app.limits.check_ip(ip)?;
        grants::dispatch(&app, &parts.headers, &form, ip).await
    }
    .await;
    match result {
        Ok(resp) => {
            crate::metrics::token_outcome(&grant, "ok");
            super::no_store(StatusCode::OK, &resp)
        }
        Err(e) => {
            let e = crate::flows::device::poll::throttled(&grant, e);
            crate::metrics::token_outcome(&grant, e.code());
            e.into_response()
        }
    }
}
