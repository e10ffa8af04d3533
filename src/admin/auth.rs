//! Who may call the admin API: oauthd's own access tokens (RFC 9068) for the built-in API
//! `urn:oauthd:admin`, checked as a resource server would (RFC 6750 §3.1), with one scope per
//! area and access.

use crate::jwt::verify;
use crate::oauth::scope;
use crate::state::AppState;
use crate::store::{Api, Store};

use super::AdminError;

/// The built-in API whose tokens the admin API takes.
pub const ADMIN_API: &str = "urn:oauthd:admin";

/// Every scope of the admin API: `<area>:read` lists and shows, `<area>:write` changes.
pub const ADMIN_SCOPES: [&str; 12] = [
    "apis:read",
    "apis:write",
    "clients:read",
    "clients:write",
    "users:read",
    "users:write",
    "keys:read",
    "keys:write",
    "trust:read",
    "trust:write",
    "audit:read",
    "sessions:write",
];

/// Who made a change, as the audit log names them.
#[derive(Clone, Debug)]
pub struct Actor {
    /// `client:<client_id>` for an admin token, `local-cli` for the CLI.
    pub id: String,
    scope: String,
}

impl Actor {
    /// The CLI on a machine with the database: it may do everything.
    pub fn local_cli() -> Actor {
        Actor { id: "local-cli".into(), scope: ADMIN_SCOPES.join(" ") }
    }

    /// Refuses the call unless the token carries `needed`.
    pub fn require(&self, needed: &'static str) -> Result<(), AdminError> {
        if scope::contains(&self.scope, needed) {
            Ok(())
        } else {
            Err(AdminError::InsufficientScope(needed))
        }
    }
}

/// Checks a bearer token: ours, unexpired, not revoked, for `urn:oauthd:admin`, of a client
/// that still exists and is enabled (so disabling an admin client ends its access at once).
pub async fn authenticate(app: &AppState, token: Option<&str>) -> Result<Actor, AdminError> {
    let token = token.ok_or(AdminError::MissingToken)?;
    let claims =
        verify::access_token(&app.keys.load(), &app.settings.issuer, token).map_err(AdminError::InvalidToken)?;
    let for_admin = match &claims.aud {
        serde_json::Value::String(a) => a == ADMIN_API,
        serde_json::Value::Array(all) => all.iter().any(|a| a == ADMIN_API),
        _ => false,
    };
    if !for_admin {
        return Err(AdminError::InvalidToken("the token is not for the admin API (aud urn:oauthd:admin)"));
    }
    if app.store.is_jti_revoked(&claims.jti).await? {
        return Err(AdminError::InvalidToken("the token was revoked"));
    }
    // Read through, not from the client cache: a disabled admin client loses access at once.
    match app.store.get_client(&claims.client_id).await? {
        Some(c) if !c.disabled => {}
        _ => return Err(AdminError::InvalidToken("the token's client no longer exists or is disabled")),
    }
    Ok(Actor { id: format!("client:{}", claims.client_id), scope: claims.scope })
}

/// Makes sure the built-in admin API exists, with every admin scope.
pub async fn ensure_admin_api(store: &dyn Store, now: i64) -> anyhow::Result<Api> {
    if let Some(api) = store.get_api(ADMIN_API).await? {
        return Ok(api);
    }
    match super::create_api(store, ADMIN_API, Some("oauthd admin API"), &ADMIN_SCOPES.join(" "), now).await {
        Ok(api) => Ok(api),
        // Another process created it meanwhile.
        Err(_) => store.get_api(ADMIN_API).await?.ok_or_else(|| anyhow::anyhow!("cannot create {ADMIN_API}")),
    }
}
