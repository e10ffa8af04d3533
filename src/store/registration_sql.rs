//! The SQL of dynamic client registration (RFC 7591, RFC 7592) shared by both backends: the
//! registration row beside the client, initial access tokens consumed in the registering
//! transaction, and the cleanup of clients registered but never used. `with_registration_methods!`
//! hands its methods (and those it is given) on to `with_par_methods!` as tokens, like that macro does.

macro_rules! with_registration_methods {
    ($store:ty, $db:ty; $($more:tt)*) => {
        with_par_methods!($store, $db;
        $($more)*
        async fn register_client(&self, c: &Client, r: &Registration, initial_token: Option<&str>) -> Result<bool> {
            let mut guard = $crate::store::tx::Guarded::acquire(&self.pool).await?;
            let mut tx = sqlx::Connection::begin(guard.conn()).await?;
            if let Some(hash) = initial_token {
                // One statement: two registrations racing for a token's last use cannot both win.
                let used = sqlx::query(
                    "update initial_access_tokens set uses_left = uses_left - 1
                     where hash = $1 and uses_left > 0 and expires_at > $2",
                )
                .bind(hash).bind(r.created_at).execute(&mut *tx).await?;
                if used.rows_affected() != 1 {
                    tx.rollback().await?;
                    guard.release();
                    return Ok(false);
                }
            }
            insert_client_row(&mut *tx, c).await?;
            sqlx::query(
                "insert into client_registrations (client_id, token_hash, metadata, initial_token, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&r.client_id).bind(&r.token_hash).bind(&r.metadata).bind(&r.initial_token)
            .bind(r.created_at).bind(r.updated_at).execute(&mut *tx).await?;
            tx.commit().await?;
            guard.release();
            self.changes.send(Change::Client(c.id.clone()));
            Ok(true)
        }

        async fn get_registration(&self, client_id: &str) -> Result<Option<Registration>> {
            Ok(sqlx::query_as::<_, Registration>("select * from client_registrations where client_id = $1")
                .bind(client_id).fetch_optional(&self.pool).await?)
        }

        async fn list_registrations(&self) -> Result<Vec<Registration>> {
            Ok(sqlx::query_as::<_, Registration>("select * from client_registrations order by created_at, client_id")
                .fetch_all(&self.pool).await?)
        }

        async fn update_registration(&self, c: &Client, metadata: &str, now: i64) -> Result<bool> {
            let mut guard = $crate::store::tx::Guarded::acquire(&self.pool).await?;
            let mut tx = sqlx::Connection::begin(guard.conn()).await?;
            let updated = sqlx::query(
                "update clients set name = $2, grant_types = $3, redirect_uris = $4, allowed_origins = $5, updated_at = $6
                 where id = $1 and origin = 'registered'",
            )
            .bind(&c.id).bind(&c.name).bind(&c.grant_types).bind(&c.redirect_uris).bind(&c.allowed_origins).bind(now)
            .execute(&mut *tx).await?;
            if updated.rows_affected() != 1 {
                tx.rollback().await?;
                guard.release();
                return Ok(false);
            }
            sqlx::query("update client_registrations set metadata = $2, updated_at = $3 where client_id = $1")
                .bind(&c.id).bind(metadata).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            guard.release();
            self.changes.send(Change::Client(c.id.clone()));
            Ok(true)
        }

        async fn mark_registration_used(&self, client_id: &str, now: i64) -> Result<()> {
            sqlx::query("update client_registrations set used_at = $2 where client_id = $1 and used_at is null")
                .bind(client_id).bind(now).execute(&self.pool).await?;
            Ok(())
        }

        async fn purge_registrations(&self, now: i64, unused_before: Option<i64>) -> Result<u64> {
            let mut n = sqlx::query("delete from initial_access_tokens where expires_at <= $1 or uses_left <= 0")
                .bind(now).execute(&self.pool).await?.rows_affected();
            if let Some(before) = unused_before {
                // The registration row goes with the client (on delete cascade).
                let gone: Vec<(String,)> = sqlx::query_as(
                    "delete from clients where id in (select r.client_id from client_registrations r
                       where r.used_at is null and r.created_at < $1
                         and not exists (select 1 from refresh_families f where f.client_id = r.client_id)
                       limit 5000)
                     returning id",
                )
                .bind(before).fetch_all(&self.pool).await?;
                n += gone.len() as u64;
                for (id,) in gone {
                    self.changes.send(Change::Client(id));
                }
            }
            Ok(n)
        }

        async fn insert_initial_token(&self, t: &InitialToken) -> Result<()> {
            sqlx::query(
                "insert into initial_access_tokens (id, hash, note, created_at, expires_at, uses_left)
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&t.id).bind(&t.hash).bind(&t.note).bind(t.created_at).bind(t.expires_at).bind(t.uses_left)
            .execute(&self.pool).await?;
            Ok(())
        }

        async fn find_initial_token(&self, hash: &str, now: i64) -> Result<Option<InitialToken>> {
            Ok(sqlx::query_as::<_, InitialToken>(
                "select * from initial_access_tokens where hash = $1 and uses_left > 0 and expires_at > $2",
            )
            .bind(hash).bind(now).fetch_optional(&self.pool).await?)
        }

        async fn list_initial_tokens(&self) -> Result<Vec<InitialToken>> {
            Ok(sqlx::query_as::<_, InitialToken>("select * from initial_access_tokens order by created_at, id")
                .fetch_all(&self.pool).await?)
        }

        async fn delete_initial_token(&self, id: &str) -> Result<bool> {
            let r = sqlx::query("delete from initial_access_tokens where id = $1").bind(id).execute(&self.pool).await?;
            Ok(r.rows_affected() == 1)
        }
        );
    };
}
