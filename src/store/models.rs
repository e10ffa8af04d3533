//! Rows as the store returns them. Lists are stored as space-separated text.

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub public: bool,
    pub grant_types: String,
    pub redirect_uris: String,
    pub allowed_origins: String,
    pub first_party: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub post_logout_redirect_uris: String,
    /// `private_key_jwt`, or empty for the secret-based methods.
    pub auth_method: String,
    pub jwks_uri: Option<String>,
    pub jwks_json: Option<String>,
}

impl Client {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.split(' ').any(|g| g == grant)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Api {
    pub identifier: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientGrant {
    pub api: String,
    pub scopes: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_der: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub username: String,
    pub username_lower: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub failed_count: i64,
    pub failed_window_start: i64,
    pub locked_until: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Brute-force policy applied by `Store::reserve_login_attempt`.
#[derive(Clone, Copy, Debug)]
pub struct LockoutPolicy {
    pub now: i64,
    pub window: i64,
    pub threshold: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshToken {
    pub hash: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub audience: String,
    pub gty: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub family_expires_at: i64,
    pub used_at: Option<i64>,
    /// The access token minted together with this refresh token, denied when the family is revoked.
    pub access_jti: Option<String>,
    pub access_exp: Option<i64>,
    /// Read from the family; ignored on insert.
    #[sqlx(default)]
    pub family_revoked: bool,
}

/// An authorization code (RFC 6749 §4.1.2) and everything it is bound to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuthCode {
    pub hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub code_challenge: Option<String>,
    pub scope: String,
    pub audience: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub access_jti: Option<String>,
    pub access_exp: Option<i64>,
    pub family_id: Option<String>,
}

/// A signed-in browser (SSO session); the cookie carries the token, the row its hash.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Session {
    pub hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What a successful code redemption stores in the same transaction as consuming the code.
#[derive(Debug)]
pub struct Redemption<'a> {
    pub access_jti: &'a str,
    pub access_exp: i64,
    pub refresh: Option<&'a RefreshToken>,
}

/// An identity provider whose JWTs the jwt-bearer grant accepts (RFC 7523 §3).
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub alias: String,
    pub jwks_uri: Option<String>,
    pub jwks_json: Option<String>,
    /// `any`, a space-separated list, or globs with `*`.
    pub subjects: String,
    pub scope: String,
    pub audience: Option<String>,
    /// `link`, `passthrough` or `provision`.
    pub map: String,
    pub max_age: i64,
    pub require_jti: bool,
    /// `required` or `optional`.
    pub client_auth: String,
    pub enabled: bool,
    pub created_at: i64,
}
