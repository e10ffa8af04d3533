//! Users: create (with a password, or claims only), list, show, change (merge patch), set the
//! password, enable/disable, delete, links, sessions, refresh families, consents, Auth0 import.

use serde_json::{json, Map, Value};

use super::clients::family_json;
use super::{Ctx, Page, Reply};
use crate::admin::{idempotency, users, AdminError};
use crate::clock::now;
use crate::store::User;

type Result<T> = std::result::Result<T, AdminError>;

pub async fn list(ctx: &Ctx<'_>, q: Page) -> Result<Reply> {
    let limit = q.limit()?;
    let page = ctx.app.store.list_users_page(q.cursor.as_deref().unwrap_or(""), limit).await?;
    let next = page.last().map(|u| u.id.clone());
    Ok(Reply::page(page.iter().map(users::to_json).collect(), limit, next))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Without one the user has claims only, and no password login until one is set.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub claims: Option<Map<String, Value>>,
}

pub async fn create(ctx: &Ctx<'_>, req: NewUser) -> Result<Reply> {
    if let Some(c) = &req.claims {
        crate::oauth::claims::validate(&Value::Object(c.clone())).map_err(AdminError::Invalid)?;
    }
    let (app, store, t) = (ctx.app, ctx.app.store.as_ref(), now());
    let key = ctx.idempotency_key.as_deref();
    let answer = idempotency::once(store, &ctx.actor, key, &ctx.fingerprint, t, || async {
        let conn = &app.settings.user_connection;
        let email = req.email.as_deref();
        let mut u = match &req.password {
            Some(p) => users::create(store, &app.passwords, conn, &req.username, email, p, t).await?,
            None => users::create_without_password(store, conn, &req.username, email, t).await?,
        };
        if let Some(c) = req.claims {
            u = users::set_claims(store, &u.id, &Value::Object(c), t).await?;
        }
        let v = users::to_json(&u);
        ctx.record("user.create", &u.id, None, Some(v.clone())).await;
        Ok((201, v))
    })
    .await?;
    Ok(answer.into())
}

pub async fn show(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    Ok(Reply::tagged(users::to_json(&find(ctx, id).await?)))
}

pub async fn update(ctx: &Ctx<'_>, id: &str, patch: Value) -> Result<Reply> {
    let if_match = ctx.if_match.as_deref();
    let (before, u) = users::update(ctx.app.store.as_ref(), id, &patch, if_match, now()).await?;
    let after = users::to_json(&u);
    ctx.record("user.update", id, Some(before), Some(after.clone())).await;
    Ok(Reply::tagged(after))
}

pub async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    let before = users::to_json(&find(ctx, id).await?);
    users::delete(ctx.app.store.as_ref(), id, now()).await?;
    ctx.record("user.delete", id, Some(before), None).await;
    Ok(Reply::no_content())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Password {
    pub password: String,
}

/// Sets the password; the user's sessions end and their refresh tokens are revoked.
pub async fn set_password(ctx: &Ctx<'_>, id: &str, p: Password) -> Result<Reply> {
    find(ctx, id).await?;
    users::set_password(ctx.app.store.as_ref(), &ctx.app.passwords, id, &p.password, now()).await?;
    ctx.record("user.set_password", id, None, None).await;
    Ok(Reply::no_content())
}

/// Disabling also ends the user's sessions and revokes their refresh tokens.
pub async fn set_disabled(ctx: &Ctx<'_>, id: &str, disabled: bool) -> Result<Reply> {
    find(ctx, id).await?;
    users::set_disabled(ctx.app.store.as_ref(), id, disabled, now()).await?;
    let action = if disabled { "user.disable" } else { "user.enable" };
    ctx.record(action, id, None, Some(json!({ "disabled": disabled }))).await;
    Ok(Reply::tagged(users::to_json(&find(ctx, id).await?)))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub issuer: String,
    pub subject: String,
}

