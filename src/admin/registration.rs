//! Operating dynamic registration (RFC 7591): initial access tokens (§3, shown once, stored as
//! SHA-256), and the list and deletion of registered clients.

use serde_json::{json, Value};

use super::split;
use crate::oauth::secret;
use crate::store::{ClientOrigin, InitialToken, Store};

/// Longest an initial access token may live, and most registrations one may make.
pub const MAX_TOKEN_LIFETIME: u64 = 365 * 86400;
pub const MAX_TOKEN_USES: u32 = 100_000;

/// Mints an initial access token good for `uses` registrations during `expires_in` seconds.
/// Returns it with the token itself, which is not stored.
pub async fn mint_initial_token(
    store: &dyn Store,
    expires_in: u64,
    uses: u32,
    note: &str,
    now: i64,
) -> anyhow::Result<(InitialToken, String)> {
    if !(60..=MAX_TOKEN_LIFETIME).contains(&expires_in) {
        anyhow::bail!("--expires-in must be between 60 and {MAX_TOKEN_LIFETIME} seconds");
    }
    if !(1..=MAX_TOKEN_USES).contains(&uses) {
        anyhow::bail!("--uses must be between 1 and {MAX_TOKEN_USES}");
    }
    let plain = secret::random_token(32);
    let t = InitialToken {
        id: secret::random_token(9).replace(['-', '_'], "x"),
        hash: secret::digest(&plain),
        note: note.to_string(),
        created_at: now,
        expires_at: crate::clock::later(now, expires_in),
        uses_left: i64::from(uses),
    };
    store.insert_initial_token(&t).await?;
    Ok((t, plain))
}

pub fn token_json(t: &InitialToken, plain: Option<&str>) -> Value {
    let mut v = json!({
        "id": t.id,
        "note": t.note,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "uses_left": t.uses_left,
    });
    if let Some(p) = plain {
        v["initial_access_token"] = json!(p);
    }
    v
}

pub async fn revoke_initial_token(store: &dyn Store, id: &str) -> anyhow::Result<()> {
    if !store.delete_initial_token(id).await? {
        anyhow::bail!("no initial access token with id {id}");
    }
    Ok(())
}

/// Every registered client with its registration: when, with which initial token, first use.
pub async fn list_registered(store: &dyn Store) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for r in store.list_registrations().await? {
        let Some(c) = store.get_client(&r.client_id).await? else { continue };
        let metadata: Value = serde_json::from_str(&r.metadata).unwrap_or(Value::Null);
        out.push(json!({
            "client_id": c.id,
            "name": c.name,
            "application_type": metadata["application_type"],
            "public": c.public,
            "grant_types": split(&c.grant_types),
            "redirect_uris": split(&c.redirect_uris),
            "disabled": c.disabled,
            "initial_token": r.initial_token,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "used_at": r.used_at,
        }));
    }
    Ok(out)
}

/// Deletes a registered client (never an operator's), revoking its refresh tokens first.
pub async fn delete_registered(store: &dyn Store, id: &str, now: i64) -> anyhow::Result<()> {
    match store.get_client(id).await? {
        Some(c) if c.origin == ClientOrigin::Registered => super::clients::delete(store, id, now).await,
        Some(_) => anyhow::bail!("client {id} was not registered dynamically; use `client delete`"),
        None => anyhow::bail!("no client with id {id}"),
    }
}
