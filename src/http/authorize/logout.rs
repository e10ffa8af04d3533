//! `/logout`, OIDC RP-Initiated Logout 1.0 §2-3: ends the session, then redirects to a
//! registered `post_logout_redirect_uri` of the client named by `client_id` or by a verified
//! `id_token_hint`. A GET ends the session at once (as this project's issue 4 asks, like Auth0);
//! the spec's confirmation question is not asked, see README.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::forms::secure;
use super::pages::{read_cookie, redirect, set_cookie, SESSION_COOKIE};
use super::params::{front, Front};
use super::{fail, AuthzError};
use crate::app::{App, AppState};
use crate::http::extract::Form;
use crate::jwt::verify;
use crate::oauth::secret;

const KNOWN: [&str; 4] = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];

pub async fn logout_get(State(app): State<App>, req: Request) -> Response {
    logout(app, req, true).await
}

pub async fn logout_post(State(app): State<App>, req: Request) -> Response {
    logout(app, req, false).await
}

async fn logout(app: App, req: Request, from_query: bool) -> Response {
    let f = match front(req, from_query, &KNOWN).await {
        Ok(f) => f,
        Err((status, msg)) => return app.pages.error(status, msg),
    };
    if let Some(problem) = f.params.problem() {
        return app.pages.error(StatusCode::BAD_REQUEST, &format!("The request is malformed: {problem}."));
    }
    match target(&app, f.form()).await {
        Ok(uri) => end_session(&app, &f, uri).await,
        Err(resp) => resp,
    }
}

async fn end_session(app: &AppState, f: &Front, uri: Option<String>) -> Response {
    if let Some(token) = read_cookie(&f.headers, SESSION_COOKIE) {
        if app.store.delete_session(&secret::digest(&token)).await.is_err() {
            return fail(app, AuthzError::Unavailable);
        }
    }
    let mut resp = match uri {
        Some(uri) => {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            if let Some(s) = f.form().get("state") {
                ser.append_pair("state", s);
            }
            let q = ser.finish();
            let sep = if uri.contains('?') { '&' } else { '?' };
            redirect(&if q.is_empty() { uri } else { format!("{uri}{sep}{q}") })
        }
        None => app.pages.message("Signed out", "You are signed out."),
    };
    set_cookie(&mut resp, SESSION_COOKIE, "", Some(0), secure(app));
    resp
}

/// The `post_logout_redirect_uri`, which must be registered (§3) for the client: the one the
/// verified hint names, or `client_id`, which must then agree.
async fn target(app: &AppState, form: &Form) -> Result<Option<String>, Response> {
    let page = |msg: &str| app.pages.error(StatusCode::BAD_REQUEST, msg);
    let hint = match form.get("id_token_hint") {
        None => None,
        Some(t) => Some(
            verify::id_token_hint(&app.keys.load(), &app.settings.issuer, t)
                .map_err(|_| page("The id_token_hint was not issued by this server."))?,
        ),
    };
    let client_id = match (hint.as_ref().map(|(_, c)| c.as_str()), form.get("client_id")) {
        (Some(a), Some(b)) if a != b => return Err(page("The client_id does not match the id_token_hint.")),
        (Some(id), _) | (None, Some(id)) => Some(id),
        (None, None) => None,
    };
    let client = match client_id {
        Some(id) => app.client(id).await.map_err(|_| fail(app, AuthzError::Unavailable))?,
        None => None,
    };
    let client = client.filter(|c| !c.client.disabled);
    let uri = match (form.get("post_logout_redirect_uri"), &client) {
        (None, _) => None,
        (Some(_), None) if client_id.is_none() => {
            return Err(page("post_logout_redirect_uri needs client_id or id_token_hint."))
        }
        (Some(uri), Some(c)) if c.client.post_logout_redirect_uris.split(' ').any(|r| r == uri) => {
            Some(uri.to_string())
        }
        (Some(_), _) => return Err(page("That post_logout_redirect_uri is not registered.")),
    };
    Ok(uri)
}
