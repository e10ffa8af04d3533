//! Storage: one `Store` trait, a SQLite and a PostgreSQL backend picked by the URL scheme.

mod models;
#[macro_use]
mod sql;
mod postgres;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use models::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (connection refused, pool timeout, shutdown).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness constraint was violated.
    #[error("already exists")]
    Conflict,
    #[error("storage error: {0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error::*;
        match &e {
            PoolTimedOut | PoolClosed | Io(_) | Tls(_) | WorkerCrashed | Protocol(_) => {
                StoreError::Unavailable(e.to_string())
            }
            Database(db) if db.is_unique_violation() => StoreError::Conflict,
            Database(db) => match db.code().as_deref() {
                // PostgreSQL class 08 (connection), 57P01-03 (shutdown, cannot connect now),
                // SQLite 5/6 (busy, locked) all mean "try again", never "your grant is bad".
                Some(c) if c.starts_with("08") || c.starts_with("57P") || c == "5" || c == "6" => {
                    StoreError::Unavailable(e.to_string())
                }
                _ => StoreError::Other(e.to_string()),
            },
            _ => StoreError::Other(e.to_string()),
        }
    }
}

/// Result of trying to rotate a refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The old token was consumed and the new one stored, in one transaction.
    Rotated,
    /// The old token was already used, revoked, expired or belongs to another client.
    Rejected,
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn ping(&self) -> Result<()>;
    /// Open and idle connections in the pool.
    fn pool_state(&self) -> (u32, usize);
    async fn migrate(&self) -> anyhow::Result<()>;

    async fn insert_client(&self, c: &Client) -> Result<()>;
    async fn get_client(&self, id: &str) -> Result<Option<Client>>;
    async fn list_clients(&self) -> Result<Vec<Client>>;
    async fn set_client_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool>;
    async fn set_client_secret(&self, id: &str, hash: &str, now: i64) -> Result<bool>;
    async fn delete_client(&self, id: &str) -> Result<bool>;

    async fn insert_api(&self, api: &Api) -> Result<()>;
    async fn get_api(&self, identifier: &str) -> Result<Option<Api>>;
    async fn list_apis(&self) -> Result<Vec<Api>>;
    async fn upsert_client_grant(&self, client_id: &str, api: &str, scopes: &str) -> Result<()>;
    async fn client_grants(&self, client_id: &str) -> Result<Vec<ClientGrant>>;

    async fn insert_key(&self, k: &KeyRecord) -> Result<()>;
    async fn list_keys(&self) -> Result<Vec<KeyRecord>>;
    /// Marks every key of `alg` but `kid` as retired at `now` (retired keys keep their time).
    async fn retire_keys_except(&self, kid: &str, alg: &str, now: i64) -> Result<()>;
    /// Replaces a key's stored private key, only if it still holds `old` (two instances sealing
    /// the same key at once both succeed or leave the other's result). True when replaced.
    async fn replace_private_der(&self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool>;

    async fn insert_user(&self, u: &User) -> Result<()>;
    async fn get_user(&self, id: &str) -> Result<Option<User>>;
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn set_password_hash(&self, id: &str, hash: &str, now: i64) -> Result<bool>;
    async fn set_user_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool>;
    async fn delete_user(&self, id: &str) -> Result<bool>;
    /// Atomically reserves one of the window's `threshold` attempts for `username` and returns the
    /// user; `None` when the user is unknown, locked, or every attempt of the window is used up
    /// (failed, or still being checked).
    async fn reserve_login_attempt(&self, username: &str, p: &LockoutPolicy) -> Result<Option<User>>;
    /// After a failed attempt: locks the account for the window if its failures reached the
    /// threshold. True when this call locked it.
    async fn lock_if_over_threshold(&self, id: &str, p: &LockoutPolicy) -> Result<bool>;
    async fn reset_login_attempts(&self, id: &str) -> Result<()>;

    /// Stores the first token of a new family.
    async fn insert_refresh_family(&self, first: &RefreshToken) -> Result<()>;
    async fn find_refresh_token(&self, hash: &str) -> Result<Option<RefreshToken>>;
    /// Consumes `old_hash` (if unused, unexpired, of `client_id`, family not revoked) and stores
    /// `new` in one transaction.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        client_id: &str,
        now: i64,
        new: &RefreshToken,
    ) -> Result<Rotation>;
    async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> Result<()>;
    async fn revoke_user_refresh_tokens(&self, user_id: &str, now: i64) -> Result<()>;
    async fn revoke_client_refresh_tokens(&self, client_id: &str, now: i64) -> Result<()>;

    /// Origins any enabled client may call the token endpoint from (CORS).
    async fn all_allowed_origins(&self) -> Result<Vec<String>>;

    async fn insert_code(&self, c: &AuthCode) -> Result<()>;
    async fn find_code(&self, hash: &str) -> Result<Option<AuthCode>>;
    /// Consumes an unused, unexpired code and stores what was issued from it, in one
    /// transaction. `false` when the code was already used (or expired) by then.
    async fn redeem_code(&self, hash: &str, now: i64, r: &Redemption<'_>) -> Result<bool>;
    /// A code was presented twice: revoke the refresh family and access token issued from it.
    async fn revoke_code_tokens(&self, hash: &str, now: i64) -> Result<()>;
    async fn is_jti_revoked(&self, jti: &str) -> Result<bool>;
    /// Adds an access token to the deny list until it would have expired anyway.
    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()>;

    async fn insert_session(&self, s: &Session) -> Result<()>;
    async fn get_session(&self, hash: &str) -> Result<Option<Session>>;
    async fn delete_session(&self, hash: &str) -> Result<()>;

    /// The scopes `user_id` allowed `client_id` on API `audience`, space-separated; `None` if never asked.
    async fn get_consent(&self, user_id: &str, client_id: &str, audience: &str) -> Result<Option<String>>;
    /// Adds `scope` to what the user allowed the client on `audience`; earlier grants stay.
    async fn grant_consent(&self, user_id: &str, client_id: &str, audience: &str, scope: &str, now: i64) -> Result<()>;

    async fn insert_issuer(&self, i: &TrustedIssuer) -> Result<()>;
    async fn get_issuer(&self, issuer: &str) -> Result<Option<TrustedIssuer>>;
    async fn list_issuers(&self) -> Result<Vec<TrustedIssuer>>;
    async fn set_issuer_enabled(&self, issuer: &str, enabled: bool) -> Result<bool>;
    async fn delete_issuer(&self, issuer: &str) -> Result<bool>;
    /// Records a `jti` for `issuer` until `expires_at`; `false` if it was already there (replay).
    async fn use_jti(&self, issuer: &str, jti: &str, expires_at: i64) -> Result<bool>;
    /// Whether `jti` is recorded for `issuer`, without recording it (the `trust check` dry run).
    async fn jti_seen(&self, issuer: &str, jti: &str) -> Result<bool>;
    async fn link_user(&self, issuer: &str, subject: &str, user_id: &str, now: i64) -> Result<()>;
    async fn linked_user(&self, issuer: &str, subject: &str) -> Result<Option<String>>;

    /// Deletes what can no longer matter: expired jtis, deny-list entries, codes, sessions, and
    /// refresh families past their absolute lifetime or revoked over a day ago. Returns the rows.
    async fn purge_expired(&self, now: i64) -> Result<u64>;
}

/// Connects to the backend named by the URL scheme.
pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, timeout).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url, timeout).await?))
    } else {
        anyhow::bail!("unsupported database_url scheme (use sqlite:// or postgres://)")
    }
}
