//! User management, their OIDC Core §5.1 claims, and the Auth0 bulk-export import (NDJSON or a
//! JSON array). Ending a user's sessions queues back-channel logout tokens (OIDC Back-Channel
//! Logout 1.0), which a running server delivers.

use serde_json::{json, Map, Value};

use crate::oauth::claims;
use crate::password::{Passwords, MAX_PASSWORD_BYTES};
use crate::store::{Store, StoreError, User};

pub fn check_password(p: &str) -> anyhow::Result<()> {
    if p.is_empty() || p.len() > MAX_PASSWORD_BYTES {
        anyhow::bail!("password must be 1 to {MAX_PASSWORD_BYTES} bytes");
    }
    Ok(())
}

pub async fn create(
    store: &dyn Store,
    pw: &Passwords,
    connection: &str,
    username: &str,
    email: Option<&str>,
    password: &str,
    now: i64,
) -> anyhow::Result<User> {
    check_password(password)?;
    check_username(username)?;
    let hash = pw.hash(password.to_string()).await?;
    let user = new_user(connection, username, email, Some(hash), now);
    insert(store, &user).await?;
    Ok(user)
}

/// A user with claims only (an admin API create without `password`): no password login until
/// one is set.
pub async fn create_without_password(
    store: &dyn Store,
    connection: &str,
    username: &str,
    email: Option<&str>,
    now: i64,
) -> anyhow::Result<User> {
    check_username(username)?;
    let user = new_user(connection, username, email, None, now);
    insert(store, &user).await?;
    Ok(user)
}

fn check_username(username: &str) -> anyhow::Result<()> {
    if username.trim().is_empty() || username.len() > 256 {
        anyhow::bail!("--username must be 1 to 256 characters");
    }
    Ok(())
}

fn new_user(connection: &str, username: &str, email: Option<&str>, password_hash: Option<String>, now: i64) -> User {
    User {
        id: crate::oauth::subject::new_user_id(connection),
        username: username.to_string(),
        username_lower: username.to_lowercase(),
        email: email.map(str::to_string),
        email_verified: false,
        password_hash,
        disabled: false,
        failed_count: 0,
        failed_window_start: 0,
        locked_until: 0,
        created_at: now,
        updated_at: now,
        claims: "{}".into(),
    }
}

async fn insert(store: &dyn Store, user: &User) -> anyhow::Result<()> {
    store.insert_user(user).await.map_err(|e| match e {
        StoreError::Conflict => {
            super::AdminError::Conflict("a user with that id or username already exists".into()).into()
        }
        e => anyhow::Error::from(e),
    })
}

/// Finds a user by ID, or else by username.
pub async fn find(store: &dyn Store, key: &str) -> anyhow::Result<User> {
    if let Some(u) = store.get_user(key).await? {
        return Ok(u);
    }
    Ok(store.find_user_by_username(key).await?.ok_or_else(|| super::AdminError::not_found(format!("user {key}")))?)
}

