//! Storage: one `Store` trait, a SQLite and a PostgreSQL backend picked by the URL scheme.

mod changes;
mod deadline;
mod models;
pub mod tx;
#[macro_use]
mod oidc_sql;
#[macro_use]
mod admin_sql;
#[macro_use]
mod refresh_sql;
#[macro_use]
mod sql;
mod postgres;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use changes::{Change, Changes};
pub use deadline::{metered, Deadline};
pub use models::*;

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (connection refused, pool timeout, shutdown,
    /// busy, deadlock, out of resources, a call past its deadline): the caller may retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness constraint was violated.
    #[error("already exists")]
    Conflict,
    /// The database refused a value (PostgreSQL class 22, e.g. NUL in text): the request is at
    /// fault, and retrying it cannot help.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("storage error: {0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What a database error code means to the caller.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    Retry,
    BadInput,
    Other,
}

/// Classifies a SQLite result code. sqlx reports extended codes (261 = BUSY_RECOVERY,
/// 517 = BUSY_SNAPSHOT, 262 = LOCKED_SHAREDCACHE, …); the primary code is the low byte.
fn classify_sqlite(code: &str) -> Class {
    match code.parse::<i32>().map(|n| n % 256) {
        Ok(5 | 6) => Class::Retry, // busy, locked
        _ => Class::Other,
    }
}

/// Classifies a PostgreSQL SQLSTATE.
fn classify_pg(code: &str) -> Class {
    match code {
        // Connection (08), insufficient resources (53, e.g. 53300 too many connections),
        // shutdown and cannot-connect-now (57P), statement_timeout (57014), lock_timeout
        // (55P03), serialization failure (40001) and deadlock (40P01): all "try again".
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") => Class::Retry,
        "57014" | "55P03" | "40001" | "40P01" => Class::Retry,
        // Data exceptions: a value from the request the database cannot take (22021: NUL).
        c if c.starts_with("22") => Class::BadInput,
        _ => Class::Other,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error::*;
        match &e {
            PoolTimedOut | PoolClosed | Io(_) | Tls(_) | WorkerCrashed | Protocol(_) => {
                StoreError::Unavailable(e.to_string())
            }
            Database(db) if db.is_unique_violation() => StoreError::Conflict,
            Database(db) => {
                let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
                let classify = if sqlite { classify_sqlite } else { classify_pg };
                match db.code().as_deref().map(classify) {
                    Some(Class::Retry) => StoreError::Unavailable(e.to_string()),
                    Some(Class::BadInput) => StoreError::InvalidInput(e.to_string()),
                    _ => StoreError::Other(e.to_string()),
                }
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn ping(&self) -> Result<()>;
    /// Open and idle connections in the pool.
    fn pool_state(&self) -> (u32, usize);
    async fn migrate(&self) -> anyhow::Result<()>;
    /// Change events for the caches: this store's own writes to clients, their grants and trusted
    /// issuers, and on PostgreSQL every such write by anyone. `None` when there are none.
    async fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        None
    }

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
    /// Retires every unretired key of `alg` but the newest.
    async fn retire_all_but_newest(&self, alg: &str, now: i64) -> Result<()>;
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
    /// After a wrong password for an unlocked account: counts the failure in the window and, when
    /// the count reaches the threshold, locks the account for the window, in one statement. A
    /// locked account's count is left alone. True when this call locked it.
    async fn record_login_failure(&self, id: &str, p: &LockoutPolicy) -> Result<bool>;
    /// After a right password: clears the failure count, unless the account is locked by now
    /// (other attempts locked it while this one was being checked). False when locked: the login
    /// must then be refused.
    async fn record_login_success(&self, id: &str, now: i64) -> Result<bool>;

    /// Stores a new family with its first token.
    async fn insert_refresh_family(&self, f: &RefreshFamily) -> Result<()>;
    async fn get_refresh_family(&self, id: &str) -> Result<Option<RefreshFamily>>;
    /// Rotates in one statement, if the family is live, of the client, and the presented token
    /// is its current one or the one rotated last within the grace: the new secret becomes the
    /// current one, under a new generation, which is returned. `None` when another request
    /// changed the family first, or it ended.
    async fn rotate_refresh_family(&self, r: &Rotation<'_>) -> Result<Option<i64>>;
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
    /// Whether the access token `jti` is denied: on the deny list, or minted in a revoked family.
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

    /// Deletes what can no longer matter, in bounded batches: expired jtis, deny-list entries,
    /// codes, sessions, and refresh families that ended (revoked or expired) once their last
    /// access token expired. Returns the rows.
    async fn purge_expired(&self, now: i64) -> Result<u64>;

    /// Sets the user's email and the other OIDC Core §5.1 claims (a JSON object).
    async fn set_user_claims(
        &self,
        id: &str,
        email: Option<&str>,
        email_verified: bool,
        claims: &str,
        now: i64,
    ) -> Result<bool>;
    /// Records that `client_id` got a code in session `sid`, so that its logout reaches the client.
    async fn add_session_client(&self, sid: &str, client_id: &str) -> Result<()>;
    /// Ends the session with cookie digest `hash`, queueing back-channel logout tokens for its
    /// clients in the same transaction. Returns how many were queued.
    async fn end_session(&self, hash: &str, now: i64) -> Result<u64>;
    /// Ends every session of the user, as `end_session` does.
    async fn end_user_sessions(&self, user_id: &str, now: i64) -> Result<u64>;
    /// Claims up to `limit` deliveries due at `now`, each until `lease_until`.
    async fn claim_logout_deliveries(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<LogoutDelivery>>;
    async fn finish_logout_delivery(&self, id: &str) -> Result<()>;
    async fn retry_logout_delivery(&self, id: &str, attempts: i64, next_attempt_at: i64) -> Result<()>;

    /// A page of clients ordered by id, after `f.after`, with the filters applied.
    async fn list_clients_page(&self, f: &ClientFilter) -> Result<Vec<Client>>;
    /// Writes the client's changeable fields, only if its `updated_at` is still
    /// `expected_updated_at` (no other change came between read and write). True when written.
    async fn update_client(&self, c: &Client, expected_updated_at: i64) -> Result<bool>;
    /// A page of users ordered by id, after `after`.
    async fn list_users_page(&self, after: &str, limit: i64) -> Result<Vec<User>>;
    async fn insert_audit(&self, e: &AuditEvent) -> Result<()>;
    /// Events newest first, with ids below `before` ('' = from the newest), of `target` ('' = any).
    async fn list_audit(&self, before: &str, target: &str, limit: i64) -> Result<Vec<AuditEvent>>;
    /// Deletes audit events older than `audit_before` and idempotency keys older than `keys_before`.
    async fn purge_admin(&self, audit_before: i64, keys_before: i64) -> Result<u64>;
    /// Reserves `key` for `actor` in one insert; false when it was already there.
    async fn reserve_idempotency_key(&self, actor: &str, key: &str, request_hash: &str, now: i64) -> Result<bool>;
    async fn get_idempotency_key(&self, actor: &str, key: &str) -> Result<Option<IdempotencyRecord>>;
    async fn finish_idempotency_key(&self, actor: &str, key: &str, status: i64, body: &str) -> Result<()>;
    /// Drops a reservation whose request failed, so that it can be retried.
    async fn release_idempotency_key(&self, actor: &str, key: &str) -> Result<()>;
    /// A user's consents, one row per scope (and an empty-scope row per client and API).
    async fn list_consents(&self, user_id: &str) -> Result<Vec<Consent>>;
    async fn delete_consents(&self, user_id: &str, client_id: &str) -> Result<u64>;
    /// Live refresh families of a user and/or client ('' = any).
    async fn list_refresh_families(&self, user_id: &str, client_id: &str, now: i64) -> Result<Vec<RefreshFamily>>;
    async fn list_user_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>>;
}

/// Connects to the backend named by the URL scheme. `timeout` bounds getting a connection
/// and, on PostgreSQL, each statement (`statement_timeout`); SQLite waits as long for a lock.
pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, timeout).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url, timeout).await?))
    } else {
        anyhow::bail!("unsupported database_url scheme (use sqlite:// or postgres://)")
    }
}

