//! `POST /revoke`, RFC 7009: a client revokes its own refresh or access token.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::client_auth::authenticate;
use super::extract::read_form;
use crate::app::{now, App};

pub async fn revoke(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let result = async {
        let form = read_form(&parts.headers, body).await?;
        let client = authenticate(&app, &parts.headers, &form).await?;
        let token = form.require("token")?;
        // §2.2: unknown tokens and tokens of other clients still get 200; storage failures do not.
        crate::tokens::revoke(&app, client.id(), token, form.get("token_type_hint"), now()).await?;
        Ok::<_, crate::error::TokenError>(())
    }
    .await;
    match result {
        Ok(()) => super::no_store(StatusCode::OK, &serde_json::json!({})),
        Err(e) => e.into_response(),
    }
}
