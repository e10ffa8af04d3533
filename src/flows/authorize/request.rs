//! Validating an authorization request, RFC 6749 §4.1.1 and §4.1.2.1, OIDC Core §3.1.2.1 (with
//! `claims` §5.5, `acr_values`, `id_token_hint`), OAuth 2.0 Form Post Response Mode, RFC 9449 §10
//! `dpop_jkt`. Errors about
//! the client or redirect URI are shown as a page; all others go back to the client with
//! `error`, `state` and `iss` (RFC 9207), in the query or by form post as the request asked.

use std::sync::Arc;

use super::par::{self, PushedRef, Via};
use super::targets;
use crate::config::PkceRequired;
use crate::jwt::verify;
use crate::oauth::claims::{self, Requested};
use crate::oauth::params::Params;
use crate::oauth::resource::Target;
use crate::oauth::Form;
use crate::oauth::TokenError;
use crate::oauth::{metadata_document, pkce, redirect_uri};
use crate::state::cimd::MetadataError;
use crate::state::{AppState, ClientEntry};
use crate::store::StoreError;

/// Parameters carried through the login and consent forms, in this order.
pub const CARRIED: [&str; 17] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "audience",
    "resource",
    "prompt",
    "max_age",
    "response_mode",
    "claims",
    "acr_values",
    "id_token_hint",
    "dpop_jkt",
];

/// Everything /authorize, /login and /consent understand: the parameters the forms carry, plus
/// the ones read but not carried, and the form fields. Anything else is ignored.
pub const AUTHORIZE_KNOWN: [&str; CARRIED.len() + 7] = {
    let extra = ["login_hint", "request", "request_uri", "username", "password", "csrf", "decision"];
    let mut out = [""; CARRIED.len() + 7];
    let mut i = 0;
    while i < out.len() {
        out[i] = if i < CARRIED.len() { CARRIED[i] } else { extra[i - CARRIED.len()] };
        i += 1;
    }
    out
};

#[derive(Debug, Default, Clone, Copy)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// How the response reaches the client (OAuth 2.0 Multiple Response Types §2.1, Form Post §2).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

pub struct AuthzRequest {
    pub client: Arc<ClientEntry>,
    pub redirect_uri: String,
    pub redirect_given: bool,
    pub mode: ResponseMode,
    pub state: Option<String>,
    /// Everything granted, on all targets.
    pub scope: String,
    /// The first target's audience: a token request naming no resource gets it.
    pub audience: String,
    /// Every audience the code may mint for, with its share of the scope (RFC 8707 §2.1).
    pub targets: Vec<Target>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `claims` parameter, parsed, and as stored with the code.
    pub claims: Requested,
    /// The user a verified `id_token_hint` or a `claims` `sub` value names: nobody else may be
    /// signed in for the request to succeed (OIDC Core §3.1.2.1, §5.5.1).
    pub expected_sub: Option<String>,
    /// The known parameters as received, to re-send through our own forms: for a pushed request,
    /// only `client_id` and `request_uri`.
    pub params: Vec<(String, String)>,
    /// RFC 9449 §10: the thumbprint of the DPoP key that must redeem the code.
    pub dpop_jkt: Option<String>,
    /// The pushed request (RFC 9126) this request came from.
    pub pushed: Option<PushedRef>,
}

/// Where the request being checked comes from.
pub enum Source {
    /// The front channel's own parameters.
    Front,
    /// The PAR endpoint, before the request is stored.
    Pushing,
    /// A stored pushed request, named by `request_uri`.
    Pushed(PushedRef),
}

pub enum AuthzError {
    /// Never redirect: unknown client, bad redirect URI (§4.1.2.1).
    Page(String),
    /// Redirect back with an error code.
    Redirect {
        redirect_uri: String,
        mode: ResponseMode,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
    Unavailable,
}

impl From<StoreError> for AuthzError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "storage error on /authorize");
        match e {
            StoreError::InvalidInput(_) => {
                AuthzError::Page("The request contains characters that are not allowed.".into())
            }
            _ => AuthzError::Unavailable,
        }
    }
}