/// Links the user to a subject at a trusted issuer (for issuers with `map = link`).
pub async fn link(ctx: &Ctx<'_>, id: &str, l: Link) -> Result<Reply> {
    find(ctx, id).await?;
    let store = ctx.app.store.as_ref();
    if store.get_issuer(&l.issuer).await?.is_none() {
        return Err(AdminError::Invalid(format!("issuer {} is not trusted", l.issuer)));
    }
    store.link_user(&l.issuer, &l.subject, id, now()).await?;
    let v = json!({ "user_id": id, "issuer": l.issuer, "subject": l.subject });
    ctx.record("user.link", id, None, Some(v.clone())).await;
    Ok(Reply::ok(v))
}

pub async fn sessions(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    find(ctx, id).await?;
    let all = ctx.app.store.list_user_sessions(id, now()).await?;
    let session = |s: &crate::store::Session| json!({ "sid": s.sid, "auth_time": s.auth_time, "created_at": s.created_at, "expires_at": s.expires_at });
    Ok(Reply::items(all.iter().map(session).collect()))
}

/// Signs the user out everywhere: every session ends (their clients get back-channel logout
/// tokens) and every refresh token is revoked.
pub async fn end_sessions(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    find(ctx, id).await?;
    let (_, queued) = users::revoke_sessions(ctx.app.store.as_ref(), id, now()).await?;
    ctx.app.logout_wakeup.notify_one();
    ctx.record("user.end_sessions", id, None, None).await;
    Ok(Reply::ok(json!({ "user_id": id, "logout_tokens_queued": queued })))
}

pub async fn refresh_families(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    find(ctx, id).await?;
    let families = ctx.app.store.list_refresh_families(id, "", now()).await?;
    Ok(Reply::items(families.iter().map(family_json).collect()))
}

/// The user's consents, one item per client and API with the scopes allowed.
pub async fn consents(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    find(ctx, id).await?;
    let mut items: Vec<Value> = Vec::new();
    for c in ctx.app.store.list_consents(id).await? {
        let same = |v: &Value| v["client_id"] == c.client_id.as_str() && v["audience"] == c.audience.as_str();
        match items.iter_mut().find(|v| same(v)) {
            Some(item) if !c.scope.is_empty() => {
                if let Some(a) = item["scopes"].as_array_mut() {
                    a.push(Value::String(c.scope.clone()));
                }
            }
            Some(_) => {}
            None => {
                let scopes: Vec<&str> = Some(c.scope.as_str()).filter(|s| !s.is_empty()).into_iter().collect();
                items.push(json!({ "client_id": c.client_id, "audience": c.audience, "scopes": scopes,
                    "created_at": c.created_at }));
            }
        }
    }
    Ok(Reply::items(items))
}

/// Withdraws every consent the user gave the client: it asks again on the next authorization.
pub async fn revoke_consent(ctx: &Ctx<'_>, id: &str, client_id: &str) -> Result<Reply> {
    find(ctx, id).await?;
    if ctx.app.store.delete_consents(id, client_id).await? == 0 {
        return Err(AdminError::not_found(format!("consent of user {id} to client {client_id}")));
    }
    ctx.record("user.revoke_consent", id, Some(json!({ "client_id": client_id })), None).await;
    Ok(Reply::no_content())
}

/// Imports an Auth0 export (NDJSON or a JSON array).
pub async fn import(ctx: &Ctx<'_>, text: String) -> Result<Reply> {
    let store = ctx.app.store.clone();
    // Its own task: a large import needs more database time than one request's account allows.
    let report = tokio::spawn(async move { users::import_auth0(store.as_ref(), &text, now()).await })
        .await
        .map_err(|e| AdminError::Internal(e.into()))?;
    let summary = json!({ "imported": report.imported, "skipped": report.skipped, "failed": report.failed });
    ctx.record("user.import", "auth0", None, Some(summary)).await;
    Ok(Reply::ok(serde_json::to_value(&report).map_err(|e| AdminError::Internal(e.into()))?))
}

async fn find(ctx: &Ctx<'_>, id: &str) -> Result<User> {
    ctx.app.store.get_user(id).await?.ok_or_else(|| AdminError::not_found(format!("user {id}")))
}
