//! Dynamic client registration, RFC 7591 §3, and its management protocol, RFC 7592 §2: read,
//! update and delete with the registration access token. Registered clients have origin
//! `registered`, always need PKCE, and get API scopes only by user consent.

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::clock::now;
use crate::config::RegistrationPolicy;
use crate::oauth::client_metadata::{self, EndpointAuth, Metadata, RegistrationError};
use crate::oauth::secret;
use crate::state::AppState;
use crate::store::{AuthMethod, Client, ClientOrigin, InitialToken, Registration};

fn meta(d: impl Into<String>) -> RegistrationError {
    RegistrationError::InvalidClientMetadata(d.into())
}

const BAD_ACCESS_TOKEN: &str = "the registration access token is invalid";

/// Whether `ip` may register now: the policy is not `off` and the address is under its limit.
/// Checked before the body is read.
pub fn admit(app: &AppState, ip: IpAddr) -> Result<(), RegistrationError> {
    if app.settings.registration == RegistrationPolicy::Off {
        return Err(RegistrationError::Disabled);
    }
    app.registrations.check_ip(ip).map_err(|retry_after| RegistrationError::TooManyRequests { retry_after })
}

/// RFC 7591 §3.1: registers the client `body` describes (after `admit`). `token` is the bearer
/// token of the request, an initial access token: required by policy `token`, and the only way
/// to get `client_credentials`. Returns the §3.2.1 client information response.
pub async fn register(app: &AppState, token: Option<&str>, body: &[u8]) -> Result<Value, RegistrationError> {
    let now = now();
    let initial = initial_token(app, token, now).await?;
    let body: Value = serde_json::from_slice(body).map_err(|_| meta("the request body is not valid JSON"))?;
    let md = client_metadata::parse(&body, initial.is_some())?;
    let id = secret::random_token(16).replace(['-', '_'], "x");
    let plain_secret = (md.auth != EndpointAuth::None).then(|| secret::random_token(32));
    let access_token = secret::random_token(32);
    let client = client_row(&id, &md, plain_secret.as_deref().map(secret::digest), now);
    let registration = Registration {
        client_id: id.clone(),
        token_hash: secret::digest(&access_token),
        metadata: Value::Object(md.to_json()).to_string(),
        initial_token: initial.as_ref().map(|t| t.id.clone()),
        created_at: now,
        updated_at: now,
        used_at: None,
    };
    let consumed = initial.as_ref().map(|t| t.hash.as_str());
    if !app.store.register_client(&client, &registration, consumed).await? {
        // A concurrent registration took the token's last use.
        return Err(RegistrationError::InvalidToken("the initial access token is expired or used up"));
    }
    tracing::info!(
        event = "client_registered",
        client_id = %id,
        public = client.public,
        initial_token = registration.initial_token.as_deref().unwrap_or(""),
        "dynamic client registration"
    );
    Ok(information(app, &client, &md, plain_secret.as_deref(), &access_token))
}

/// The live initial access token the request presents, if any; `token` policy requires one.
async fn initial_token(
    app: &AppState,
    token: Option<&str>,
    now: i64,
) -> Result<Option<InitialToken>, RegistrationError> {
    let Some(token) = token else {
        return match app.settings.registration {
            RegistrationPolicy::Token => Err(RegistrationError::MissingToken("an initial access token is required")),
            _ => Ok(None),
        };
    };
    // A wrong token is refused even where none is needed: a bad credential is never ignored.
    match app.store.find_initial_token(&secret::digest(token), now).await? {
        Some(t) => Ok(Some(t)),
        None => Err(RegistrationError::InvalidToken("the initial access token is invalid, expired or used up")),
    }
}

/// RFC 7592 §2.1: the client's current registration.
pub async fn read(app: &AppState, client_id: &str, token: Option<&str>) -> Result<Value, RegistrationError> {
    let (client, _, md, token) = authorized(app, client_id, token).await?;
    Ok(information(app, &client, &md, None, token))
}

/// RFC 7592 §2.2: replaces the client's metadata with `body`, which names the client and, if it
/// carries `client_secret`, the current secret. The secret and the access token stay as they are.
pub async fn update(
    app: &AppState,
    client_id: &str,
    token: Option<&str>,
    body: &[u8],
) -> Result<Value, RegistrationError> {
    let (client, registration, old, token) = authorized(app, client_id, token).await?;
    let body: Value = serde_json::from_slice(body).map_err(|_| meta("the request body is not valid JSON"))?;
    if body.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(meta("client_id is required and must be the client's own"));
    }
    if let Some(s) = body.get("client_secret") {
        let matches = s.as_str().zip(client.secret_hash.as_deref()).is_some_and(|(s, h)| secret::verify(s, h));
        if !matches {
            return Err(meta("client_secret does not match the client's current secret"));
        }
    }
    let md = client_metadata::parse(&body, registration.initial_token.is_some())?;
    if (md.auth == EndpointAuth::None) != (old.auth == EndpointAuth::None) {
        return Err(meta(
            "token_endpoint_auth_method cannot change between none and a client secret; register a new client",
        ));
    }
    let now = now();
    let row = client_row(client_id, &md, client.secret_hash.clone(), client.created_at);
    let replaced = Client { updated_at: now, disabled: client.disabled, ..row };
    if !app.store.update_registration(&replaced, &Value::Object(md.to_json()).to_string(), now).await? {
        return Err(RegistrationError::InvalidToken(BAD_ACCESS_TOKEN));
    }
    Ok(information(app, &replaced, &md, None, token))
}

