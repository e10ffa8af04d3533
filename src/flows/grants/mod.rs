//! The token endpoint's grants (RFC 6749 §4, §6): dispatch on `grant_type`, shared issuance.

mod authorization_code;
mod client_credentials;
pub mod issue;
pub mod jwt_bearer;
mod password;
mod refresh_token;

use std::net::IpAddr;

use axum::http::HeaderMap;
use serde::Serialize;

use crate::config::Settings;
use crate::flows::client_auth::{identify, AuthedClient};
use crate::oauth::{scope, Form, TokenError};
use crate::state::{AppState, ClientEntry};

pub use issue::{issue, Refresh, Subject};

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Everything a grant handler needs about the request.
pub struct Ctx<'a> {
    pub app: &'a AppState,
    pub client: AuthedClient,
    pub form: &'a Form,
    pub now: i64,
    pub ip: IpAddr,
}

/// The `grant_type` values `/token` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    Password,
    RefreshToken,
    JwtBearer,
    DeviceCode,
}

impl GrantType {
    pub const ALL: [GrantType; 6] = [
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::JwtBearer,
        GrantType::DeviceCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::JwtBearer => jwt_bearer::GRANT_TYPE,
            GrantType::DeviceCode => crate::oauth::device::GRANT_TYPE,
        }
    }

    pub fn parse(s: &str) -> Option<GrantType> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

pub async fn dispatch(
    app: &AppState,
    headers: &HeaderMap,
    form: &Form,
    ip: IpAddr,
) -> Result<TokenResponse, TokenError> {
    let raw = form.require("grant_type")?;
    let grant = GrantType::parse(raw)
        .ok_or_else(|| TokenError::UnsupportedGrantType(format!("grant_type '{raw}' is not supported").into()))?;
    let now = crate::clock::now();
    let client = match identify(app, headers, form).await? {
        Some(c) => c,
        // RFC 7523 §3.1: client authentication is optional for jwt-bearer; the issuer decides.
        None if grant == GrantType::JwtBearer => return jwt_bearer::handle(app, None, form, ip, now).await,
        None => return Err(TokenError::client("client authentication required")),
    };
    app.limits.check_client(client.id())?;
    if !client.entry.client.allows_grant(grant.as_str()) {
        return Err(TokenError::unauthorized(format!("client is not allowed the {raw} grant")));
    }
    let ctx = Ctx { app, client, form, now, ip };
    match grant {
        GrantType::ClientCredentials => client_credentials::handle(&ctx).await,
        GrantType::Password => password::handle(&ctx).await,
        GrantType::AuthorizationCode => authorization_code::handle(&ctx).await,
        GrantType::RefreshToken => refresh_token::handle(&ctx).await,
        GrantType::JwtBearer => jwt_bearer::handle(app, Some(ctx.client), form, ip, now).await,
        GrantType::DeviceCode => crate::flows::device::poll::handle(&ctx).await,
    }
}

/// Picks the audience (`audience`, or RFC 8707 `resource`, or `default_audience`) and the scope
/// within what the client was granted on it. User flows may add the OIDC scopes.
pub fn target_and_scope(ctx: &Ctx<'_>, user_flow: bool) -> Result<(String, String), TokenError> {
    resolve_target(&ctx.app.settings, &ctx.client.entry, ctx.form, user_flow)
}

pub fn resolve_target(
    settings: &Settings,
    entry: &ClientEntry,
    form: &Form,
    user_flow: bool,
) -> Result<(String, String), TokenError> {
    let oidc: &[&str] = if user_flow { &scope::OIDC_SCOPES } else { &[] };
    let default_applies = settings.default_audience().is_some_and(|a| entry.grant_for(a).is_some());
    let openid = form.get("scope").is_some_and(|s| scope::contains(s, "openid"));
    if user_flow && openid && !default_applies && requested_audience(form)?.is_none() {
        return identity_only(settings, entry, form);
    }
    resolve_target_or(settings, entry, form, oidc, None)
}

/// A login that names no API (OIDC Core §3.1.2.1, as Auth0 does it): the access token is for
/// the userinfo endpoint and carries only OIDC scopes.
fn identity_only(settings: &Settings, entry: &ClientEntry, form: &Form) -> Result<(String, String), TokenError> {
    let granted = scope::narrow(form.get("scope"), &scope::OIDC_SCOPES).map_err(|e| {
        TokenError::scope(format!(
            "{e}: without audience or resource only OpenID Connect scopes can be granted; name the API the other scopes belong to"
        ))
    })?;
    let granted =
        if entry.client.allows_grant("refresh_token") { granted } else { scope::without(&granted, "offline_access") };
    Ok((settings.userinfo_endpoint(), granted))
}

/// The audience the request names with `audience` or RFC 8707 `resource`, if any.
pub fn requested_audience(form: &Form) -> Result<Option<&str>, TokenError> {
    match (form.get("audience"), form.get("resource")) {
        (Some(a), Some(r)) if a != r => Err(TokenError::target("audience and resource differ")),
        (Some(a), _) | (None, Some(a)) => Ok(Some(a)),
        (None, None) => Ok(None),
    }
}

/// As `resolve_target`, with the OIDC scopes this flow may add listed in `oidc`, and `fallback`
/// tried before `default_audience`.
pub fn resolve_target_or(
    settings: &Settings,
    entry: &ClientEntry,
    form: &Form,
    oidc: &[&str],
    fallback: Option<&str>,
) -> Result<(String, String), TokenError> {
    let aud = match requested_audience(form)? {
        Some(a) => a,
        None => fallback.or(settings.default_audience()).ok_or_else(|| {
            TokenError::target("no audience or resource given, and no default_audience is configured")
        })?,
    };
    let grant = entry
        .grant_for(aud)
        .ok_or_else(|| TokenError::target(format!("audience '{aud}' is unknown or not granted to this client")))?;
    let mut allowed: Vec<&str> = grant.scopes.split(' ').filter(|s| !s.is_empty()).collect();
    let requested = form.get("scope");
    allowed.extend(oidc);
    let mut granted = scope::narrow(requested, &allowed).map_err(TokenError::scope)?;
    if requested.is_none() && !oidc.is_empty() {
        // With no scope requested, user flows get the API's scopes but no OIDC scopes.
        granted = granted.split(' ').filter(|s| !scope::OIDC_SCOPES.contains(s)).collect::<Vec<_>>().join(" ");
    }
    if !entry.client.allows_grant("refresh_token") {
        // No refresh token will follow, so the scope must not claim offline access.
        granted = scope::without(&granted, "offline_access");
    }
    Ok((aud.to_string(), granted))
}
