//! Verifying our own tokens: access tokens (RFC 9068 §4: signature by a published kid, the
//! algorithm of that key (never the header's), `typ: at+jwt`, our issuer, and `exp`) and ID
//! tokens sent back as `id_token_hint` (OIDC RP-Initiated Logout 1.0 §2).

use jsonwebtoken::{decode, decode_header, Validation};
use serde::Deserialize;

use super::keys::Keyring;

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct VerifiedAccess {
    pub iss: String,
    pub sub: String,
    pub aud: serde_json::Value,
    pub client_id: String,
    #[serde(default)]
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default)]
    pub gty: String,
    #[serde(default)]
    pub userinfo_claims: Vec<String>,
    /// RFC 8693 §4.1: the acting party of a delegation token, nested for earlier actors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// RFC 8693 §4.4: who may act for the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

pub fn access_token(ring: &Keyring, issuer: &str, token: &str) -> Result<VerifiedAccess, &'static str> {
    let header = decode_header(token).map_err(|_| "malformed token")?;
    if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
        return Err("not an access token");
    }
    let kid = header.kid.ok_or("token has no kid")?;
    let (key, alg) = ring.verifiers.get(&kid).ok_or("unknown signing key")?;
    let mut v = Validation::new(*alg);
    v.set_issuer(&[issuer]);
    v.validate_aud = false;
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    decode::<VerifiedAccess>(token, key, &v).map(|d| d.claims).map_err(|_| "invalid or expired token")
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    aud: serde_json::Value,
    azp: Option<String>,
}

/// An ID token we issued, sent back as `id_token_hint` (OIDC RP-Initiated Logout 1.0 §2):
/// our signature and issuer, but not `exp`, since hints are usually expired. Returns the
/// subject and the client, taken from `azp` or a single `aud`.
pub fn id_token_hint(ring: &Keyring, issuer: &str, token: &str) -> Result<(String, String), &'static str> {
    let header = decode_header(token).map_err(|_| "malformed token")?;
    // Our ID tokens are `typ: JWT`; an access token (`at+jwt`) is not a hint.
    if header.typ.as_deref() != Some("JWT") {
        return Err("not an ID token");
    }
    let kid = header.kid.ok_or("token has no kid")?;
    let (key, alg) = ring.verifiers.get(&kid).ok_or("unknown signing key")?;
    let mut v = Validation::new(*alg);
    v.set_issuer(&[issuer]);
    v.validate_aud = false;
    v.validate_exp = false;
    v.set_required_spec_claims(&["iss", "sub", "aud"]);
    let c = decode::<HintClaims>(token, key, &v).map_err(|_| "invalid token")?.claims;
    let auds: Vec<&str> = match &c.aud {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => vec![],
    };
    let client = match (c.azp, auds.as_slice()) {
        (Some(azp), _) if auds.contains(&azp.as_str()) => azp,
        (None, [one]) => one.to_string(),
        _ => return Err("the token names no single client"),
    };
    Ok((c.sub, client))
}
