//! Application state shared by every flow: settings, the store, signing keys, the hot-path caches
//! (clients, trusted issuers, origins, remote key sets), password hashing and the limits. No HTTP types.

pub mod cache;
pub mod limits;
pub mod login_gate;
pub mod throttle;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use crate::clock::now;
use crate::config::Settings;
use crate::jwt::kek::Kek;
use crate::jwt::keys::{self, Keyring};
use crate::jwt::remote_jwks::JwksCache;
use crate::net::{Outbound, Policy};
use crate::password::{self, Passwords};
use crate::store::{Change, Client, ClientGrant, Store, StoreError, TrustedIssuer};
use cache::ReadThrough;
use limits::Limits;
use login_gate::LoginGate;
use throttle::Throttle;

pub type App = Arc<AppState>;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub keys: ArcSwap<Keyring>,
    pub clients: ClientCache,
    pub passwords: Passwords,
    pub ip_failures: Throttle,
    pub login_gate: LoginGate,
    pub origins: OriginCache,
    pub issuers: ReadThrough<TrustedIssuer>,
    pub jwks: JwksCache,
    pub kek: Option<Kek>,
    pub limits: Limits,
    /// Outbound HTTP to client-registered URLs (back-channel logout), SSRF-hardened.
    pub outbound: Outbound,
    /// Wakes the back-channel logout delivery at once when a logout queued tokens.
    pub logout_wakeup: Notify,
}

impl AppState {
    /// Connects, migrates, makes sure a signing key exists and loads it.
    pub async fn init(settings: Settings) -> anyhow::Result<App> {
        let db_timeout = Duration::from_millis(settings.db_timeout_ms);
        let store = crate::store::open(&settings.database_url, db_timeout).await?;
        let store = crate::store::Deadline::wrap(store, db_timeout);
        let kek = kek_for(&settings)?;
        if let Some(k) = &kek {
            keys::seal_plaintext(store.as_ref(), k).await?;
        } else {
            tracing::warn!("NO key_encryption_key IS SET: private signing keys are stored UNENCRYPTED in the database. Set OAUTHD_KEY_ENCRYPTION_KEY (and profile = \"production\") before going live.");
        }
        keys::ensure_active(store.as_ref(), settings.signing_alg, now(), kek.as_ref()).await?;
        let changes = store.changes().await;
        let records = store.list_keys().await?;
        let keyring =
            Keyring::build(&records, settings.signing_alg, now(), settings.key_publish_window(), None, kek.as_ref())?;
        let passwords = passwords_for(&settings)?;
        crate::metrics::handle();
        let app = Arc::new(Self::assemble(settings, store, Arc::new(keyring), passwords, kek)?);
        if let Some(changes) = changes {
            spawn_invalidation(&app, changes);
        }
        Ok(app)
    }

    /// The state around an open store and loaded keys, with empty caches.
    pub fn assemble(
        settings: Settings,
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
        passwords: Passwords,
        kek: Option<Kek>,
    ) -> anyhow::Result<AppState> {
        let cache_ttl = Duration::from_secs(settings.client_cache_ttl);
        let outbound = Outbound::new(Policy {
            allow_loopback: settings.allow_http_loopback_backchannel,
            timeout: Duration::from_secs(settings.backchannel_logout_timeout),
        })?;
        Ok(AppState {
            outbound,
            logout_wakeup: Notify::new(),
            clients: ReadThrough::new(settings.client_cache_capacity, cache_ttl),
            issuers: ReadThrough::new(ISSUER_CAPACITY, cache_ttl),
            origins: ReadThrough::new(1, cache_ttl),
            jwks: JwksCache::new(settings.allow_http_loopback_jwks, Duration::from_secs(settings.jwks_cache_ttl))?,
            ip_failures: Throttle::new(settings.ip_failure_limit, settings.ip_failure_window),
            // One account may use every hashing thread, but never more turns than its lockout
            // allows failures: a burst then gets at most that many minus one checked past it.
            login_gate: LoginGate::new(
                settings.password_hash_concurrency.min(settings.lockout_threshold.max(1) as usize),
            ),
            limits: Limits::new(settings.rate_limit_per_ip, settings.rate_limit_per_client),
            settings: Arc::new(settings),
            store,
            keys: ArcSwap::new(keyring),
            passwords,
            kek,
        })
    }

    /// Reloads signing keys from the database (keys rotated by another instance or the CLI).
    pub async fn refresh_keys(&self) -> anyhow::Result<()> {
        let mut records = self.store.list_keys().await?;
        // Every key retired (an operator, or an old race between instances): make a new one
        // rather than sign with a key that leaves the published set.
        let alg = self.settings.signing_alg;
        if keys::needed_algs(alg).into_iter().any(|a| keys::lacks_active(&records, a)) {
            keys::ensure_active(self.store.as_ref(), alg, now(), self.kek.as_ref()).await?;
            records = self.store.list_keys().await?;
        }
        // A key rotated by a CLI run without the KEK arrives in plaintext: seal it here too.
        if let Some(k) = &self.kek {
            if records.iter().any(|r| !crate::jwt::kek::is_sealed(&r.private_der)) {
                keys::seal_plaintext(self.store.as_ref(), k).await?;
                records = self.store.list_keys().await?;
            }
        }
        let current = self.keys.load();
        let ring = Keyring::build(
            &records,
            self.settings.signing_alg,
            now(),
            self.settings.key_publish_window(),
            Some(&current),
            self.kek.as_ref(),
        )?;
        self.keys.store(Arc::new(ring));
        Ok(())
    }

