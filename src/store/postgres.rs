//! PostgreSQL backend: for production and for many instances sharing one database. Cache change
//! events come from triggers by `LISTEN`/`NOTIFY` (PostgreSQL manual, "NOTIFY"), so every writer
//! is heard: this server, another instance, the CLI, psql.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use tokio::sync::{broadcast, oneshot, OnceCell};

use super::*;

/// The listener's connection, as `pg_stat_activity` shows it.
const LISTENER_NAME: &str = "oauthd-listener";
/// After this long without a notification, the listener checks that its connection still answers.
const HEARTBEAT: Duration = Duration::from_secs(10);
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

pub struct PgStore {
    pool: PgPool,
    /// Without `statement_timeout`: migrations may take longer than a request.
    migrate_opts: PgConnectOptions,
    timeout: Duration,
    changes: Changes,
    listening: OnceCell<()>,
}

impl PgStore {
    pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let migrate_opts: PgConnectOptions = url.parse()?;
        // The server gives up on a statement (a lock wait, say) when the caller would: the
        // answer is SQLSTATE 57014, mapped to 503.
        let ms = timeout.as_millis().to_string();
        let opts = migrate_opts.clone().options([("statement_timeout", ms.as_str())]);
        let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(timeout).connect_with(opts).await?;
        Ok(Self { pool, migrate_opts, timeout, changes: Changes::default(), listening: OnceCell::new() })
    }

    async fn run_migrations(&self) -> anyhow::Result<()> {
        let pool = PgPoolOptions::new().max_connections(1).connect_with(self.migrate_opts.clone()).await?;
        let result = sqlx::migrate!("migrations/postgres").run(&pool).await;
        pool.close().await;
        Ok(result?)
    }

    /// Subscribes to change events. The first call starts the listener and waits for its first
    /// connection attempt, so that a write made after this returns is heard.
    async fn subscribe(&self) -> broadcast::Receiver<Change> {
        let rx = self.changes.subscribe();
        self.listening
            .get_or_init(|| async {
                let (ready, started) = oneshot::channel();
                let opts = self.migrate_opts.clone().application_name(LISTENER_NAME);
                tokio::spawn(listen(opts, self.timeout, self.changes.sender(), ready));
                let _ = started.await;
            })
            .await;
        rx
    }
}

/// Relays notifications to `changes` until nobody subscribes any more, reconnecting after any
/// failure. Notifications sent while it was disconnected are lost, so a reconnect reports `All`.
async fn listen(opts: PgConnectOptions, timeout: Duration, changes: Changes, ready: oneshot::Sender<()>) {
    let mut ready = Some(ready);
    let mut retry = RETRY_MIN;
    loop {
        let attempt = tokio::time::timeout(timeout, subscribe_to(&opts, timeout)).await;
        let first = ready.take().map(|r| r.send(())).is_some();
        match attempt {
            Ok(Ok(mut listener)) => {
                if !first {
                    changes.send(Change::All);
                    tracing::info!("cache listener reconnected");
                }
                retry = RETRY_MIN;
                match relay(&mut listener, &changes, timeout).await {
                    Ok(()) => return,
                    Err(e) => tracing::warn!(error = %e, "cache listener lost its connection; reconnecting"),
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cache listener cannot connect; retrying"),
            Err(_) => tracing::warn!("cache listener cannot connect in time; retrying"),
        }
        if !changes.has_subscribers() {
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// A listener on its own one-connection pool: a dead connection's clean-up (which may hang on a
/// black-holed network) then never holds up the next attempt.
async fn subscribe_to(opts: &PgConnectOptions, timeout: Duration) -> anyhow::Result<PgListener> {
    let pool = PgPoolOptions::new().max_connections(1).acquire_timeout(timeout).connect_with(opts.clone()).await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(changes::CHANNEL).await?;
    Ok(listener)
}

/// Forwards notifications; `Ok` once nobody subscribes any more.
async fn relay(listener: &mut PgListener, changes: &Changes, timeout: Duration) -> anyhow::Result<()> {
    loop {
        match tokio::time::timeout(HEARTBEAT, listener.try_recv()).await {
            Ok(Ok(Some(n))) => changes.send(Change::parse(n.payload())),
            // sqlx replaced a lost connection: what was sent meanwhile is lost.
            Ok(Ok(None)) => changes.send(Change::All),
            Ok(Err(e)) => return Err(e.into()),
            // Silence: a connection dropped without a word (NAT, black hole) would look the same.
            Err(_) if !changes.has_subscribers() => return Ok(()),
            Err(_) => match tokio::time::timeout(timeout, sqlx::query("select 1").execute(&mut *listener)).await {
                Ok(done) => {
                    done?;
                }
                Err(_) => anyhow::bail!("no answer to a heartbeat within {} ms", timeout.as_millis()),
            },
        }
    }
}

with_admin_methods!(PgStore, Postgres);
