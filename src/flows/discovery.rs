//! Authorization server metadata, RFC 8414 §2, served also as OIDC Discovery 1.0 §3, and the
//! published key set (RFC 7517 §5).

use serde_json::{json, Value};

use crate::clock::now;
use crate::flows::grants::GrantType;
use crate::jwt::keys::public_jwks;
use crate::oauth::claims;
use crate::oauth::scope::OIDC_SCOPES;
use crate::state::AppState;

/// Algorithms accepted on client assertions (private_key_jwt).
const ASSERTION_ALGS: [&str; 9] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// The metadata document of `app`'s issuer. The scopes of every API are listed; while the
/// database is unreachable, only the OIDC scopes are.
pub async fn metadata(app: &AppState) -> Value {
    let iss = &app.settings.issuer;
    let mut scopes: Vec<String> = OIDC_SCOPES.iter().map(|s| s.to_string()).collect();
    if let Ok(apis) = app.store.list_apis().await {
        for s in apis.iter().flat_map(|a| a.scopes.split(' ')).filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_string());
            }
        }
    }
    json!({
        "issuer": iss,
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "authorization_endpoint": format!("{iss}/authorize"),
        "end_session_endpoint": format!("{iss}/logout"),
        "device_authorization_endpoint": format!("{iss}/device_authorization"),
        "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint": format!("{iss}/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint": format!("{iss}/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "scopes_supported": scopes,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": claims::supported(),
        "claims_parameter_supported": true,
        "claim_types_supported": ["normal"],
        "acr_values_supported": [claims::ACR_PASSWORD],
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}

/// The public keys: read from the database so a key rotated by another instance or the CLI is
/// published at once; the in-memory set while the database is unreachable.
pub async fn jwks(app: &AppState) -> Value {
    match app.store.list_keys().await {
        Ok(records) => public_jwks(&records, now(), app.settings.key_publish_window()),
        Err(_) => (*app.keys.load().jwks).clone(),
    }
}
