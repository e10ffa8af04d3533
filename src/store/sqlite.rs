//! SQLite backend: the embedded default. WAL mode, so readers never wait for the writer.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use super::*;

pub struct SqliteStore {
    pool: SqlitePool,
}

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
        Ok(Self { pool })
    }

    async fn run_migrations(&self) -> anyhow::Result<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }
}

with_oidc_methods!(SqliteStore, Sqlite);
