//! APIs, signing keys, trusted issuers (with the `check` dry run) and the audit log.

use serde_json::{json, Value};

use super::{Ctx, Page, Reply};
use crate::admin::trust::NewIssuer;
use crate::admin::{self, audit, idempotency, AdminError};
use crate::clock::now;
use crate::jwt::keys::{self, Alg};
use crate::store::TrustedIssuer;

type Result<T> = std::result::Result<T, AdminError>;

pub async fn list_apis(ctx: &Ctx<'_>) -> Result<Reply> {
    Ok(Reply::items(ctx.app.store.list_apis().await?.iter().map(admin::api_json).collect()))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApi {
    pub identifier: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

pub async fn create_api(ctx: &Ctx<'_>, req: NewApi) -> Result<Reply> {
    let (store, t) = (ctx.app.store.as_ref(), now());
    let key = ctx.idempotency_key.as_deref();
    let answer = idempotency::once(store, &ctx.actor, key, &ctx.fingerprint, t, || async {
        let api = admin::create_api(store, &req.identifier, req.name.as_deref(), &req.scopes.join(" "), t).await?;
        let v = admin::api_json(&api);
        ctx.record("api.create", &api.identifier, None, Some(v.clone())).await;
        Ok((201, v))
    })
    .await?;
    Ok(answer.into())
}

pub async fn show_api(ctx: &Ctx<'_>, id: &str) -> Result<Reply> {
    let api = ctx.app.store.get_api(id).await?.ok_or_else(|| AdminError::not_found(format!("API {id}")))?;
    Ok(Reply::tagged(admin::api_json(&api)))
}

/// Signing keys with their state; never their private parts.
pub async fn list_keys(ctx: &Ctx<'_>) -> Result<Reply> {
    let (t, window) = (now(), ctx.app.settings.key_publish_window());
    let key = |k: &crate::store::KeyRecord| {
        let state = match k.retired_at {
            None => "active",
            Some(r) if r + window > t => "published",
            Some(_) => "retired",
        };
        let jwk: Value = serde_json::from_str(&k.public_jwk).unwrap_or(Value::Null);
        json!({ "kid": k.kid, "alg": k.alg, "created_at": k.created_at, "retired_at": k.retired_at,
                "state": state, "public_jwk": jwk })
    };
    Ok(Reply::items(ctx.app.store.list_keys().await?.iter().map(key).collect()))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rotate {
    pub alg: Option<String>,
}

/// Adds a new active key (of `alg`, default `signing_alg`) and retires the older ones of its alg.
pub async fn rotate_key(ctx: &Ctx<'_>, r: Rotate) -> Result<Reply> {
    let app = ctx.app;
    let alg = match r.alg.as_deref() {
        None => app.settings.signing_alg,
        Some(a) => {
            Alg::parse(a).ok_or_else(|| AdminError::Invalid(format!("alg must be RS256, ES256 or EdDSA, not {a}")))?
        }
    };
    let rec = keys::rotate(app.store.as_ref(), alg, now(), app.kek.as_ref()).await.map_err(AdminError::Internal)?;
    // This instance signs with it at once; the others within key_refresh_interval.
    app.refresh_keys().await.map_err(AdminError::Internal)?;
    let v = json!({ "kid": rec.kid, "alg": rec.alg, "created_at": rec.created_at, "state": "active" });
    ctx.record("key.rotate", &rec.kid, None, Some(v.clone())).await;
    Ok(Reply { status: 201, ..Reply::ok(v) })
}

pub async fn list_issuers(ctx: &Ctx<'_>) -> Result<Reply> {
    Ok(Reply::items(ctx.app.store.list_issuers().await?.iter().map(admin::trust::to_json).collect()))
}

pub async fn add_issuer(ctx: &Ctx<'_>, req: NewIssuer) -> Result<Reply> {
    let (app, store, t) = (ctx.app, ctx.app.store.as_ref(), now());
    let key = ctx.idempotency_key.as_deref();
    let answer = idempotency::once(store, &ctx.actor, key, &ctx.fingerprint, t, || async {
        let i = admin::trust::add(store, &app.jwks, app.settings.allow_http_loopback_jwks, req, t).await?;
        let v = admin::trust::to_json(&i);
        ctx.record("trust.add", &i.issuer, None, Some(v.clone())).await;
        Ok((201, v))
    })
    .await?;
    Ok(answer.into())
}

pub async fn show_issuer(ctx: &Ctx<'_>, issuer: &str) -> Result<Reply> {
    Ok(Reply::tagged(admin::trust::to_json(&find_issuer(ctx, issuer).await?)))
}

pub async fn remove_issuer(ctx: &Ctx<'_>, issuer: &str) -> Result<Reply> {
    let before = admin::trust::to_json(&find_issuer(ctx, issuer).await?);
    ctx.app.store.delete_issuer(issuer).await?;
    ctx.record("trust.remove", issuer, Some(before), None).await;
    Ok(Reply::no_content())
}

pub async fn set_issuer_enabled(ctx: &Ctx<'_>, issuer: &str, enabled: bool) -> Result<Reply> {
    find_issuer(ctx, issuer).await?;
    ctx.app.store.set_issuer_enabled(issuer, enabled).await?;
    let action = if enabled { "trust.enable" } else { "trust.disable" };
    ctx.record(action, issuer, None, Some(json!({ "enabled": enabled }))).await;
    Ok(Reply::tagged(admin::trust::to_json(&find_issuer(ctx, issuer).await?)))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub assertion: String,
}

/// Every check of the jwt-bearer grant on an assertion, without consuming its jti.
pub async fn check_assertion(ctx: &Ctx<'_>, c: Check) -> Result<Reply> {
    let steps = admin::trust::check(ctx.app, &c.assertion, now()).await;
    let pass = steps.iter().all(|v| v["pass"] == true);
    Ok(Reply::ok(json!({ "pass": pass, "checks": steps })))
}

/// `?limit=&cursor=&target=`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct AuditQuery {
    #[serde(flatten)]
    pub page: Page,
    pub target: Option<String>,
}

/// Audit events, newest first.
pub async fn audit(ctx: &Ctx<'_>, q: AuditQuery) -> Result<Reply> {
    let limit = q.page.limit()?;
    let cursor = q.page.cursor.as_deref().unwrap_or("");
    let events = ctx.app.store.list_audit(cursor, q.target.as_deref().unwrap_or(""), limit).await?;
    let next = events.last().map(|e| e.id.clone());
    Ok(Reply::page(events.iter().map(audit::to_json).collect(), limit, next))
}

async fn find_issuer(ctx: &Ctx<'_>, issuer: &str) -> Result<TrustedIssuer> {
    ctx.app.store.get_issuer(issuer).await?.ok_or_else(|| AdminError::not_found(format!("trusted issuer {issuer}")))
}
