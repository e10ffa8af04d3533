//! PostgreSQL backend: for production and for many instances sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::*;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let opts: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(timeout).connect_with(opts).await?;
        Ok(Self { pool })
    }

    async fn run_migrations(&self) -> anyhow::Result<()> {
        sqlx::migrate!("migrations/postgres").run(&self.pool).await?;
        Ok(())
    }
}

impl_sql_store!(PgStore, Postgres);
