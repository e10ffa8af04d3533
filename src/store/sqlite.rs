//! SQLite backend: the embedded default. WAL mode, so readers never wait for the writer. SQLite
//! has no NOTIFY: triggers (migration 0007) append every change to a cached row to
//! `cache_changes`, whoever writes it, and the server reads that table every second.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::{broadcast, OnceCell};

use super::*;

pub struct SqliteStore {
    pool: SqlitePool,
    /// This process's own writes at once; everyone's (the CLI's too) from `cache_changes`.
    changes: Changes,
    polling: OnceCell<()>,
}

/// How often the server reads `cache_changes`, and how long rows stay there.
const POLL: Duration = Duration::from_secs(1);
const KEEP_CHANGES_SECS: i64 = 600;

impl SqliteStore {
    pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // A lock held elsewhere costs at most what the pool wait does, then 503.
            .busy_timeout(timeout)
            .foreign_keys(true);
        if let Some(dir) = opts.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let pool = SqlitePoolOptions::new().max_connections(8).acquire_timeout(timeout).connect_with(opts).await?;
        Ok(Self { pool, changes: Changes::default(), polling: OnceCell::new() })
    }

    async fn run_migrations(&self) -> anyhow::Result<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    /// Subscribes to change events; the first call starts reading `cache_changes`, from its end.
    async fn subscribe(&self) -> broadcast::Receiver<Change> {
        let rx = self.changes.subscribe();
        self.polling
            .get_or_init(|| async {
                let from: Option<i64> =
                    sqlx::query_scalar("select max(seq) from cache_changes").fetch_one(&self.pool).await.ok().flatten();
                tokio::spawn(poll_changes(self.pool.clone(), self.changes.sender(), from.unwrap_or(0)));
            })
            .await;
        rx
    }
}

/// Relays new `cache_changes` rows until nobody subscribes any more; a failed read invalidates
/// everything, since rows may have been missed meanwhile.
async fn poll_changes(pool: SqlitePool, changes: Changes, mut last: i64) {
    let mut ticks = 0u32;
    while changes.has_subscribers() {
        tokio::time::sleep(POLL).await;
        let rows: std::result::Result<Vec<(i64, String, String)>, sqlx::Error> =
            sqlx::query_as("select seq, kind, key from cache_changes where seq > $1 order by seq limit 10000")
                .bind(last)
                .fetch_all(&pool)
                .await;
        match rows {
            Ok(rows) => {
                for (seq, kind, key) in rows {
                    last = seq;
                    changes.send(Change::parse(&format!("{kind}:{key}")));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read cache changes");
                changes.send(Change::All);
            }
        }
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(60) {
            let cutoff = crate::clock::now() - KEEP_CHANGES_SECS;
            let _ = sqlx::query("delete from cache_changes where at < $1").bind(cutoff).execute(&pool).await;
        }
    }
}

with_admin_methods!(SqliteStore, Sqlite);