/// RFC 7592 §2.3: deletes the client, revoking its refresh tokens first.
pub async fn delete(app: &AppState, client_id: &str, token: Option<&str>) -> Result<(), RegistrationError> {
    authorized(app, client_id, token).await?;
    app.store.revoke_client_refresh_tokens(client_id, now()).await?;
    app.store.delete_client(client_id).await?;
    tracing::info!(event = "client_unregistered", client_id = %client_id, "dynamic client registration deleted");
    Ok(())
}

/// The registered client `token` is the registration access token of. An unknown client and a
/// wrong token get the same 401 (RFC 7592 §2.1).
async fn authorized<'t>(
    app: &AppState,
    client_id: &str,
    token: Option<&'t str>,
) -> Result<(Client, Registration, Metadata, &'t str), RegistrationError> {
    let token = token.ok_or(RegistrationError::MissingToken("the registration access token is required"))?;
    let Some(registration) = app.store.get_registration(client_id).await? else {
        return Err(RegistrationError::InvalidToken(BAD_ACCESS_TOKEN));
    };
    if !secret::verify(token, &registration.token_hash) {
        return Err(RegistrationError::InvalidToken(BAD_ACCESS_TOKEN));
    }
    let client = app.store.get_client(client_id).await?.ok_or(RegistrationError::InvalidToken(BAD_ACCESS_TOKEN))?;
    // What was stored passed these rules when it was registered.
    let stored: Value = serde_json::from_str(&registration.metadata)
        .map_err(|e| RegistrationError::Internal(anyhow::anyhow!("stored registration metadata: {e}")))?;
    let md = client_metadata::parse(&stored, true)
        .map_err(|e| RegistrationError::Internal(anyhow::anyhow!("stored registration metadata: {e}")))?;
    Ok((client, registration, md, token))
}

/// The client row of a registration.
fn client_row(id: &str, md: &Metadata, secret_hash: Option<String>, created_at: i64) -> Client {
    let public = md.auth == EndpointAuth::None;
    Client {
        id: id.to_string(),
        name: md.client_name().unwrap_or(id).to_string(),
        secret_hash,
        public,
        grant_types: md.grant_types.join(" "),
        redirect_uris: md.redirect_uris.join(" "),
        allowed_origins: if public { web_origins(md) } else { String::new() },
        first_party: false,
        disabled: false,
        created_at,
        updated_at: created_at,
        post_logout_redirect_uris: String::new(),
        auth_method: AuthMethod::ClientSecret,
        jwks_uri: None,
        jwks_json: None,
        // RFC 9700 §2.1.1, and the MCP authorization spec: PKCE for every registered client.
        require_pkce: true,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        origin: ClientOrigin::Registered,
        dpop_bound_access_tokens: false,
        require_dpop_nonce: false,
        require_pushed_authorization_requests: false,
    }
}

/// A public web client runs in a browser at its redirect URIs' origins: it calls /token from there.
fn web_origins(md: &Metadata) -> String {
    if md.application_type != client_metadata::ApplicationType::Web {
        return String::new();
    }
    let mut origins: Vec<String> = md
        .redirect_uris
        .iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    origins.sort();
    origins.dedup();
    origins.join(" ")
}

/// The client information response, RFC 7591 §3.2.1 with RFC 7592 §3's two fields. The secret
/// only at registration: oauthd keeps its hash alone.
fn information(app: &AppState, c: &Client, md: &Metadata, secret: Option<&str>, access_token: &str) -> Value {
    let mut m = md.to_json();
    m.insert("client_id".into(), json!(c.id));
    m.insert("client_id_issued_at".into(), json!(c.created_at));
    if !c.public {
        if let Some(s) = secret {
            m.insert("client_secret".into(), json!(s));
        }
        m.insert("client_secret_expires_at".into(), json!(0));
    }
    m.insert("registration_access_token".into(), json!(access_token));
    m.insert("registration_client_uri".into(), json!(client_uri(app, &c.id)));
    Value::Object(m)
}

pub fn client_uri(app: &AppState, client_id: &str) -> String {
    format!("{}/{client_id}", app.settings.registration_endpoint())
}

/// Records a registered client's first successful token request, with one write per client
/// and process: cleanup spares it from then on. A failure is logged, never the caller's problem.
pub async fn note_use(app: &AppState, c: &Client) {
    if c.origin != ClientOrigin::Registered || app.registrations.known_used(&c.id) {
        return;
    }
    match app.store.mark_registration_used(&c.id, now()).await {
        Ok(()) => app.registrations.remember_used(&c.id).await,
        Err(e) => {
            tracing::warn!(error = %e, client_id = %c.id, "could not record the first use of a registered client")
        }
    }
}
