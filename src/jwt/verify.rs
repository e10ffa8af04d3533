//! Verifying our own access tokens (RFC 9068 §4): signature by a published kid, the algorithm
//! of that key (never the header's), `typ: at+jwt`, our issuer, and `exp`.

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
