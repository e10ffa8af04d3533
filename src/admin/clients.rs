//! Client registration (RFC 6749 §2): confidential clients get a generated 256-bit secret,
//! shown once and stored as SHA-256.

use serde_json::{json, Value};

use super::{split, AdminError, GRANT_TYPES};
use crate::jwt::jwk_set;
use crate::jwt::remote_jwks::check_url;
use crate::oauth::{redirect_uri, secret, subject};
use crate::store::{AuthMethod, Client, ClientOrigin, Store};

/// A client to register; also the flags of `oauthd client create` and the body of
/// `POST /admin/v1/clients`, so the doc comments are its help.
#[derive(Debug, Default, Clone, clap::Args, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewClient {
    /// The client's display name.
    #[arg(long)]
    pub name: String,
    /// A grant type the client may use (repeatable; default client_credentials, or authorization_code with --public).
    #[arg(long = "grant")]
    #[serde(rename = "grant_types")]
    pub grants: Vec<String>,
    /// Scopes to grant on --api (or on the default audience).
    #[arg(long)]
    pub scope: Option<String>,
    /// The API to grant --scope on; it is created with those scopes if missing.
    #[arg(long)]
    pub api: Option<String>,
    /// A public client (SPA, native app): no secret, token_endpoint_auth_method=none.
    #[arg(long)]
    pub public: bool,
    /// The client_id to register (default: a random one).
    #[arg(long)]
    #[serde(rename = "client_id")]
    pub id: Option<String>,
    /// A registered redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A browser origin allowed to call /token and /userinfo (CORS; repeatable).
    #[arg(long = "allowed-origin")]
    pub allowed_origins: Vec<String>,
    /// Where /logout may send the browser afterwards (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A first-party client: users are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    /// `private_key_jwt` to authenticate with signed JWTs instead of a secret.
    #[arg(long, default_value = "")]
    #[serde(rename = "token_endpoint_auth_method")]
    pub auth_method: String,
    /// The client's public keys, for private_key_jwt.
    #[arg(long)]
    pub jwks_uri: Option<String>,
    /// The client's key set itself, for private_key_jwt (the CLI reads it from `--jwks-file`).
    #[arg(skip)]
    #[serde(rename = "jwks", deserialize_with = "json_text")]
    pub jwks_json: Option<String>,
    /// Accept a plain-http `jwks_uri` on loopback (the `allow_http_loopback_jwks` setting).
    #[arg(skip)]
    #[serde(skip)]
    pub allow_http_loopback_jwks: bool,
    /// Require PKCE (S256) from this confidential client too (public clients always need it).
    #[arg(long)]
    pub require_pkce: bool,
    /// OIDC Back-Channel Logout: the https URL logout tokens are POSTed to when a user's session ends.
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (oauthd always sends it).
    #[arg(long)]
    pub backchannel_logout_session_required: bool,
    /// Accept an http or loopback `--backchannel-logout-uri` (the `allow_http_loopback_backchannel` setting).
    #[arg(skip)]
    #[serde(skip)]
    pub allow_http_loopback_backchannel: bool,
}

/// A JSON value given as such (a key set object) kept as its text.
fn json_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<Value> = serde::Deserialize::deserialize(d)?;
    Ok(v.map(|v| v.to_string()))
}