/// Sets standard claims on a user (OIDC Core §5.1): `input` is a JSON object of claims, merged
/// into those the user has; `null` removes one. `email` and `email_verified` are set too.
pub async fn set_claims(store: &dyn Store, key: &str, input: &Value, now: i64) -> anyhow::Result<User> {
    let user = find(store, key).await?;
    let claims::Validated { claims: changes, email, email_verified: verified } =
        claims::validate(input).map_err(|e| anyhow::anyhow!(e))?;
    let mut merged: Map<String, Value> = serde_json::from_str(&user.claims).unwrap_or_default();
    for (k, v) in changes {
        if v.is_null() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    let email = email.unwrap_or(user.email.clone());
    // A new address is not verified unless the same change says so.
    let verified = verified.unwrap_or(user.email_verified && email == user.email);
    let text = Value::Object(merged).to_string();
    store.set_user_claims(&user.id, email.as_deref(), verified, &text, now).await?;
    find(store, &user.id).await
}

/// Ends every SSO session of the user and revokes their refresh tokens: the operator's "sign
/// this user out everywhere". The clients of those sessions get back-channel logout tokens.
pub async fn revoke_sessions(store: &dyn Store, key: &str, now: i64) -> anyhow::Result<(User, u64)> {
    let user = find(store, key).await?;
    let queued = store.end_user_sessions(&user.id, now).await?;
    store.revoke_user_refresh_tokens(&user.id, now).await?;
    Ok((user, queued))
}

/// A new password also ends every session the old one opened: refresh tokens are revoked.
pub async fn set_password(
    store: &dyn Store,
    pw: &Passwords,
    key: &str,
    password: &str,
    now: i64,
) -> anyhow::Result<User> {
    check_password(password)?;
    let user = find(store, key).await?;
    store.set_password_hash(&user.id, &pw.hash(password.to_string()).await?, now).await?;
    store.revoke_user_refresh_tokens(&user.id, now).await?;
    store.end_user_sessions(&user.id, now).await?;
    Ok(user)
}

pub async fn set_disabled(store: &dyn Store, key: &str, disabled: bool, now: i64) -> anyhow::Result<User> {
    let user = find(store, key).await?;
    store.set_user_disabled(&user.id, disabled, now).await?;
    if disabled {
        store.revoke_user_refresh_tokens(&user.id, now).await?;
        store.end_user_sessions(&user.id, now).await?;
    }
    Ok(user)
}

pub async fn delete(store: &dyn Store, key: &str, now: i64) -> anyhow::Result<User> {
    let user = find(store, key).await?;
    store.revoke_user_refresh_tokens(&user.id, now).await?;
    store.end_user_sessions(&user.id, now).await?;
    store.delete_user(&user.id).await?;
    Ok(user)
}

pub fn to_json(u: &User) -> Value {
    let claims: Value = serde_json::from_str(&u.claims).unwrap_or_else(|_| json!({}));
    json!({
        "user_id": u.id, "username": u.username, "email": u.email, "email_verified": u.email_verified,
        "claims": claims, "disabled": u.disabled, "created_at": u.created_at, "updated_at": u.updated_at,
    })
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub skipped: usize,
    pub failed: usize,
    pub errors: Vec<String>,
}

/// Imports an Auth0 export. Each record keeps its `user_id` (or `auth0|<_id.$oid>` in the
/// password-hash export), so existing `sub` values stay valid; bcrypt hashes are kept as they are
/// and upgraded to Argon2id on the first successful login. A bad record never stops the import.
pub async fn import_auth0(store: &dyn Store, text: &str, now: i64) -> ImportReport {
    let records: Vec<Result<Value, String>> = match serde_json::from_str::<Vec<Value>>(text.trim()) {
        Ok(arr) => arr.into_iter().map(Ok).collect(),
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| format!("not JSON: {e}")))
            .collect(),
    };
    let mut report = ImportReport::default();
    for (i, rec) in records.into_iter().enumerate() {
        match rec.and_then(|v| auth0_user(&v, now)) {
            Err(e) => {
                report.failed += 1;
                report.errors.push(format!("record {}: {e}", i + 1));
            }
            Ok(user) => match store.insert_user(&user).await {
                Ok(()) => report.imported += 1,
                Err(StoreError::Conflict) => report.skipped += 1,
                Err(e) => {
                    report.failed += 1;
                    report.errors.push(format!("record {}: {e}", i + 1));
                }
            },
        }
    }
    report
}