/// Checks the request, or the pushed request its `request_uri` names (RFC 9126 §4), whose
/// parameters then stand for all but `client_id` and `request_uri`. `signed_in` says whether the
/// browser has a session: without one, `prompt=none` is `login_required` before any audience
/// error (that needs no user to report).
pub async fn validate(app: &AppState, p: &Params, signed_in: bool, via: Via) -> Result<AuthzRequest, AuthzError> {
    // Any other request_uri names a request object, refused by `check` (OIDC Core §6.2).
    if !p.form.get("request_uri").is_some_and(|u| u.starts_with(par::REQUEST_URI_PREFIX)) {
        return check(app, p, signed_in, Source::Front).await;
    }
    let (stored, pushed) = par::load(app, p, via).await?;
    let mut req = check(app, &stored, signed_in, Source::Pushed(pushed)).await?;
    req.params = ["client_id", "request_uri"]
        .iter()
        .filter_map(|k| p.form.get(k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    Ok(req)
}

/// Checks the request's own parameters (RFC 6749 §4.1.1, OIDC Core §3.1.2.1).
pub async fn check(app: &AppState, p: &Params, signed_in: bool, source: Source) -> Result<AuthzRequest, AuthzError> {
    let form = &p.form;
    let (client, redirect_uri, redirect_given) = client_and_redirect(app, p).await?;
    let client = targets::with_declared_scopes(app, client, form, &p.resources).await?;
    let state = form.get("state").map(str::to_string);
    let mode = match form.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err("response_mode must be query or form_post"),
    };
    let fail = |error: &'static str, description: &str| AuthzError::Redirect {
        redirect_uri: redirect_uri.clone(),
        mode: *mode.as_ref().unwrap_or(&ResponseMode::Query),
        state: state.clone(),
        error,
        description: description.to_string(),
    };
    let mode = mode.map_err(|d| fail("invalid_request", d))?;
    if let Some(problem) = p.problem() {
        return Err(fail("invalid_request", &format!("parameter {problem}")));
    }
    // RFC 9126 §4: a client (or every client) may be held to pushed requests.
    let par_required =
        client.client.require_pushed_authorization_requests || app.settings.require_pushed_authorization_requests;
    if par_required && matches!(source, Source::Front) {
        return Err(fail("invalid_request", "this client must push its authorization requests to the PAR endpoint"));
    }
    // OIDC Core §3.1.2.6: request objects are not supported, and say so.
    if form.get("request").is_some() {
        return Err(fail("request_not_supported", "request objects are not supported"));
    }
    if form.get("request_uri").is_some() {
        return Err(fail("request_uri_not_supported", "request_uri must be one that /par issued"));
    }
    match form.get("response_type") {
        Some("code") => {}
        Some(_) => return Err(fail("unsupported_response_type", "only response_type=code is supported")),
        None => return Err(fail("invalid_request", "response_type is required")),
    }
    if !client.client.allows_grant("authorization_code") {
        return Err(fail("unauthorized_client", "the client may not use the authorization code flow"));
    }
    let code_challenge = pkce_challenge(app, &client, form).map_err(|d| fail("invalid_request", d))?;
    let prompt = parse_prompt(form.get("prompt")).map_err(|d| fail("invalid_request", d))?;
    // An RFC 7638 SHA-256 thumbprint is 32 bytes, base64url: 43 characters.
    let dpop_jkt = form.get("dpop_jkt");
    if dpop_jkt.is_some_and(|j| !pkce::is_valid_challenge(j)) {
        return Err(fail("invalid_request", "dpop_jkt must be a base64url SHA-256 JWK thumbprint (43 characters)"));
    }
    let max_age = parse_max_age(form.get("max_age")).map_err(|d| fail("invalid_request", d))?;
    let (claims, expected_sub) = oidc_request(app, form).map_err(|(e, d)| fail(e, d))?;
    let (targets, scope) = targets::resolve(&app.settings, &client, form, &p.resources).map_err(|e| match e {
        _ if prompt.none && !signed_in => fail("login_required", "the user is not signed in"),
        TokenError::InvalidScope(d) => fail("invalid_scope", &d),
        TokenError::InvalidTarget(d) => fail("invalid_target", &d),
        other => fail("invalid_request", &other.to_string()),
    })?;
    let audience = targets.first().map(|t| t.aud.clone()).unwrap_or_default();
    let params = carried(p);
    Ok(AuthzRequest {
        client,
        redirect_uri,
        redirect_given,
        mode,
        state,
        scope,
        audience,
        targets,
        nonce: form.get("nonce").map(str::to_string),
        code_challenge,
        prompt,
        max_age,
        login_hint: form.get("login_hint").map(str::to_string),
        claims,
        expected_sub,
        params,
        dpop_jkt: dpop_jkt.map(str::to_string),
        pushed: match source {
            Source::Pushed(r) => Some(r),
            Source::Front | Source::Pushing => None,
        },
    })
}

