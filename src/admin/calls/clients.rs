//! Clients: register, list (filter + cursor), show, change (merge patch), enable/disable,
//! delete, rotate the secret (shown once), grant API scopes, and the client's refresh families.

use serde_json::{json, Value};

use super::{Ctx, Page, Reply};
use crate::admin::clients::NewClient;
use crate::admin::{self, idempotency, AdminError};
use crate::clock::now;
use crate::store::{Client, ClientFilter, ClientOrigin, RefreshFamily};

type Result<T> = std::result::Result<T, AdminError>;

/// `?limit=&cursor=&origin=&disabled=`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Filter {
    #[serde(flatten)]
    pub page: Page,
    pub origin: Option<String>,
    pub disabled: Option<String>,
}

pub async fn list(ctx: &Ctx<'_>, q: Filter) -> Result<Reply> {
    let limit = q.page.limit()?;
    if let Some(o) = q.origin.as_deref().filter(|o| ClientOrigin::parse(o).is_none()) {
        return Err(AdminError::Invalid(format!("origin {o:?} is none of operator, registered, metadata_document")));
    }
    let disabled = match q.disabled.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(AdminError::Invalid("disabled must be true or false".into())),
    };
    let f = ClientFilter { after: q.page.cursor.clone().unwrap_or_default(), limit, origin: q.origin, disabled };
    let store = ctx.app.store.as_ref();
    let clients = store.list_clients_page(&f).await?;
    let next = clients.last().map(|c| c.id.clone());
    let mut items = Vec::with_capacity(clients.len());
    for c in &clients {
        items.push(admin::clients::to_json(store, c, None).await?);
    }
    Ok(Reply::page(items, limit, next))
}

/// Registers a client; a confidential one's secret is in this answer only.
pub async fn create(ctx: &Ctx<'_>, req: NewClient) -> Result<Reply> {
    let (app, store, t) = (ctx.app, ctx.app.store.as_ref(), now());
    let key = ctx.idempotency_key.as_deref();
    let answer = idempotency::once(store, &ctx.actor, key, &ctx.fingerprint, t, || async {
        let req = NewClient {
            allow_http_loopback_jwks: app.settings.allow_http_loopback_jwks,
            allow_http_loopback_backchannel: app.settings.allow_http_loopback_backchannel,
            ..req
        };
        let (client, secret) = admin::clients::create(store, req, app.settings.default_audience(), t).await?;
        let v = admin::clients::to_json(store, &client, secret.as_deref()).await?;
        ctx.record("client.create", &client.id, None, Some(v.clone())).await;
        Ok((201, v))
    })
    .await?;
    Ok(answer.into())
}

pub async fn show(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    let c = find(ctx, id).await?;
    Ok(Reply::tagged(admin::clients::to_json(ctx.app.store.as_ref(), &c, None).await?))
}

pub async fn update(ctx: &Ctx<'_>, id: &str, patch: Value) -> Result<Reply> {
    let store = ctx.app.store.as_ref();
    let allow = ctx.app.settings.allow_http_loopback_backchannel;
    let if_match = ctx.if_match.as_deref();
    let (before, c) = admin::client_update::update(store, id, &patch, if_match, allow, now()).await?;
    let after = admin::clients::to_json(store, &c, None).await?;
    ctx.record("client.update", id, Some(before), Some(after.clone())).await;
    Ok(Reply::tagged(after))
}

/// Revokes the client's refresh tokens, then deletes it.
pub async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    let store = ctx.app.store.as_ref();
    let before = admin::clients::to_json(store, &find(ctx, id).await?, None).await?;
    admin::clients::delete(store, id, now()).await?;
    ctx.record("client.delete", id, Some(before), None).await;
    Ok(Reply::no_content())
}

/// Disabling also revokes the client's refresh tokens.
pub async fn set_disabled(ctx: &Ctx<'_>, id: &str, disabled: bool) -> Result<Reply> {
    find(ctx, id).await?;
    let (store, t) = (ctx.app.store.as_ref(), now());
    store.set_client_disabled(id, disabled, t).await?;
    if disabled {
        store.revoke_client_refresh_tokens(id, t).await?;
    }
    let after = admin::clients::to_json(store, &find(ctx, id).await?, None).await?;
    let action = if disabled { "client.disable" } else { "client.enable" };
    ctx.record(action, id, None, Some(json!({ "disabled": disabled }))).await;
    Ok(Reply::tagged(after))
}

/// A new secret for a confidential client, in this answer only.
pub async fn rotate_secret(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    if find(ctx, id).await?.secret_hash.is_none() {
        return Err(AdminError::Invalid(format!("client {id} has no secret (public, or private_key_jwt)")));
    }
    let secret = admin::clients::rotate_secret(ctx.app.store.as_ref(), id, now()).await?;
    ctx.record("client.rotate_secret", id, None, None).await;
    Ok(Reply::ok(json!({ "client_id": id, "client_secret": secret })))
}

/// `PUT /clients/{id}/grants/{api}`: the scopes of the API the client may get.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub scopes: Vec<String>,
}

/// Replaces the client's grant on one API with these scopes (all defined on the API).
pub async fn grant(ctx: &Ctx<'_>, id: &str, api: &str, g: Grant) -> Result<Reply> {
    let v = admin::grant(ctx.app.store.as_ref(), id, api, &g.scopes.join(" ")).await?;
    ctx.record("client.grant", id, None, Some(v.clone())).await;
    Ok(Reply::ok(v))
}

pub async fn refresh_families(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    find(ctx, id).await?;
    let families = ctx.app.store.list_refresh_families("", id, now()).await?;
    Ok(Reply::items(families.iter().map(family_json).collect()))
}

pub async fn revoke_refresh_families(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    find(ctx, id).await?;
    ctx.app.store.revoke_client_refresh_tokens(id, now()).await?;
    ctx.record("client.revoke_refresh_tokens", id, None, None).await;
    Ok(Reply::no_content())
}

/// A refresh family as the API shows it: never its secrets.
pub fn family_json(f: &RefreshFamily) -> Value {
    json!({
        "id": f.id, "client_id": f.client_id, "user_id": f.user_id, "scope": f.scope, "audience": f.audience,
        "grant_type": f.gty, "created_at": f.created_at, "expires_at": f.expires_at,
        "idle_expires_at": f.idle_expires_at, "generation": f.generation,
    })
}

async fn find(ctx: &Ctx<'_>, id: &str) -> Result<Client> {
    ctx.app.store.get_client(id).await?.ok_or_else(|| AdminError::not_found(format!("client with id {id}")))
}