fn auth0_user(v: &Value, now: i64) -> Result<User, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let id = match (s("user_id"), v.pointer("/_id/$oid").and_then(Value::as_str)) {
        (Some(id), _) if id.contains('|') => id.to_string(),
        (Some(id), _) | (None, Some(id)) => format!("auth0|{id}"),
        (None, None) => return Err("no user_id".into()),
    };
    let username = s("username").or(s("email")).ok_or("no username or email")?;
    let hash = s("password_hash").or(s("passwordHash"));
    if let Some(h) = hash {
        if !(h.starts_with("$2a$") || h.starts_with("$2b$") || h.starts_with("$2y$") || h.starts_with("$argon2")) {
            return Err("password_hash is not bcrypt or argon2".into());
        }
    }
    Ok(User {
        id,
        username: username.to_string(),
        username_lower: username.to_lowercase(),
        email: s("email").map(str::to_string),
        email_verified: v.get("email_verified").and_then(Value::as_bool).unwrap_or(false),
        password_hash: hash.map(str::to_string),
        disabled: v.get("blocked").and_then(Value::as_bool).unwrap_or(false),
        failed_count: 0,
        failed_window_start: 0,
        locked_until: 0,
        created_at: now,
        updated_at: now,
        claims: auth0_claims(v),
    })
}

/// The standard claims of an Auth0 record (its root attributes `name`, `given_name`,
/// `family_name`, `nickname`, `picture`, `phone_number`, `phone_verified`, … of the same names).
/// A value oauthd would refuse is left out rather than failing the record.
fn auth0_claims(v: &Value) -> String {
    let mut out = Map::new();
    for name in claims::SETTABLE {
        let key = if name == "phone_number_verified" { "phone_verified" } else { name };
        if let Some(value) = v.get(key).filter(|x| !x.is_null()) {
            let one = json!({ name: value });
            if let Ok(v) = claims::validate(&one) {
                out.extend(v.claims);
            }
        }
    }
    Value::Object(out).to_string()
}

/// What a user patch may change; the claims merge into the user's (RFC 7396).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Editable {
    #[serde(default)]
    email: Option<String>,
    email_verified: bool,
    claims: Map<String, Value>,
    disabled: bool,
}

/// Applies a JSON Merge Patch (RFC 7396) to user `id` when `if_match` (if given) names its current
/// ETag. Returns the representation before and the user after.
pub async fn update(
    store: &dyn Store,
    id: &str,
    merge_patch: &Value,
    if_match: Option<&str>,
    now: i64,
) -> Result<(Value, User), super::AdminError> {
    use super::patch;
    let old = store.get_user(id).await?.ok_or_else(|| super::AdminError::not_found(format!("user {id}")))?;
    let before = to_json(&old);
    patch::check_if_match(if_match, &patch::etag(&before))?;
    let mut after = before.clone();
    patch::merge(&mut after, merge_patch);
    if !after.is_object() {
        return Err(super::AdminError::Invalid("a user patch must be a JSON object".into()));
    }
    let read_only = ["user_id", "username", "created_at", "updated_at"];
    patch::refuse_changes(&before, &after, &read_only)?;
    if let Value::Object(m) = &mut after {
        for k in read_only {
            m.remove(k);
        }
    }
    let e: Editable = serde_path_to_error::deserialize(after)
        .map_err(|err| super::AdminError::Invalid(format!("invalid user: {err}")))?;
    // What set_claims takes: the changed claims, null for the removed ones, and the email.
    let mut changes = Map::new();
    let old_claims = before["claims"].as_object().cloned().unwrap_or_default();
    for (k, v) in &e.claims {
        if old_claims.get(k) != Some(v) {
            changes.insert(k.clone(), v.clone());
        }
    }
    for k in old_claims.keys().filter(|k| !e.claims.contains_key(*k)) {
        changes.insert(k.clone(), Value::Null);
    }
    if e.email != old.email {
        changes.insert("email".into(), e.email.clone().map_or(Value::Null, Value::String));
    }
    if e.email_verified != old.email_verified || e.email != old.email {
        changes.insert("email_verified".into(), Value::Bool(e.email_verified));
    }
    if !changes.is_empty() {
        set_claims(store, &old.id, &Value::Object(changes), now).await?;
    }
    if e.disabled != old.disabled {
        set_disabled(store, &old.id, e.disabled, now).await?;
    }
    Ok((before, find(store, &old.id).await?))
}
