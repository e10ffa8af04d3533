//! The SQL of the device authorization grant (RFC 8628 §3.2–3.5) shared by both backends. Every
//! change of a code's standing is one statement, so that concurrent polls and decisions never
//! both win. `with_device_methods!` hands its methods, with those of `oidc_sql.rs`, to
//! `impl_sql_store!` as tokens.

macro_rules! with_device_methods {
    ($store:ty, $db:ty) => {
        with_oidc_methods!($store, $db;
        async fn insert_device_code(&self, d: &DeviceCode) -> Result<()> {
            sqlx::query(
                "insert into device_codes (hash, user_code_hash, client_id, scope, audience, created_at, expires_at,
                 poll_interval, status) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&d.hash).bind(&d.user_code_hash).bind(&d.client_id).bind(&d.scope).bind(&d.audience)
            .bind(d.created_at).bind(d.expires_at).bind(d.poll_interval).bind(d.status.as_str())
            .execute(&self.pool).await?;
            Ok(())
        }

        async fn find_device_code(&self, user_code_hash: &str) -> Result<Option<DeviceCode>> {
            Ok(sqlx::query_as::<_, DeviceCode>("select * from device_codes where user_code_hash = $1")
                .bind(user_code_hash).fetch_optional(&self.pool).await?)
        }

        async fn decide_device_code(&self, d: &DeviceDecision<'_>) -> Result<bool> {
            let r = sqlx::query(
                "update device_codes set status = $2, user_id = $3, auth_time = $4, sid = $5
                 where user_code_hash = $1 and status = 'pending' and expires_at > $6",
            )
            .bind(d.user_code_hash)
            .bind(if d.approved { DeviceStatus::Approved } else { DeviceStatus::Denied }.as_str())
            .bind(d.user_id).bind(d.auth_time).bind(d.sid).bind(d.now)
            .execute(&self.pool).await?;
            Ok(r.rows_affected() == 1)
        }

        async fn poll_device_code(&self, hash: &str, client_id: &str, now_ms: i64) -> Result<Option<DeviceCode>> {
            // Every right-hand side reads the row as it was before this poll.
            Ok(sqlx::query_as::<_, DeviceCode>(
                "update device_codes set
                   slowed = (polled_at_ms is not null and $3 - polled_at_ms < poll_interval * 1000),
                   poll_interval = poll_interval + case when status = 'pending' and polled_at_ms is not null
                     and $3 - polled_at_ms < poll_interval * 1000 then 5 else 0 end,
                   polled_at_ms = $3
                 where hash = $1 and client_id = $2
                 returning *",
            )
            .bind(hash).bind(client_id).bind(now_ms).fetch_optional(&self.pool).await?)
        }

        async fn redeem_device_code(&self, hash: &str, client_id: &str, now: i64) -> Result<Option<DeviceCode>> {
            Ok(sqlx::query_as::<_, DeviceCode>(
                "update device_codes set status = 'used'
                 where hash = $1 and client_id = $2 and status = 'approved' and expires_at > $3
                 returning *",
            )
            .bind(hash).bind(client_id).bind(now).fetch_optional(&self.pool).await?)
        }
        );
    };
}