/// The known parameters to re-send through our forms, every `resource` among them.
fn carried(p: &Params) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for k in CARRIED {
        if k == "resource" {
            out.extend(p.resources.iter().map(|r| (k.to_string(), r.clone())));
        } else if let Some(v) = p.form.get(k) {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// The `claims` parameter (OIDC Core §5.5) and the user the request insists on, from a `sub`
/// value there or a verified `id_token_hint` (§3.1.2.1).
fn oidc_request(app: &AppState, form: &Form) -> Result<(Requested, Option<String>), (&'static str, &'static str)> {
    let claims = form.get("claims").map(Requested::parse).transpose().map_err(|d| ("invalid_request", d))?;
    let claims = claims.unwrap_or_default();
    // §5.5.1.1: an essential acr oauthd cannot achieve is a failed authentication.
    if !claims.acr_met(claims::ACR_PASSWORD) {
        return Err(("unmet_authentication_requirements", "the requested acr cannot be achieved"));
    }
    // An id_token_hint we cannot verify only loses its effect: it could narrow, never widen.
    let hint =
        form.get("id_token_hint").and_then(|t| verify::id_token_hint(&app.keys.load(), &app.settings.issuer, t).ok());
    let expected_sub = claims.sub.clone().or(hint.map(|(sub, _)| sub));
    Ok((claims, expected_sub))
}

/// The client and the redirect URI: any problem here is a page, never a redirect (§4.1.2.1).
async fn client_and_redirect(app: &AppState, p: &Params) -> Result<(Arc<ClientEntry>, String, bool), AuthzError> {
    if let Some(problem) = p.problem_with(&["client_id", "redirect_uri"]) {
        return Err(AuthzError::Page(format!("The request is malformed: {problem}.")));
    }
    let form = &p.form;
    let client_id = form.get("client_id").ok_or_else(|| AuthzError::Page("The request has no client_id.".into()))?;
    let client = if metadata_document::is_document_url(client_id) {
        match app.metadata_client(client_id).await {
            Ok(entry) => entry,
            Err(MetadataError::Refused(why)) => {
                return Err(AuthzError::Page(format!(
                    "The application's client ID metadata document cannot be used: {why}."
                )))
            }
            Err(MetadataError::Store(e)) => return Err(e.into()),
        }
    } else {
        let client = app.client(client_id).await?.filter(|c| !c.client.disabled);
        client.ok_or_else(|| AuthzError::Page("The application is unknown or disabled.".into()))?
    };
    let registered: Vec<&str> = client.client.redirect_uris.split(' ').filter(|s| !s.is_empty()).collect();
    let (redirect_uri, given) = match form.get("redirect_uri") {
        Some(given) if redirect_uri::matches(registered.iter().copied(), given) => (given.to_string(), true),
        Some(_) => return Err(AuthzError::Page("The redirect_uri is not registered for this application.".into())),
        None if registered.len() == 1 => (registered[0].to_string(), false),
        None => {
            return Err(AuthzError::Page("The request has no redirect_uri, and the application has several.".into()))
        }
    };
    Ok((client, redirect_uri, given))
}

/// RFC 7636 with S256 only (RFC 9700 §2.1.1). Required for public clients, for clients
/// registered with `--require-pkce`, and for every client with `pkce_required = "all"`.
fn pkce_challenge(app: &AppState, client: &ClientEntry, form: &Form) -> Result<Option<String>, &'static str> {
    let required =
        client.client.public || client.client.require_pkce || app.settings.pkce_required == PkceRequired::All;
    match (form.get("code_challenge"), form.get("code_challenge_method")) {
        (Some(_), Some("plain")) | (Some(_), None) => Err("code_challenge_method must be S256 (plain is not allowed)"),
        (Some(_), Some(m)) if m != "S256" => Err("code_challenge_method must be S256"),
        (Some(c), Some(_)) if !pkce::is_valid_challenge(c) => {
            Err("code_challenge must be a base64url SHA-256 (43 characters)")
        }
        (Some(c), Some(_)) => Ok(Some(c.to_string())),
        (None, Some(_)) => Err("code_challenge_method given without code_challenge"),
        (None, None) if required => Err("code_challenge (PKCE, S256) is required"),
        (None, None) => Ok(None),
    }
}

fn parse_max_age(v: Option<&str>) -> Result<Option<i64>, &'static str> {
    v.map(|v| v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or("max_age must be a non-negative integer")).transpose()
}

fn parse_prompt(p: Option<&str>) -> Result<Prompt, &'static str> {
    let mut out = Prompt::default();
    for v in p.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        match v {
            "none" => out.none = true,
            "login" => out.login = true,
            "consent" => out.consent = true,
            "select_account" => {}
            _ => return Err("unsupported prompt value"),
        }
    }
    if out.none && (out.login || out.consent) {
        return Err("prompt=none cannot be combined with other values");
    }
    Ok(out)
}

/// The response parameters with `state` and `iss` (RFC 9207 §2).
pub fn response_pairs(issuer: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    out.extend(state.map(|s| ("state".to_string(), s.to_string())));
    out.push(("iss".into(), issuer.into()));
    out
}

/// `redirect_uri` with the response parameters, `state` and `iss` appended.
pub fn response_uri(redirect_uri: &str, issuer: &str, pairs: &[(&str, &str)], state: Option<&str>) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in response_pairs(issuer, pairs, state) {
        ser.append_pair(&k, &v);
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{}", ser.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_carried_parameter_is_known() {
        assert!(CARRIED.iter().all(|c| AUTHORIZE_KNOWN.contains(c)));
    }
}
