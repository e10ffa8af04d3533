//! Provisioning shared by the CLI and the admin API (`http/admin`): clients, APIs, keys, users,
//! trusted issuers, and the admin API's own rules (auth, audit, merge patch, idempotency). The
//! server picks changes up within its cache bounds.

pub mod audit;
pub mod auth;
pub mod calls;
pub mod client_update;
pub mod clients;
pub mod error;
pub mod idempotency;
pub mod inspect;
pub mod patch;
pub mod trust;
pub mod users;

pub use error::AdminError;

use serde_json::{json, Value};

use crate::store::{Api, Store};

pub const GRANT_TYPES: [&str; 5] = [
    "client_credentials",
    "password",
    "refresh_token",
    "authorization_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
];

pub async fn create_api(
    store: &dyn Store,
    identifier: &str,
    name: Option<&str>,
    scopes: &str,
    now: i64,
) -> anyhow::Result<Api> {
    let scopes = crate::oauth::scope::parse(scopes).map_err(|e| anyhow::anyhow!(e))?.join(" ");
    check_identifier(identifier)?;
    let api = Api { identifier: identifier.into(), name: name.unwrap_or(identifier).into(), scopes, created_at: now };
    store.insert_api(&api).await.map_err(|e| match e {
        crate::store::StoreError::Conflict => {
            AdminError::Conflict(format!("an API with identifier {identifier} already exists")).into()
        }
        e => anyhow::Error::from(e),
    })?;
    Ok(api)
}

pub fn check_identifier(identifier: &str) -> anyhow::Result<()> {
    if identifier.is_empty() || identifier.contains(' ') || identifier.contains('#') {
        anyhow::bail!("--identifier must be a URI without spaces or fragment");
    }
    Ok(())
}

/// The scopes of `scopes`, if `def` defines every one of them.
pub fn defined_scopes<'a>(def: &Api, scopes: &'a str) -> anyhow::Result<Vec<&'a str>> {
    let requested = crate::oauth::scope::parse(scopes).map_err(|e| anyhow::anyhow!(e))?;
    let defined: Vec<&str> = def.scopes.split(' ').collect();
    if let Some(bad) = requested.iter().find(|s| !defined.contains(s)) {
        anyhow::bail!("scope {bad} is not defined on API {}", def.identifier);
    }
    Ok(requested)
}

/// Allows `client_id` the given scopes of `api` (replacing an earlier grant on that API).
pub async fn grant(store: &dyn Store, client_id: &str, api: &str, scopes: &str) -> anyhow::Result<Value> {
    let def = store.get_api(api).await?.ok_or_else(|| AdminError::not_found(format!("API with identifier {api}")))?;
    store.get_client(client_id).await?.ok_or_else(|| AdminError::not_found(format!("client with id {client_id}")))?;
    let requested = defined_scopes(&def, scopes)?;
    store.upsert_client_grant(client_id, api, &requested.join(" ")).await?;
    Ok(json!({ "client_id": client_id, "api": api, "scopes": requested }))
}

pub fn api_json(a: &Api) -> Value {
    json!({ "identifier": a.identifier, "name": a.name, "scopes": split(&a.scopes), "created_at": a.created_at })
}

pub fn split(s: &str) -> Vec<&str> {
    s.split(' ').filter(|x| !x.is_empty()).collect()
}
