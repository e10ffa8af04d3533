//! Changing a registered client: a JSON Merge Patch (RFC 7396) on its representation, checked by
//! the same rules as registration, written only if nobody changed the client since it was read.

use serde_json::Value;

use super::clients::{self, NewClient};
use super::patch::{self, check_if_match, refuse_changes};
use super::AdminError;
use crate::store::{Client, Store};

/// Members of the representation that only the server sets, or that other calls change.
const READ_ONLY: [&str; 8] =
    ["client_id", "public", "token_endpoint_auth_method", "jwks_uri", "origin", "apis", "created_at", "updated_at"];

/// What a patch may change.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Editable {
    name: String,
    grant_types: Vec<String>,
    redirect_uris: Vec<String>,
    allowed_origins: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    first_party: bool,
    require_pkce: bool,
    #[serde(default)]
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    disabled: bool,
}

/// Applies `patch` to client `id` when `if_match` (if given) names its current ETag. Returns the
/// representation before and the client after. Disabling revokes the client's refresh tokens.
pub async fn update(
    store: &dyn Store,
    id: &str,
    merge_patch: &Value,
    if_match: Option<&str>,
    allow_http_loopback_backchannel: bool,
    now: i64,
) -> Result<(Value, Client), AdminError> {
    let old = store.get_client(id).await?.ok_or_else(|| AdminError::not_found(format!("client with id {id}")))?;
    let before = clients::to_json(store, &old, None).await?;
    check_if_match(if_match, &patch::etag(&before))?;
    let mut after = before.clone();
    patch::merge(&mut after, merge_patch);
    if !after.is_object() {
        return Err(AdminError::Invalid("a client patch must be a JSON object".into()));
    }
    refuse_changes(&before, &after, &READ_ONLY)?;
    if let Value::Object(m) = &mut after {
        for k in READ_ONLY {
            m.remove(k);
        }
    }
    let e: Editable =
        serde_path_to_error::deserialize(after).map_err(|err| AdminError::Invalid(format!("invalid client: {err}")))?;
    if old.public && !e.require_pkce {
        return Err(AdminError::Invalid("a public client always requires PKCE".into()));
    }
    let (_, grants, _) = clients::check(&NewClient {
        name: e.name.clone(),
        grants: e.grant_types.clone(),
        public: old.public,
        id: Some(old.id.clone()),
        redirect_uris: e.redirect_uris.clone(),
        allowed_origins: e.allowed_origins.clone(),
        post_logout_redirect_uris: e.post_logout_redirect_uris.clone(),
        auth_method: old.auth_method.as_str().to_string(),
        jwks_uri: old.jwks_uri.clone(),
        jwks_json: old.jwks_json.clone(),
        // The key set was checked when it was registered, and a patch cannot change it.
        allow_http_loopback_jwks: true,
        backchannel_logout_uri: e.backchannel_logout_uri.clone(),
        allow_http_loopback_backchannel,
        ..NewClient::default()
    })?;
    let new = Client {
        name: e.name,
        grant_types: grants.join(" "),
        redirect_uris: e.redirect_uris.join(" "),
        allowed_origins: e.allowed_origins.join(" "),
        post_logout_redirect_uris: e.post_logout_redirect_uris.join(" "),
        first_party: e.first_party,
        require_pkce: e.require_pkce && !old.public,
        backchannel_logout_uri: e.backchannel_logout_uri,
        backchannel_logout_session_required: e.backchannel_logout_session_required,
        disabled: e.disabled,
        // Strictly later, so that the next ETag differs and the write below is guarded.
        updated_at: now.max(old.updated_at + 1),
        ..old.clone()
    };
    if !store.update_client(&new, old.updated_at).await? {
        return Err(AdminError::PreconditionFailed);
    }
    if new.disabled && !old.disabled {
        store.revoke_client_refresh_tokens(id, now).await?;
    }
    Ok((before, new))
}