/// Connects and migrates, with errors that name `database_url` (its password redacted).
pub async fn open(url: &str, timeout: Duration) -> anyhow::Result<Arc<dyn Store>> {
    use anyhow::Context;
    let store =
        connect(url, timeout).await.with_context(|| format!("cannot connect to database_url {}", redact(url)))?;
    store.migrate().await.with_context(|| format!("cannot migrate the database at database_url {}", redact(url)))?;
    Ok(store)
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => url.to_string(),
        // Unparseable: print nothing that could be a credential.
        Err(_) if url.contains('@') => "<unparseable URL>".into(),
        Err(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_sqlite_codes_are_retryable_in_every_extended_form() {
        for code in ["5", "6", "261", "517", "773", "262", "518"] {
            assert_eq!(classify_sqlite(code), Class::Retry, "{code}");
        }
        for code in ["1", "19", "2067", "1555", "11"] {
            assert_eq!(classify_sqlite(code), Class::Other, "{code}");
        }
    }

    #[test]
    fn postgres_outages_conflicts_and_overload_are_retryable_and_data_errors_are_bad_input() {
        for code in ["08006", "08001", "53300", "53200", "57P01", "57P03", "57014", "55P03", "40001", "40P01"] {
            assert_eq!(classify_pg(code), Class::Retry, "{code}");
        }
        for code in ["22021", "22P02", "22001"] {
            assert_eq!(classify_pg(code), Class::BadInput, "{code}");
        }
        for code in ["23503", "42P01", "XX000", "5", "261"] {
            assert_eq!(classify_pg(code), Class::Other, "{code}");
        }
    }

    #[test]
    fn passwords_never_appear_in_a_redacted_url() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/oauthd"), "postgres://app:***@db:5432/oauthd");
        assert_eq!(redact("postgres://app@db/oauthd"), "postgres://app@db/oauthd");
        assert_eq!(redact("sqlite://data/oauthd.db"), "sqlite://data/oauthd.db");
        assert!(!redact("postgres://app:s3cret@[bad").contains("s3cret"));
    }
}
