//! `/logout`, OIDC RP-Initiated Logout 1.0 §2-3. The session ends at once only when an
//! `id_token_hint` for the signed-in user proves the request came from that user's client;
//! otherwise the user confirms with a CSRF-protected POST, so a cross-site link cannot sign
//! anyone out.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::forms::{check_csrf, logout_page, secure};
use super::pages::{read_cookie, redirect, set_cookie, SESSION_COOKIE};
use super::params::{front, Front};
use super::{fail, session, AuthzError};
use crate::app::{App, AppState};
use crate::http::extract::Form;
use crate::jwt::verify;
use crate::oauth::secret;

const KNOWN: [&str; 5] = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state", "csrf"];
/// Carried through the confirmation form.
const CARRIED: [&str; 4] = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];

/// Where to go after signing out, and who the hint says is signing out.
struct Target {
    client_name: Option<String>,
    uri: Option<String>,
    hint_sub: Option<String>,
}

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
    let target = match target(&app, f.form()).await {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    // Only our own form sends `csrf`; an RP's POST without it is treated like its GET.
    let confirmed = !from_query && f.form().get("csrf").is_some();
    if confirmed {
        if let Some(resp) = check_csrf(&app, &f.headers, f.form()) {
            return resp;
        }
    }
    let active = match session(&app, &f.headers).await {
        Ok(a) => a,
        Err(_) => return fail(&app, AuthzError::Unavailable),
    };
    if let Some(a) = active.filter(|a| !confirmed && target.hint_sub.as_deref() != Some(a.user.id.as_str())) {
        let carried: Vec<(String, String)> =
            CARRIED.iter().filter_map(|k| f.form().get(k).map(|v| (k.to_string(), v.to_string()))).collect();
        return logout_page(&app, &f.headers, &carried, target.client_name.as_deref(), &a.user, target.uri.as_deref());
    }
    end_session(&app, &f, target).await
}

async fn end_session(app: &AppState, f: &Front, target: Target) -> Response {
    if let Some(token) = read_cookie(&f.headers, SESSION_COOKIE) {
        if app.store.delete_session(&secret::digest(&token)).await.is_err() {
            return fail(app, AuthzError::Unavailable);
        }
    }
    let mut resp = match target.uri {
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

/// The client (from the verified hint, or `client_id`, which must then agree) and the
/// `post_logout_redirect_uri`, which must be registered for it (§3).
async fn target(app: &AppState, form: &Form) -> Result<Target, Response> {
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
    let client_name = client.map(|c| c.client.name.clone());
    Ok(Target { client_name, uri, hint_sub: hint.map(|(sub, _)| sub) })
}
