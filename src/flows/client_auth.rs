//! Client authentication at the token endpoint: `client_secret_basic`, `client_secret_post`
//! (RFC 6749 §2.3.1), `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9), and public clients
//! identified by `client_id` alone (§3.2.1), which may be the URL of a client ID metadata document
//! (draft-ietf-oauth-client-id-metadata-document §5).

use std::sync::Arc;

use axum::http::HeaderMap;

use crate::jwt::assertion::{self, ClaimRules};
use crate::oauth::form::{basic_credentials, Form};
use crate::oauth::TokenError;
use crate::oauth::{metadata_document, secret, subject};
use crate::state::cimd::MetadataError;
use crate::state::{AppState, ClientEntry};
use crate::store::AuthMethod;

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Client assertions are meant to be minted per request; an hour bounds their lifetime.
const CLIENT_ASSERTION_MAX_AGE: i64 = 3600;

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

/// Authenticates the client; a request that names no client at all is `invalid_client`.
pub async fn authenticate(app: &AppState, headers: &HeaderMap, form: &Form) -> Result<AuthedClient, TokenError> {
    identify(app, headers, form).await?.ok_or_else(|| TokenError::client("client authentication required"))
}

/// Like `authenticate`, but `None` when the request carries no client identification at all.
pub async fn identify(app: &AppState, headers: &HeaderMap, form: &Form) -> Result<Option<AuthedClient>, TokenError> {
    let basic = basic_credentials(headers)?;
    let post_secret = form.get("client_secret");
    let client_assertion = form.get("client_assertion");
    if client_assertion.is_some() || form.get("client_assertion_type").is_some() {
        if basic.is_some() || post_secret.is_some() {
            return Err(TokenError::request("use exactly one client authentication method"));
        }
        if form.get("client_assertion_type") != Some(CLIENT_ASSERTION_TYPE) {
            return Err(TokenError::request(format!("client_assertion_type must be {CLIENT_ASSERTION_TYPE}")));
        }
        let a = client_assertion.ok_or_else(|| TokenError::request("missing parameter: client_assertion"))?;
        return private_key_jwt(app, form, a).await.map(Some);
    }
    let (id, presented) = match (&basic, form.get("client_id")) {
        (Some(_), _) if post_secret.is_some() => {
            return Err(TokenError::request("use exactly one client authentication method"));
        }
        (Some((id, _)), Some(form_id)) if form_id != id => {
            return Err(TokenError::request("client_id does not match the authenticated client"));
        }
        (Some((id, s)), _) => (id.as_str(), Some(s.as_str()).filter(|s| !s.is_empty())),
        (None, Some(id)) => (id, post_secret),
        (None, None) => return Ok(None),
    };
    let fail = || TokenError::client("client authentication failed");
    let entry = find(app, id).await?.ok_or_else(fail)?;
    let c = &entry.client;
    if c.disabled {
        return Err(fail());
    }
    let authenticated = match (c.public, presented, &c.secret_hash) {
        (true, None, _) => false,
        (false, Some(s), Some(hash)) if secret::verify(s, hash) => true,
        _ => return Err(fail()),
    };
    Ok(Some(AuthedClient { entry, authenticated }))
}

/// The client `id` names: a registered one, or the one its client ID metadata document describes.
async fn find(app: &AppState, id: &str) -> Result<Option<Arc<ClientEntry>>, TokenError> {
    if metadata_document::is_document_url(id) {
        return match app.metadata_client(id).await {
            Ok(entry) => Ok(Some(entry)),
            Err(MetadataError::Refused(why)) => Err(TokenError::client(format!("client metadata document: {why}"))),
            Err(MetadataError::Store(e)) => Err(e.into()),
        };
    }
    // An id no client can have is refused without a database round trip.
    if !subject::is_valid_client_id(id) {
        return Ok(None);
    }
    Ok(app.client(id).await?)
}

async fn private_key_jwt(app: &AppState, form: &Form, token: &str) -> Result<AuthedClient, TokenError> {
    let fail = |d: String| TokenError::client(format!("client assertion: {d}"));
    let parsed = assertion::parse(token).map_err(fail)?;
    assertion::check_header(&parsed.header).map_err(fail)?;
    let c = &parsed.claims;
    let (iss, sub) = (c["iss"].as_str().unwrap_or(""), c["sub"].as_str().unwrap_or(""));
    if iss.is_empty() || iss != sub {
        return Err(fail("iss and sub must both be the client_id".into()));
    }
    if form.get("client_id").is_some_and(|id| id != iss) {
        return Err(fail("client_id does not match iss".into()));
    }
    let entry = find(app, iss).await?.filter(|e| !e.client.disabled);
    let entry = entry.ok_or_else(|| fail("unknown or disabled client".into()))?;
    if entry.client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err(fail("the client is not registered for private_key_jwt".into()));
    }
    let keys = client_keys(app, &entry, parsed.header["kid"].as_str()).await?;
    assertion::verify_signature(token, &parsed.header, &keys).map_err(fail)?;
    let settings = &app.settings;
    let token_endpoint = settings.token_endpoint();
    let now = crate::clock::now();
    let rules = ClaimRules::ours(
        [&settings.issuer, &token_endpoint],
        settings.jwt_clock_skew,
        now,
        CLIENT_ASSERTION_MAX_AGE,
        true,
    );
    assertion::check_claims(c, &rules).map_err(fail)?;
    let jti = c["jti"].as_str().unwrap_or_default();
    let exp = (c["exp"].as_f64().unwrap_or(0.0) as i64).saturating_add(rules.skew);
    if !app.store.use_jti(&format!("client:{iss}"), jti, exp).await? {
        return Err(fail("jti was already used".into()));
    }
    Ok(AuthedClient { entry, authenticated: true })
}

async fn client_keys(
    app: &AppState,
    entry: &ClientEntry,
    kid: Option<&str>,
) -> Result<Arc<jsonwebtoken::jwk::JwkSet>, TokenError> {
    match (&entry.client.jwks_json, &entry.client.jwks_uri) {
        // A bad stored set is the client's registration problem, not a server error.
        (Some(json), _) => crate::jwt::jwk_set::parse(json.as_bytes())
            .map(|(set, _)| Arc::new(set))
            .map_err(|e| TokenError::client(format!("client assertion: the client's key set is invalid: {e}"))),
        (None, Some(uri)) => {
            app.jwks.get(uri, kid).await.map_err(|e| TokenError::Unavailable(format!("client key set: {e}").into()))
        }
        (None, None) => Err(TokenError::client("the client has no keys")),
    }
}
