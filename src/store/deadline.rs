//! A deadline on the server's storage calls. `acquire_timeout` only bounds getting a
//! connection, and `statement_timeout` only helps while the server still answers; a black-holed
//! peer would hold a request forever. Here every call gets at most `db_timeout_ms`, and, inside
//! a request run through `metered`, all of the request's calls together get no more: a request
//! that serves a cached client after a failed reload cannot then wait once again. Past it the
//! call fails as `StoreError::Unavailable` (503).

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::*;

/// The background purge may delete a large backlog: it gets longer than a request.
const PURGE_LIMIT: Duration = Duration::from_secs(60);

pub struct Deadline {
    inner: Arc<dyn Store>,
    limit: Duration,
}

impl Deadline {
    pub fn wrap(inner: Arc<dyn Store>, limit: Duration) -> Arc<dyn Store> {
        Arc::new(Deadline { inner, limit })
    }
}

tokio::task_local! {
    /// Time the current request has spent waiting on the database.
    static SPENT: Cell<Duration>;
}

/// Runs a request with its own database time account.
pub async fn metered<F: std::future::Future>(f: F) -> F::Output {
    SPENT.scope(Cell::new(Duration::ZERO), f).await
}

async fn bounded<T>(limit: Duration, what: &str, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let left = SPENT.try_with(|s| limit.saturating_sub(s.get())).unwrap_or(limit);
    if left.is_zero() {
        return Err(StoreError::Unavailable(format!("{what}: the request used up its database time")));
    }
    let started = Instant::now();
    let result = tokio::time::timeout(left, f).await;
    let _ = SPENT.try_with(|s| s.set(s.get() + started.elapsed()));
    result.unwrap_or_else(|_| Err(StoreError::Unavailable(format!("{what} took longer than {} ms", left.as_millis()))))
}

macro_rules! bounded_store {
    ($($f:ident($($a:ident: $t:ty),*) -> $r:ty;)*) => {
        #[async_trait]
        impl Store for Deadline {
            $(async fn $f(&self, $($a: $t),*) -> Result<$r> {
                bounded(self.limit, stringify!($f), self.inner.$f($($a),*)).await
            })*

            fn pool_state(&self) -> (u32, usize) {
                self.inner.pool_state()
            }

            async fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
                self.inner.changes().await
            }

            // Migrations run once at start-up and may legitimately take long.
            async fn migrate(&self) -> anyhow::Result<()> {
                self.inner.migrate().await
            }

            async fn purge_expired(&self, now: i64) -> Result<u64> {
                bounded(PURGE_LIMIT, "purge_expired", self.inner.purge_expired(now)).await
            }
        }
    };
}

bounded_store! {
    ping() -> ();
    insert_client(c: &Client) -> ();
    get_client(id: &str) -> Option<Client>;
    list_clients() -> Vec<Client>;
    set_client_disabled(id: &str, disabled: bool, now: i64) -> bool;
    set_client_secret(id: &str, hash: &str, now: i64) -> bool;
    delete_client(id: &str) -> bool;
    insert_api(api: &Api) -> ();
    get_api(identifier: &str) -> Option<Api>;
    list_apis() -> Vec<Api>;
    upsert_client_grant(client_id: &str, api: &str, scopes: &str) -> ();
    client_grants(client_id: &str) -> Vec<ClientGrant>;
    insert_key(k: &KeyRecord) -> ();
    list_keys() -> Vec<KeyRecord>;
    retire_all_but_newest(alg: &str, now: i64) -> ();
    replace_private_der(kid: &str, old: &[u8], new: &[u8]) -> bool;
    insert_user(u: &User) -> ();
    get_user(id: &str) -> Option<User>;
    find_user_by_username(username: &str) -> Option<User>;
    list_users() -> Vec<User>;
    set_password_hash(id: &str, hash: &str, now: i64) -> bool;
    set_user_disabled(id: &str, disabled: bool, now: i64) -> bool;
    delete_user(id: &str) -> bool;
    record_login_failure(id: &str, p: &LockoutPolicy) -> bool;
    record_login_success(id: &str, now: i64) -> bool;
    insert_refresh_family(f: &RefreshFamily) -> ();
    get_refresh_family(id: &str) -> Option<RefreshFamily>;
    rotate_refresh_family(r: &Rotation<'_>) -> Option<i64>;
    revoke_refresh_family(family_id: &str, now: i64) -> ();
    revoke_user_refresh_tokens(user_id: &str, now: i64) -> ();
    revoke_client_refresh_tokens(client_id: &str, now: i64) -> ();
    all_allowed_origins() -> Vec<String>;
    insert_code(c: &AuthCode) -> ();
    find_code(hash: &str) -> Option<AuthCode>;
    redeem_code(hash: &str, now: i64, r: &Redemption<'_>) -> bool;
    revoke_code_tokens(hash: &str, now: i64) -> ();
    is_jti_revoked(jti: &str) -> bool;
    revoke_jti(jti: &str, expires_at: i64) -> ();
    insert_session(s: &Session) -> ();
    get_session(hash: &str) -> Option<Session>;
    delete_session(hash: &str) -> ();
    get_consent(user_id: &str, client_id: &str, audience: &str) -> Option<String>;
    grant_consent(user_id: &str, client_id: &str, audience: &str, scope: &str, now: i64) -> ();
    insert_issuer(i: &TrustedIssuer) -> ();
    get_issuer(issuer: &str) -> Option<TrustedIssuer>;
    list_issuers() -> Vec<TrustedIssuer>;
    set_issuer_enabled(issuer: &str, enabled: bool) -> bool;
    delete_issuer(issuer: &str) -> bool;
    use_jti(issuer: &str, jti: &str, expires_at: i64) -> bool;
    jti_seen(issuer: &str, jti: &str) -> bool;
    link_user(issuer: &str, subject: &str, user_id: &str, now: i64) -> ();
    linked_user(issuer: &str, subject: &str) -> Option<String>;
    set_user_claims(id: &str, email: Option<&str>, email_verified: bool, claims: &str, now: i64) -> bool;
    add_session_client(sid: &str, client_id: &str) -> ();
    end_session(hash: &str, now: i64) -> u64;
    end_user_sessions(user_id: &str, now: i64) -> u64;
    claim_logout_deliveries(now: i64, lease_until: i64, limit: i64) -> Vec<LogoutDelivery>;
    finish_logout_delivery(id: &str) -> ();
    retry_logout_delivery(id: &str, attempts: i64, next_attempt_at: i64) -> ();
    list_clients_page(f: &ClientFilter) -> Vec<Client>;
    update_client(c: &Client, expected_updated_at: i64) -> bool;
    list_users_page(after: &str, limit: i64) -> Vec<User>;
    insert_audit(e: &AuditEvent) -> ();
    list_audit(before: &str, target: &str, limit: i64) -> Vec<AuditEvent>;
    purge_admin(audit_before: i64, keys_before: i64) -> u64;
    reserve_idempotency_key(actor: &str, key: &str, request_hash: &str, now: i64) -> bool;
    get_idempotency_key(actor: &str, key: &str) -> Option<IdempotencyRecord>;
    finish_idempotency_key(actor: &str, key: &str, status: i64, body: &str) -> ();
    release_idempotency_key(actor: &str, key: &str) -> ();
    list_consents(user_id: &str) -> Vec<Consent>;
    delete_consents(user_id: &str, client_id: &str) -> u64;
    list_refresh_families(user_id: &str, client_id: &str, now: i64) -> Vec<RefreshFamily>;
    list_user_sessions(user_id: &str, now: i64) -> Vec<Session>;
}
