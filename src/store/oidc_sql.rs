//! The SQL of OpenID Connect state shared by both backends: user claims (OIDC Core §5.1),
//! session clients and the back-channel logout queue (OIDC Back-Channel Logout 1.0 §2.5).
//! `oidc_sql_fns!` expands beside `impl_sql_store!`'s helpers; `with_oidc_methods!` hands its
//! methods to `impl_sql_store!` as tokens, so that `#[async_trait]` sees them in the impl.

macro_rules! oidc_sql_fns {
    ($db:ty) => {
        /// Ends the sessions `which` selects (`select sid from sessions where … $1`): queues a
        /// logout token for every client of theirs with a back-channel logout URI, then deletes
        /// them, in one transaction. Returns how many deliveries were queued.
        async fn end_sessions(pool: &sqlx::Pool<$db>, which: &str, key: &str, now: i64) -> Result<u64> {
            let mut guard = $crate::store::tx::Guarded::acquire(pool).await?;
            let mut tx = sqlx::Connection::begin(guard.conn()).await?;
            // One delivery per session and client, whatever ends the session first.
            let queued = sqlx::query(&format!(
                "insert into logout_deliveries (id, client_id, sub, sid, attempts, next_attempt_at, created_at)
                 select s.sid || ' ' || sc.client_id, sc.client_id, s.user_id, s.sid, 0, $2, $2
                 from sessions s
                 join session_clients sc on sc.sid = s.sid
                 join clients c on c.id = sc.client_id
                 where s.sid in ({which}) and c.backchannel_logout_uri is not null
                 on conflict (id) do nothing"
            ))
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(&format!("delete from session_clients where sid in ({which})"))
                .bind(key)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!("delete from sessions where sid in ({which})")).bind(key).execute(&mut *tx).await?;
            tx.commit().await?;
            guard.release();
            Ok(queued)
        }
    };
}

macro_rules! with_oidc_methods {
    ($store:ty, $db:ty; $($more:tt)*) => {
        impl_sql_store!($store, $db;
        $($more)*
        async fn set_user_claims(
            &self, id: &str, email: Option<&str>, email_verified: bool, claims: &str, now: i64,
        ) -> Result<bool> {
            let r = sqlx::query(
                "update users set email = $2, email_verified = $3, claims = $4, updated_at = $5 where id = $1",
            )
            .bind(id).bind(email).bind(email_verified).bind(claims).bind(now).execute(&self.pool).await?;
            Ok(r.rows_affected() == 1)
        }

        async fn add_session_client(&self, sid: &str, client_id: &str) -> Result<()> {
            sqlx::query("insert into session_clients (sid, client_id) values ($1, $2) on conflict do nothing")
                .bind(sid).bind(client_id).execute(&self.pool).await?;
            Ok(())
        }

        async fn end_session(&self, hash: &str, now: i64) -> Result<u64> {
            end_sessions(&self.pool, "select sid from sessions where hash = $1", hash, now).await
        }

        async fn end_user_sessions(&self, user_id: &str, now: i64) -> Result<u64> {
            end_sessions(&self.pool, "select sid from sessions where user_id = $1", user_id, now).await
        }

        async fn claim_logout_deliveries(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<LogoutDelivery>> {
            // The outer `next_attempt_at <= $1` is checked again on a row another instance just
            // claimed (PostgreSQL re-reads it after the lock), so each due row goes to one claimer.
            Ok(sqlx::query_as::<_, LogoutDelivery>(
                "update logout_deliveries set next_attempt_at = $2
                 where next_attempt_at <= $1 and id in (select id from logout_deliveries
                     where next_attempt_at <= $1 order by next_attempt_at, id limit $3)
                 returning *",
            )
            .bind(now).bind(lease_until).bind(limit).fetch_all(&self.pool).await?)
        }

        async fn finish_logout_delivery(&self, id: &str) -> Result<()> {
            sqlx::query("delete from logout_deliveries where id = $1").bind(id).execute(&self.pool).await?;
            Ok(())
        }

        async fn retry_logout_delivery(&self, id: &str, attempts: i64, next_attempt_at: i64) -> Result<()> {
            sqlx::query("update logout_deliveries set attempts = $2, next_attempt_at = $3 where id = $1")
                .bind(id).bind(attempts).bind(next_attempt_at).execute(&self.pool).await?;
            Ok(())
        }
        );
    };
}
