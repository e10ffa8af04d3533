//! A store wrapper for cache tests: it counts which clients are loaded from the database, and can
//! play a database outage (every call fails as unreachable).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use oauthd::store::*;
use oauthd::{App, AppState, Settings};

use crate::helpers::TestApp;

pub struct Probe {
    inner: Arc<dyn Store>,
    down: AtomicBool,
    client_loads: Mutex<Vec<String>>,
}

impl Probe {
    /// A store whose database is gone from the start: every call fails as unreachable.
    pub fn down(inner: Arc<dyn Store>) -> Arc<Probe> {
        Arc::new(Probe { inner, down: AtomicBool::new(true), client_loads: Mutex::default() })
    }

    /// How many times `id` was read from the database.
    pub fn loads(&self, id: &str) -> usize {
        self.client_loads.lock().unwrap().iter().filter(|c| *c == id).count()
    }

    /// While set, every call fails as `StoreError::Unavailable`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn up(&self) -> Result<()> {
        match self.down.load(Ordering::SeqCst) {
            true => Err(StoreError::Unavailable("the probe plays an outage".into())),
            false => Ok(()),
        }
    }
}

/// A second server on `t`'s database (same keys), whose store is a `Probe`. Returns its base URL.
pub async fn probed(t: &TestApp, tweak: impl FnOnce(&mut Settings)) -> (String, Arc<Probe>, App) {
    let probe =
        Arc::new(Probe { inner: t.app.store.clone(), down: AtomicBool::new(false), client_loads: Mutex::default() });
    let mut settings = (*t.app.settings).clone();
    tweak(&mut settings);
    let state = AppState::assemble(settings, probe.clone(), t.app.keys.load_full(), t.app.passwords.clone(), None);
    let app: App = Arc::new(state.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(oauthd::serve(listener, app.clone()));
    (base, probe, app)
}

macro_rules! delegate {
    ($($f:ident($($a:ident: $t:ty),*) -> $r:ty;)*) => {
        #[async_trait]
        impl Store for Probe {
            $(async fn $f(&self, $($a: $t),*) -> Result<$r> {
                self.up()?;
                self.inner.$f($($a),*).await
            })*

            async fn get_client(&self, id: &str) -> Result<Option<Client>> {
                self.up()?;
                self.client_loads.lock().unwrap().push(id.to_string());
                self.inner.get_client(id).await
            }

            fn pool_state(&self) -> (u32, usize) {
                self.inner.pool_state()
            }

            async fn migrate(&self) -> anyhow::Result<()> {
                Ok(())
            }
        }
    };
}

delegate! {
    set_user_claims(id: &str, email: Option<&str>, email_verified: bool, claims: &str, now: i64) -> bool;
    add_session_client(sid: &str, client_id: &str) -> ();
    end_session(hash: &str, now: i64) -> u64;
    end_user_sessions(user_id: &str, now: i64) -> u64;
    claim_logout_deliveries(now: i64, lease_until: i64, limit: i64) -> Vec<LogoutDelivery>;
    finish_logout_delivery(id: &str) -> ();
    retry_logout_delivery(id: &str, attempts: i64, next_attempt_at: i64) -> ();
    purge_expired(now: i64) -> u64;
    ping() -> ();
    insert_client(c: &Client) -> ();
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
