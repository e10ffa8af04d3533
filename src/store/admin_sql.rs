//! The SQL of the admin API shared by both backends: pages of clients and users (cursor = the
//! last id), client updates guarded by `updated_at`, audit events, `Idempotency-Key`
//! reservations, consents, refresh families and sessions of one user or client.
//! `with_admin_methods!` hands these methods on as tokens, as `with_oidc_methods!` does.

macro_rules! with_admin_methods {
    ($store:ty, $db:ty) => {
        with_oidc_methods!($store, $db;
        async fn list_clients_page(&self, f: &ClientFilter) -> Result<Vec<Client>> {
            let disabled = f.disabled.map_or(-1_i64, i64::from);
            Ok(sqlx::query_as::<_, Client>(
                "select * from clients where id > $1 and ($3 = '' or origin = $3)
                 and ($4 < 0 or disabled = ($4 = 1)) order by id limit $2",
            )
            .bind(&f.after).bind(f.limit).bind(f.origin.as_deref().unwrap_or("")).bind(disabled)
            .fetch_all(&self.pool).await?)
        }

        async fn update_client(&self, c: &Client, expected_updated_at: i64) -> Result<bool> {
            let r = sqlx::query(
                "update clients set name = $2, grant_types = $3, redirect_uris = $4, allowed_origins = $5,
                 first_party = $6, disabled = $7, updated_at = $8, post_logout_redirect_uris = $9,
                 require_pkce = $10, backchannel_logout_uri = $11, backchannel_logout_session_required = $12
                 where id = $1 and updated_at = $13",
            )
            .bind(&c.id).bind(&c.name).bind(&c.grant_types).bind(&c.redirect_uris).bind(&c.allowed_origins)
            .bind(c.first_party).bind(c.disabled).bind(c.updated_at).bind(&c.post_logout_redirect_uris)
            .bind(c.require_pkce).bind(&c.backchannel_logout_uri).bind(c.backchannel_logout_session_required)
            .bind(expected_updated_at)
            .execute(&self.pool).await?;
            self.changes.send(Change::Client(c.id.clone()));
            Ok(r.rows_affected() == 1)
        }

        async fn list_users_page(&self, after: &str, limit: i64) -> Result<Vec<User>> {
            Ok(sqlx::query_as::<_, User>("select * from users where id > $1 order by id limit $2")
                .bind(after).bind(limit).fetch_all(&self.pool).await?)
        }

        async fn insert_audit(&self, e: &AuditEvent) -> Result<()> {
            sqlx::query(
                "insert into audit_events (id, at, actor, action, target, request_id, before, after)
                 values ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&e.id).bind(e.at).bind(&e.actor).bind(&e.action).bind(&e.target).bind(&e.request_id)
            .bind(&e.before).bind(&e.after)
            .execute(&self.pool).await?;
            Ok(())
        }

        async fn list_audit(&self, before: &str, target: &str, limit: i64) -> Result<Vec<AuditEvent>> {
            Ok(sqlx::query_as::<_, AuditEvent>(
                "select * from audit_events where ($1 = '' or id < $1) and ($2 = '' or target = $2)
                 order by id desc limit $3",
            )
            .bind(before).bind(target).bind(limit).fetch_all(&self.pool).await?)
        }

        async fn purge_admin(&self, audit_before: i64, keys_before: i64) -> Result<u64> {
            let a = sqlx::query("delete from audit_events where at < $1")
                .bind(audit_before).execute(&self.pool).await?.rows_affected();
            let k = sqlx::query("delete from idempotency_keys where created_at < $1")
                .bind(keys_before).execute(&self.pool).await?.rows_affected();
            Ok(a + k)
        }

        async fn reserve_idempotency_key(&self, actor: &str, key: &str, request_hash: &str, now: i64) -> Result<bool> {
            let r = sqlx::query(
                "insert into idempotency_keys (actor, key, request_hash, status, created_at)
                 values ($1, $2, $3, 0, $4) on conflict (actor, key) do nothing",
            )
            .bind(actor).bind(key).bind(request_hash).bind(now).execute(&self.pool).await?;
            Ok(r.rows_affected() == 1)
        }

        async fn get_idempotency_key(&self, actor: &str, key: &str) -> Result<Option<IdempotencyRecord>> {
            Ok(sqlx::query_as::<_, IdempotencyRecord>(
                "select request_hash, status, body from idempotency_keys where actor = $1 and key = $2",
            )
            .bind(actor).bind(key).fetch_optional(&self.pool).await?)
        }

        async fn finish_idempotency_key(&self, actor: &str, key: &str, status: i64, body: &str) -> Result<()> {
            sqlx::query("update idempotency_keys set status = $3, body = $4 where actor = $1 and key = $2")
                .bind(actor).bind(key).bind(status).bind(body).execute(&self.pool).await?;
            Ok(())
        }

        async fn release_idempotency_key(&self, actor: &str, key: &str) -> Result<()> {
            sqlx::query("delete from idempotency_keys where actor = $1 and key = $2 and status = 0")
                .bind(actor).bind(key).execute(&self.pool).await?;
            Ok(())
        }

        async fn list_consents(&self, user_id: &str) -> Result<Vec<Consent>> {
            Ok(sqlx::query_as::<_, Consent>(
                "select client_id, audience, scope, created_at from consents where user_id = $1
                 order by client_id, audience, scope",
            )
            .bind(user_id).fetch_all(&self.pool).await?)
        }

        async fn delete_consents(&self, user_id: &str, client_id: &str) -> Result<u64> {
            Ok(sqlx::query("delete from consents where user_id = $1 and client_id = $2")
                .bind(user_id).bind(client_id).execute(&self.pool).await?.rows_affected())
        }

        async fn list_refresh_families(&self, user_id: &str, client_id: &str, now: i64) -> Result<Vec<RefreshFamily>> {
            Ok(sqlx::query_as::<_, RefreshFamily>(
                "select * from refresh_families where ($1 = '' or user_id = $1) and ($2 = '' or client_id = $2)
                 and revoked_at is null and expires_at > $3 order by created_at desc, id limit 1000",
            )
            .bind(user_id).bind(client_id).bind(now).fetch_all(&self.pool).await?)
        }

        async fn list_user_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>> {
            Ok(sqlx::query_as::<_, Session>(
                "select * from sessions where user_id = $1 and expires_at > $2 order by created_at desc limit 1000",
            )
            .bind(user_id).bind(now).fetch_all(&self.pool).await?)
        }
        );
    };
}
