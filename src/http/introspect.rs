//! `POST /introspect`, RFC 7662: authenticated clients learn whether a token is active.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::client_auth::authenticate;
use super::extract::read_form;
use crate::app::{now, App};
use crate::error::TokenError;

pub async fn introspect(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let result = async {
        let form = read_form(&parts.headers, body).await?;
        let client = authenticate(&app, &parts.headers, &form).await?;
        if !client.authenticated {
            return Err(TokenError::client("introspection requires client authentication"));
        }
        let token = form.require("token")?;
        Ok(crate::tokens::introspect(&app, client.id(), token, form.get("token_type_hint"), now()).await?)
    }
    .await;
    match result {
        Ok(v) => super::no_store(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}