/// Creates the client and returns it with its one-time secret. Everything is checked before
/// anything is stored, so a refused request leaves no client whose secret nobody saw.
pub async fn create(
    store: &dyn Store,
    req: NewClient,
    default_audience: Option<&str>,
    now: i64,
) -> anyhow::Result<(Client, Option<String>)> {
    let (id, grants, key_auth) = check(&req)?;
    // A trusted issuer's alias stands in as client_id in tokens minted without client auth.
    if store.list_issuers().await?.iter().any(|i| i.alias == id) {
        anyhow::bail!("--id {id} is the alias of a trusted issuer; pick another id");
    }
    let api_grant = match &req.scope {
        Some(scope) => Some(check_grant(store, req.api.as_deref().or(default_audience), scope).await?),
        None => None,
    };
    let plain = (!req.public && !key_auth).then(|| secret::random_token(32));
    let client = Client {
        id: id.clone(),
        name: req.name.clone(),
        secret_hash: plain.as_deref().map(secret::digest),
        public: req.public,
        grant_types: grants.join(" "),
        redirect_uris: req.redirect_uris.join(" "),
        allowed_origins: req.allowed_origins.join(" "),
        first_party: req.first_party,
        disabled: false,
        created_at: now,
        updated_at: now,
        post_logout_redirect_uris: req.post_logout_redirect_uris.join(" "),
        auth_method: if key_auth { AuthMethod::PrivateKeyJwt } else { AuthMethod::ClientSecret },
        jwks_uri: req.jwks_uri.clone(),
        jwks_json: req.jwks_json.clone(),
        require_pkce: req.require_pkce,
        backchannel_logout_uri: req.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: req.backchannel_logout_session_required,
        origin: ClientOrigin::Operator,
    };
    store.insert_client(&client).await.map_err(|e| match e {
        crate::store::StoreError::Conflict => {
            AdminError::Conflict(format!("a client with id {id} already exists")).into()
        }
        e => anyhow::Error::from(e),
    })?;
    if let Some((api, scope, exists)) = api_grant {
        let granted = async {
            if !exists {
                super::create_api(store, api, None, scope, now).await?;
            }
            super::grant(store, &id, api, scope).await
        };
        // Only the database can fail here; take the client back rather than leave it half made.
        if let Err(e) = granted.await {
            let _ = store.delete_client(&id).await;
            return Err(e);
        }
    }
    Ok((client, plain))
}

/// What can be checked without the database: the id, the grant types (with their default), the
/// URIs, and whether the client authenticates with keys.
pub(super) fn check(req: &NewClient) -> anyhow::Result<(String, Vec<String>, bool)> {
    if req.name.trim().is_empty() || req.name.len() > 256 {
        anyhow::bail!("--name must be 1 to 256 characters");
    }
    let id = req.id.clone().unwrap_or_else(|| secret::random_token(16).replace(['-', '_'], "x"));
    if !subject::is_valid_client_id(&id) {
        anyhow::bail!("--id must be 1-128 characters of A-Z a-z 0-9 . _ ~ -");
    }
    let mut grants = req.grants.clone();
    if grants.is_empty() {
        grants.push(if req.public { "authorization_code" } else { "client_credentials" }.into());
    }
    if let Some(bad) = grants.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
        anyhow::bail!("unknown grant type {bad}; known: {}", GRANT_TYPES.join(", "));
    }
    if req.public && grants.iter().any(|g| g == "client_credentials") {
        anyhow::bail!("a public client cannot use client_credentials");
    }
    for uri in req.redirect_uris.iter().chain(&req.post_logout_redirect_uris) {
        redirect_uri::validate(uri).map_err(|e| anyhow::anyhow!("invalid redirect URI {e}"))?;
    }
    for origin in &req.allowed_origins {
        validate_origin(origin)?;
    }
    let key_auth = match req.auth_method.as_str() {
        "" | "client_secret_basic" | "client_secret_post" => false,
        "none" if req.public => false,
        "private_key_jwt" if req.public => anyhow::bail!("a public client cannot use private_key_jwt"),
        "private_key_jwt" if req.jwks_uri.is_some() == req.jwks_json.is_some() => {
            anyhow::bail!("private_key_jwt needs exactly one of --jwks-uri or --jwks-file")
        }
        "private_key_jwt" => true,
        other => anyhow::bail!("unknown --auth-method {other}"),
    };
    validate_keys(req)?;
    if let Some(uri) = &req.backchannel_logout_uri {
        // Back-Channel Logout §2.2: an absolute URL without a fragment; we also insist on https.
        crate::net::check_url(uri, req.allow_http_loopback_backchannel)
            .map_err(|e| anyhow::anyhow!("--backchannel-logout-uri {e} (allow_http_loopback_backchannel = true permits http and loopback, for testing)"))?;
    }
    Ok((id, grants, key_auth))
}

