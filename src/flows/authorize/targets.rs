//! The audiences of an authorization request, RFC 8707 §2.1: each `resource` (possibly several)
//! names an API the client may use, by its canonical URI; the scope is checked against their
//! union and split per API, so that each token the code yields is downscoped to its one audience.
//! Clients with no prior relationship get the scopes the APIs declare, subject to consent.

use std::sync::Arc;

use crate::config::Settings;
use crate::flows::grants::{requested_audience, resolve_target};
use crate::oauth::resource::{self, Target};
use crate::oauth::{scope, Form, TokenError};
use crate::state::{AppState, ClientEntry};
use crate::store::{Api, ClientGrant, ClientOrigin, StoreError};

/// A client with no prior relationship (dynamic registration, a client ID metadata document) holds
/// no API grants: it may ask for the scopes the APIs it names declare, and the user's consent
/// decides. Operator clients keep their grants.
pub async fn with_declared_scopes(
    app: &AppState,
    client: Arc<ClientEntry>,
    form: &Form,
    resources: &[String],
) -> Result<Arc<ClientEntry>, StoreError> {
    if client.client.origin == ClientOrigin::Operator {
        return Ok(client);
    }
    let mut grants: Vec<ClientGrant> = Vec::new();
    // A malformed target is reported by `resolve`, with the redirect it needs.
    let audience = form.get("audience").filter(|_| requested_audience(form).is_ok());
    for named in audience.into_iter().map(str::to_string).chain(resources.iter().cloned()) {
        let by_resource = audience != Some(named.as_str());
        if let Some(api) = find_api(app, &named, by_resource).await? {
            if !grants.iter().any(|g| g.api == api.identifier) {
                grants.push(ClientGrant { api: api.identifier, scopes: api.scopes });
            }
        }
    }
    Ok(Arc::new(ClientEntry { client: client.client.clone(), grants }))
}

/// The API `named` identifies: exactly, or for a `resource` by canonical URI. The exact read is
/// the common case (clients send the URI the resource server publishes); APIs are few.
async fn find_api(app: &AppState, named: &str, by_resource: bool) -> Result<Option<Api>, StoreError> {
    if let Some(api) = app.store.get_api(named).await? {
        return Ok(Some(api));
    }
    if !by_resource || resource::canonical(named).is_none() {
        return Ok(None);
    }
    Ok(app.store.list_apis().await?.into_iter().find(|a| resource::names(named, &a.identifier)))
}

/// The targets of the request and the scope granted in all. One `resource` or none follows the
/// token endpoint's rules (`audience`, `default_audience`, identity-only logins).
pub fn resolve(
    settings: &Settings,
    entry: &ClientEntry,
    form: &Form,
    resources: &[String],
) -> Result<(Vec<Target>, String), TokenError> {
    if resources.len() <= 1 {
        let (aud, scope) = resolve_target(settings, entry, form, true)?;
        return Ok((vec![Target { aud, scope: scope.clone() }], scope));
    }
    if form.get("audience").is_some() {
        return Err(TokenError::target("audience cannot be combined with several resources"));
    }
    let mut grants: Vec<&ClientGrant> = Vec::new();
    for r in resources {
        let g = entry
            .grant_for_resource(r)
            .ok_or_else(|| TokenError::target(format!("resource '{r}' is unknown or not granted to this client")))?;
        if !grants.iter().any(|x| x.api == g.api) {
            grants.push(g);
        }
    }
    let on = |g: &ClientGrant| -> Vec<String> {
        g.scopes.split(' ').chain(scope::OIDC_SCOPES).filter(|s| !s.is_empty()).map(str::to_string).collect()
    };
    let mut allowed: Vec<String> = Vec::new();
    for s in grants.iter().flat_map(|g| on(g)) {
        if !allowed.contains(&s) {
            allowed.push(s);
        }
    }
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let requested = form.get("scope");
    let mut granted = scope::narrow(requested, &allowed).map_err(TokenError::scope)?;
    if requested.is_none() {
        // As with one API: no scope requested grants the APIs' scopes, no OIDC scopes.
        granted = granted.split(' ').filter(|s| !scope::OIDC_SCOPES.contains(s)).collect::<Vec<_>>().join(" ");
    }
    if !entry.client.allows_grant("refresh_token") {
        granted = scope::without(&granted, "offline_access");
    }
    let targets = grants
        .iter()
        .map(|g| {
            let here = on(g);
            let scope = granted.split(' ').filter(|s| here.iter().any(|h| h == s)).collect::<Vec<_>>().join(" ");
            Target { aud: g.api.clone(), scope }
        })
        .collect();
    Ok((targets, granted))
}
