//! PostgreSQL backend: for production and for many instances sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::*;

pub struct PgStore {
    pool: PgPool,
    /// Without `statement_timeout`: migrations may take longer than a request.
    migrate_opts: PgConnectOptions,
}

impl PgStore {
    pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let migrate_opts: PgConnectOptions = url.parse()?;
        // The server gives up on a statement (a lock wait, say) when the caller would: the
        // answer is SQLSTATE 57014, mapped to 503.
        let ms = timeout.as_millis().to_string();
        let opts = migrate_opts.clone().options([("statement_timeout", ms.as_str())]);
        let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(timeout).connect_with(opts).await?;
        Ok(Self { pool, migrate_opts })
    }

    async fn run_migrations(&self) -> anyhow::Result<()> {
        let pool = PgPoolOptions::new().max_connections(1).connect_with(self.migrate_opts.clone()).await?;
        let result = sqlx::migrate!("migrations/postgres").run(&pool).await;
        pool.close().await;
        Ok(result?)
    }
}

with_oidc_methods!(PgStore, Postgres);
