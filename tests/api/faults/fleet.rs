//! Three instances on one PostgreSQL database, each reaching it through the fault proxy, and what
//! is read from PostgreSQL directly afterwards: lockout counters and sessions left inside a
//! transaction (`pg_stat_activity`, PostgreSQL 15 §28.2.3).

use std::time::Duration;

use sqlx::Connection;

use super::proxy::Proxy;
use crate::helpers::{fresh_database, Backend, TestApp};

pub struct Fleet {
    /// The database's own URL, which bypasses the proxy.
    pub direct: String,
    pub proxy: Proxy,
    pub apps: Vec<TestApp>,
}

/// `host:port` of a database URL.
pub fn server_of(database_url: &str) -> String {
    let u = url::Url::parse(database_url).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))
}

impl Fleet {
    /// `n` in-process instances, one issuer, on a fresh database behind a fresh proxy.
    pub async fn start(n: usize) -> Fleet {
        let direct = fresh_database(Backend::Postgres).await;
        let proxy = Proxy::start(&server_of(&direct)).await;
        let via = proxy.url_for(&direct);
        let first = TestApp::spawn_on(via.clone(), |_| {}).await;
        let issuer = first.base.clone();
        let mut apps = vec![first];
        for _ in 1..n {
            let issuer = issuer.clone();
            apps.push(TestApp::spawn_on(via.clone(), |s| s.issuer = issuer).await);
        }
        Fleet { direct, proxy, apps }
    }

    pub fn bases(&self) -> Vec<String> {
        self.apps.iter().map(|a| a.base.clone()).collect()
    }
}

/// `user: count` for each of `users` whose failed-login count is not 0.
pub async fn failed_logins(direct: &str, users: &[String]) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(direct).await.unwrap();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("select username, failed_count from users where username = any($1) and failed_count <> 0")
            .bind(users)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    rows.into_iter().map(|(u, n)| format!("lockout: {u} has failed_count {n} without a wrong password")).collect()
}

/// Sessions of the database still inside a transaction, after 3 s for closed connections to go
/// away and for transactions in flight to end.
pub async fn left_in_transaction(direct: &str) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(direct).await.unwrap();
    let mut rows: Vec<(i32, String, f64, String)> = Vec::new();
    for _ in 0..30 {
        rows = sqlx::query_as(
            "select pid, state, extract(epoch from now() - state_change)::float8, left(query, 80)
             from pg_stat_activity
             where datname = current_database() and state like 'idle in transaction%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        if rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rows.into_iter()
        .map(|(pid, state, age, query)| format!("pg_stat_activity: pid {pid} {state} for {age:.1} s after: {query}"))
        .collect()
}