/// The same rules as `trust add`: a key-set URL must be fetchable (https, or loopback http when
/// allowed), and a key-set file must hold at least one usable signature key.
fn validate_keys(req: &NewClient) -> anyhow::Result<()> {
    if req.auth_method != "private_key_jwt" && (req.jwks_uri.is_some() || req.jwks_json.is_some()) {
        anyhow::bail!("--jwks-uri and --jwks-file need --auth-method private_key_jwt");
    }
    if let Some(uri) = &req.jwks_uri {
        check_url(uri, req.allow_http_loopback_jwks).map_err(|e| anyhow::anyhow!("--jwks-uri {e}"))?;
    }
    if let Some(json) = &req.jwks_json {
        jwk_set::parse_for_config(json).map_err(|e| anyhow::anyhow!("--jwks-file: {e}"))?;
    }
    Ok(())
}

/// Checks `--api` and `--scope` before the client exists: the API to grant on, the scopes, and
/// whether the API must be created (with those scopes) first.
async fn check_grant<'a>(
    store: &dyn Store,
    api: Option<&'a str>,
    scope: &'a str,
) -> anyhow::Result<(&'a str, &'a str, bool)> {
    let api = api.ok_or_else(|| anyhow::anyhow!("--scope needs --api URI (or a default_audience setting)"))?;
    match store.get_api(api).await? {
        Some(def) => super::defined_scopes(&def, scope).map(|_| (api, scope, true)),
        None => {
            super::check_identifier(api)?;
            crate::oauth::scope::parse(scope).map_err(|e| anyhow::anyhow!(e))?;
            Ok((api, scope, false))
        }
    }
}

/// An origin is `scheme://host[:port]`, exactly as browsers send it in `Origin`.
fn validate_origin(origin: &str) -> anyhow::Result<()> {
    let u = url::Url::parse(origin).map_err(|_| anyhow::anyhow!("invalid origin {origin}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.origin().ascii_serialization() != origin {
        anyhow::bail!("invalid origin {origin}: use scheme://host[:port] with no path");
    }
    Ok(())
}

pub async fn rotate_secret(store: &dyn Store, id: &str, now: i64) -> anyhow::Result<String> {
    let plain = secret::random_token(32);
    if !store.set_client_secret(id, &secret::digest(&plain), now).await? {
        anyhow::bail!("no confidential client with id {id}");
    }
    Ok(plain)
}

pub async fn delete(store: &dyn Store, id: &str, now: i64) -> anyhow::Result<()> {
    store.revoke_client_refresh_tokens(id, now).await?;
    if !store.delete_client(id).await? {
        anyhow::bail!("no client with id {id}");
    }
    Ok(())
}

pub async fn to_json(store: &dyn Store, c: &Client, secret: Option<&str>) -> anyhow::Result<Value> {
    let grants: Vec<Value> =
        store.client_grants(&c.id).await?.iter().map(|g| json!({ "api": g.api, "scopes": split(&g.scopes) })).collect();
    let mut v = json!({
        "client_id": c.id,
        "name": c.name,
        "public": c.public,
        "token_endpoint_auth_method": match (c.public, c.auth_method) {
            (true, _) => "none",
            (false, AuthMethod::ClientSecret) => "client_secret_basic",
            (false, m) => m.as_str(),
        },
        "jwks_uri": c.jwks_uri,
        "grant_types": split(&c.grant_types),
        "redirect_uris": split(&c.redirect_uris),
        "allowed_origins": split(&c.allowed_origins),
        "post_logout_redirect_uris": split(&c.post_logout_redirect_uris),
        "first_party": c.first_party,
        "require_pkce": c.public || c.require_pkce,
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
        "disabled": c.disabled,
        "origin": c.origin.as_str(),
        "apis": grants,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    });
    if let Some(s) = secret {
        v["client_secret"] = json!(s);
    }
    Ok(v)
}
