//! Client authentication at the token endpoint: `client_secret_basic`, `client_secret_post`
//! (RFC 6749 §2.3.1) and public clients identified by `client_id` alone (§3.2.1).

use std::sync::Arc;

use axum::http::HeaderMap;

use super::extract::{basic_credentials, Form};
use crate::app::{AppState, ClientEntry};
use crate::error::TokenError;
use crate::oauth::secret;

#[derive(Debug)]
pub struct AuthedClient {
    pub entry: Arc<ClientEntry>,
    /// False for a public client that only named itself.
    pub authenticated: bool,
}

impl AuthedClient {
    pub fn id(&self) -> &str {
        &self.entry.client.id
    }
}

pub async fn authenticate(app: &AppState, headers: &HeaderMap, form: &Form) -> Result<AuthedClient, TokenError> {
    let basic = basic_credentials(headers)?;
    let post_secret = form.get("client_secret");
    let (id, presented, used_basic) = match (&basic, form.get("client_id")) {
        (Some(_), _) if post_secret.is_some() => {
            return Err(TokenError::request("use exactly one client authentication method"));
        }
        (Some((id, _)), Some(form_id)) if form_id != id => {
            return Err(TokenError::request("client_id does not match the authenticated client"));
        }
        (Some((id, s)), _) => (id.as_str(), Some(s.as_str()).filter(|s| !s.is_empty()), true),
        (None, Some(id)) => (id, post_secret, false),
        (None, None) => {
            return Err(TokenError::InvalidClient { desc: "client authentication required".into(), basic: false });
        }
    };
    let fail = || TokenError::client(used_basic);
    let entry = app.client(id).await?.ok_or_else(fail)?;
    let c = &entry.client;
    if c.disabled {
        return Err(fail());
    }
    let authenticated = match (c.public, presented, &c.secret_hash) {
        (true, None, _) => false,
        (false, Some(s), Some(hash)) if secret::verify(s, hash) => true,
        _ => return Err(fail()),
    };
    Ok(AuthedClient { entry, authenticated })
}
