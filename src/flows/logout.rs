//! Logout, OIDC RP-Initiated Logout 1.0 §2–3: ends the SSO session, then names the registered
//! `post_logout_redirect_uri` of the client given by `client_id` or by a verified `id_token_hint`.
//! A GET ends the session at once (like Auth0); the spec's confirmation question is not asked.
//! The session's clients get logout tokens (Back-Channel Logout 1.0 §2.5), sent by
//! `flows::backchannel` once the session has ended.

use crate::clock::now;
use crate::jwt::verify;
use crate::oauth::{secret, Form};
use crate::state::AppState;

/// The parameters `/logout` reads.
pub const KNOWN: [&str; 4] = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];

pub enum LogoutError {
    /// Shown as a page, never redirected.
    Page(&'static str),
    Unavailable,
}

/// Ends the session of `session_token`. `Some(uri)` is where to send the browser (with `state`),
/// `None` means "show the signed-out page".
pub async fn logout(app: &AppState, form: &Form, session_token: Option<&str>) -> Result<Option<String>, LogoutError> {
    let uri = target(app, form).await?;
    if let Some(token) = session_token {
        let queued =
            app.store.end_session(&secret::digest(token), now()).await.map_err(|_| LogoutError::Unavailable)?;
        if queued > 0 {
            app.logout_wakeup.notify_one();
        }
    }
    Ok(uri.map(|uri| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        if let Some(s) = form.get("state") {
            ser.append_pair("state", s);
        }
        let q = ser.finish();
        let sep = if uri.contains('?') { '&' } else { '?' };
        if q.is_empty() {
            uri
        } else {
            format!("{uri}{sep}{q}")
        }
    }))
}

/// The `post_logout_redirect_uri`, which must be registered (§3) for the client: the one the
/// verified hint names, or `client_id`, which must then agree.
async fn target(app: &AppState, form: &Form) -> Result<Option<String>, LogoutError> {
    let hint = match form.get("id_token_hint") {
        None => None,
        Some(t) => Some(
            verify::id_token_hint(&app.keys.load(), &app.settings.issuer, t)
                .map_err(|_| LogoutError::Page("The id_token_hint was not issued by this server."))?,
        ),
    };
    let client_id = match (hint.as_ref().map(|(_, c)| c.as_str()), form.get("client_id")) {
        (Some(a), Some(b)) if a != b => {
            return Err(LogoutError::Page("The client_id does not match the id_token_hint."))
        }
        (Some(id), _) | (None, Some(id)) => Some(id),
        (None, None) => None,
    };
    let client = match client_id {
        Some(id) => app.client(id).await.map_err(|_| LogoutError::Unavailable)?,
        None => None,
    };
    let client = client.filter(|c| !c.client.disabled);
    match (form.get("post_logout_redirect_uri"), &client) {
        (None, _) => Ok(None),
        (Some(_), None) if client_id.is_none() => {
            Err(LogoutError::Page("post_logout_redirect_uri needs client_id or id_token_hint."))
        }
        (Some(uri), Some(c)) if c.client.post_logout_redirect_uris.split(' ').any(|r| r == uri) => {
            Ok(Some(uri.to_string()))
        }
        (Some(_), _) => Err(LogoutError::Page("That post_logout_redirect_uri is not registered.")),
    }
}