    pub async fn client(&self, id: &str) -> Result<Option<Arc<ClientEntry>>, StoreError> {
        let store = self.store.as_ref();
        self.clients
            .get(id, || async {
                let Some(client) = store.get_client(id).await? else { return Ok(None) };
                let grants = store.client_grants(id).await?;
                Ok(Some(ClientEntry { client, grants }))
            })
            .await
    }

    pub async fn issuer(&self, iss: &str) -> Result<Option<Arc<TrustedIssuer>>, StoreError> {
        self.issuers.get(iss, || self.store.get_issuer(iss)).await
    }

    /// Whether some enabled client registered `origin` (CORS on the back channel). While the
    /// database cannot be reached, the last list known is used.
    pub async fn origin_allowed(&self, origin: &str) -> bool {
        let load = || async {
            let list = self.store.all_allowed_origins().await?;
            Ok::<_, StoreError>(Some(list.into_iter().collect()))
        };
        self.origins.get("", load).await.ok().flatten().is_some_and(|set| set.contains(origin))
    }

    /// Forgets what `change` names, so that it is read again at its next use.
    pub async fn invalidate(&self, change: Change) {
        match change {
            Change::Client(id) => {
                self.clients.invalidate(&id).await;
                self.origins.invalidate("").await;
            }
            Change::Issuer(iss) => self.issuers.invalidate(&iss).await,
            Change::All => {
                self.clients.invalidate_all();
                self.issuers.invalidate_all();
                self.origins.invalidate_all();
            }
        }
    }

    /// Whether the database answers, for the readiness probe.
    pub async fn database_ok(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// The connection pool's size and idle count, for metrics.
    pub fn pool_state(&self) -> (u32, usize) {
        self.store.pool_state()
    }
}

/// The key-encryption key the settings name, if any.
pub fn kek_for(s: &Settings) -> anyhow::Result<Option<Kek>> {
    s.key_encryption_key()?.map(|k| Kek::new(&k)).transpose()
}

/// The password hasher the settings describe.
pub fn passwords_for(s: &Settings) -> anyhow::Result<Passwords> {
    let cost = password::Cost {
        memory_kib: s.argon2_memory_kib,
        iterations: s.argon2_iterations,
        parallelism: s.argon2_parallelism,
    };
    Passwords::new(cost, s.password_hash_concurrency, s.password_hash_queue)
}

/// Spawns the background purge of expired single-use state: once shortly after start, then
/// every `purge_interval`.
pub fn spawn_purge(app: App) {
    let every = Duration::from_secs(app.settings.purge_interval.max(1));
    tokio::spawn(async move {
        let mut wait = every.min(Duration::from_secs(5));
        loop {
            tokio::time::sleep(wait).await;
            wait = every;
            app.limits.shrink();
            match app.store.purge_expired(now()).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "purged expired rows"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purge failed"),
            }
            let audit_before = now().saturating_sub(app.settings.audit_retention_days as i64 * 86400);
            let keys_before = now().saturating_sub(crate::store::IDEMPOTENCY_KEEP_SECS);
            match app.store.purge_admin(audit_before, keys_before).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "purged old audit events and idempotency keys"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "audit purge failed"),
            }
        }
    });
}

/// Applies the store's change events to the caches for as long as the state lives. A subscriber
/// that fell behind has missed events, and forgets everything.
fn spawn_invalidation(app: &App, mut changes: tokio::sync::broadcast::Receiver<Change>) {
    use tokio::sync::broadcast::error::RecvError;
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        loop {
            let change = match changes.recv().await {
                Ok(change) => change,
                Err(RecvError::Lagged(_)) => Change::All,
                Err(RecvError::Closed) => return,
            };
            let Some(app) = app.upgrade() else { return };
            app.invalidate(change).await;
        }
    });
}

/// Spawns the background refresh of signing keys.
pub fn spawn_key_refresh(app: App) {
    let every = Duration::from_secs(app.settings.key_refresh_interval.max(1));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = app.refresh_keys().await {
                tracing::warn!(error = %e, "could not refresh signing keys");
            }
        }
    });
}

/// A client with its API grants, as the token hot path needs it.
#[derive(Debug)]
pub struct ClientEntry {
    pub client: Client,
    pub grants: Vec<ClientGrant>,
}

impl ClientEntry {
    pub fn grant_for(&self, api: &str) -> Option<&ClientGrant> {
        self.grants.iter().find(|g| g.api == api)
    }
}

/// Clients with their grants, for `client_cache_ttl` or until a change event names them.
pub type ClientCache = ReadThrough<ClientEntry>;

/// The union of every enabled client's allowed origins, under the one key "".
pub type OriginCache = ReadThrough<HashSet<String>>;

/// Trusted issuers are few: this bounds the known ones, and a tenth of it the unknown `iss` values.
const ISSUER_CAPACITY: u64 = 10_000;
