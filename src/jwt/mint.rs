//! Minting: RFC 9068 JWT access tokens (`typ: at+jwt`), OIDC Core §2 ID tokens (`typ: JWT`) and
//! Back-Channel Logout 1.0 §2.4 logout tokens (`typ: logout+jwt`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::keys::SigningKey;

#[derive(Debug, Serialize)]
pub struct AccessClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub client_id: &'a str,
    pub azp: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub scope: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub gty: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// For jwt-bearer: the trusted issuer whose assertion this token was exchanged for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp: Option<&'a str>,
    /// Claims the OIDC `claims` request parameter asked /userinfo for (OIDC Core §5.5), beyond
    /// those of the scopes: /userinfo has only the token to go by.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub userinfo_claims: &'a [String],
    /// RFC 8693 §4.1: who acts for `sub` (token exchange with an actor token), nested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<&'a serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct IdClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub azp: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<[&'a str; 1]>,
    /// The SSO session (OIDC Back-Channel Logout 1.0 §2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    #[serde(flatten)]
    pub profile: serde_json::Map<String, serde_json::Value>,
}

/// OIDC Back-Channel Logout 1.0 §2.4.
#[derive(Debug, Serialize)]
pub struct LogoutClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub events: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
}

#[derive(Clone, Copy)]
pub enum Typ {
    AccessToken,
    IdToken,
    /// `logout+jwt`, Back-Channel Logout 1.0 §2.4.
    LogoutToken,
}

/// Serialises `claims` and signs them with `key`. The header is built from the key itself.
pub fn sign<T: Serialize>(key: &SigningKey, typ: Typ, claims: &T) -> anyhow::Result<String> {
    let typ = match typ {
        Typ::AccessToken => "at+jwt",
        Typ::IdToken => "JWT",
        Typ::LogoutToken => "logout+jwt",
    };
    let header = format!(r#"{{"alg":"{}","typ":"{}","kid":"{}"}}"#, key.alg.as_str(), typ, key.kid);
    let payload = serde_json::to_vec(claims)?;
    let mut input = String::with_capacity(64 + payload.len() * 4 / 3 + 400);
    B64.encode_string(header, &mut input);
    input.push('.');
    B64.encode_string(payload, &mut input);
    key.sign_compact(input)
}

/// OIDC Core §3.1.3.6: the left half of the SHA-256 of the access token, base64url.
/// (SHA-256 fits every alg we sign with: RS256, ES256 and, by common practice, EdDSA.)
pub fn at_hash(access_token: &str) -> String {
    let d = Sha256::digest(access_token.as_bytes());
    B64.encode(&d[..16])
}

/// A fresh random identifier for `jti`.
pub fn new_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
