//! Pushed authorization requests, RFC 9126: the push (§2), checked up front exactly as
//! /authorize checks a request, and its use at /authorize by `client_id` and `request_uri` (§4).
//!
//! One-time use (§4): a pushed request yields one authorization response with a code. It is
//! read, not consumed, while the user logs in and consents (the pages carry only `client_id`
//! and `request_uri`, so nothing of the request reaches the front channel), and consumed in one
//! statement when the code is issued: of two browsers racing with one `request_uri`, one gets
//! a code. `pushed_request_ttl` bounds how soon the `request_uri` must reach /authorize; a login
//! and consent begun in time may take up to `INTERACTION_SECS` after the push.

use axum::http::HeaderMap;

use super::request::{check, AuthzError, AuthzRequest, Source, AUTHORIZE_KNOWN};
use crate::clock::{later, now};
use crate::flows::client_auth;
use crate::oauth::params::{self, Params};
use crate::oauth::{secret, Form, TokenError};
use crate::state::AppState;
use crate::store::{PushedRequest, StoreError};

/// RFC 9126 §2.2: the `request_uri` is a URN of this form, with 256 random bits.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long after the push a login and consent that reached /authorize in time may finish.
const INTERACTION_SECS: i64 = 900;

/// The PAR endpoint's answer (§2.2).
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: u64,
}

/// PAR endpoint errors, RFC 9126 §2.3.
pub enum ParError {
    /// Client authentication, the body, limits and storage: as at the token endpoint (RFC 6749 §5.2).
    Token(TokenError),
    /// What /authorize would report about the request (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6),
    /// answered as JSON with 400 rather than by redirect.
    Request { error: &'static str, description: String },
}

impl From<TokenError> for ParError {
    fn from(e: TokenError) -> Self {
        ParError::Token(e)
    }
}

impl From<AuthzError> for ParError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Page(description) => ParError::Request { error: "invalid_request", description },
            AuthzError::Redirect { error, description, .. } => ParError::Request { error, description },
            AuthzError::Unavailable => ParError::Token(TokenError::TemporarilyUnavailable),
        }
    }
}

/// `POST /par`: authenticates the client, checks the request as /authorize would, stores it.
pub async fn push(app: &AppState, headers: &HeaderMap, body: &[u8], form: &Form) -> Result<Pushed, ParError> {
    let client = client_auth::authenticate(app, headers, form).await?;
    if form.get("request_uri").is_some() {
        let description = "request_uri must not be pushed (RFC 9126 §2.1)".into();
        return Err(ParError::Request { error: "invalid_request", description });
    }
    // The authenticated client is the request's client; a client_id in the body was matched
    // against it by the authentication.
    let mut raw = body.to_vec();
    if form.get("client_id").is_none() {
        let pair = url::form_urlencoded::Serializer::new(String::new()).append_pair("client_id", client.id()).finish();
        raw.extend_from_slice(format!("&{pair}").as_bytes());
    }
    let p = params::parse(&raw, &AUTHORIZE_KNOWN)
        .map_err(|d| ParError::Request { error: "invalid_request", description: d.into() })?;
    let areq = check(app, &p, true, Source::Pushing).await?;
    let token = secret::random_token(32);
    let (t, ttl) = (now(), app.settings.pushed_request_ttl);
    let rec = PushedRequest {
        hash: secret::digest(&token),
        client_id: client.id().to_string(),
        params: stored_params(&areq),
        created_at: t,
        expires_at: later(t, ttl),
    };
    app.store.insert_pushed_request(&rec).await.map_err(TokenError::from)?;
    Ok(Pushed { request_uri: format!("{REQUEST_URI_PREFIX}{token}"), expires_in: ttl })
}

/// The request's parameters as stored: those the forms carry, and `login_hint`.
fn stored_params(areq: &AuthzRequest) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    out.extend_pairs(&areq.params);
    if let Some(hint) = &areq.login_hint {
        out.append_pair("login_hint", hint);
    }
    out.finish()
}

/// A pushed request in use: what consuming it and judging a login against it need.
#[derive(Clone, Debug)]
pub struct PushedRef {
    pub hash: String,
    pub created_at: i64,
}

/// Where a pushed request is being used, which decides what its lifetime allows.
#[derive(Clone, Copy, Debug)]
pub enum Via {
    /// /authorize, with the browser's session's `auth_time`: the client sent the browser (within
    /// `pushed_request_ttl`), or the login sent it back (a login after the push).
    Authorize { auth_time: Option<i64> },
    /// The login or consent form, posted from a page the request rendered.
    Form,
}

/// The parameters of the pushed request `request_uri` names, if `client_id` pushed it and it may
/// still be used `via`. They replace the front channel's parameters entirely (§4).
pub async fn load(app: &AppState, p: &Params, via: Via) -> Result<(Params, PushedRef), AuthzError> {
    if let Some(problem) = p.problem_with(&["client_id", "request_uri"]) {
        return Err(AuthzError::Page(format!("The request is malformed: {problem}.")));
    }
    let client_id = p.form.get("client_id").ok_or_else(|| AuthzError::Page("The request has no client_id.".into()))?;
    let gone = || {
        AuthzError::Page(
            "The request_uri is unknown, expired or already used. Go back to the application and try again.".into(),
        )
    };
    let token = p.form.get("request_uri").and_then(|u| u.strip_prefix(REQUEST_URI_PREFIX)).ok_or_else(gone)?;
    let hash = secret::digest(token);
    let stored = app.store.get_pushed_request(&hash, client_id).await?.ok_or_else(gone)?;
    let t = now();
    let begun = t < stored.created_at.saturating_add(INTERACTION_SECS);
    let usable = match via {
        // Whole seconds: a login in the second of the push counts as after it, or the redirect
        // back from a fast login would find the request expired or ask for the login again.
        Via::Authorize { auth_time } => {
            t < stored.expires_at || (begun && auth_time.is_some_and(|a| a >= stored.created_at))
        }
        Via::Form => begun,
    };
    if !usable {
        return Err(gone());
    }
    let params =
        params::parse(stored.params.as_bytes(), &AUTHORIZE_KNOWN).map_err(|m| AuthzError::Page(m.to_string()))?;
    Ok((params, PushedRef { hash, created_at: stored.created_at }))
}

/// Consumes the pushed request as its code is issued: `false` when a racer got there first.
pub async fn take(app: &AppState, pushed: &PushedRef, client_id: &str) -> Result<bool, StoreError> {
    app.store.take_pushed_request(&pushed.hash, client_id).await
}
