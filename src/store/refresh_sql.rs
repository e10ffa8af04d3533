//! The SQL of refresh families (RFC 6749 §6, RFC 9700 §4.14.2) and of the purge, shared by both
//! backends. One row per family: a rotation is one `update … where … returning`, so instances
//! racing on one token are serialized by the database, never by a lock of ours.

macro_rules! refresh_sql {
    ($db:ty) => {
        async fn insert_family<'e, E: sqlx::Executor<'e, Database = $db>>(ex: E, f: &RefreshFamily) -> Result<()> {
            sqlx::query(
                "insert into refresh_families (id, client_id, user_id, scope, audience, gty, auth_time, created_at,
                 expires_at, idle_expires_at, generation, secret_hash, issued_at, access_exp, sid, claims)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(&f.id).bind(&f.client_id).bind(&f.user_id).bind(&f.scope).bind(&f.audience).bind(&f.gty)
            .bind(f.auth_time).bind(f.created_at).bind(f.expires_at).bind(f.idle_expires_at).bind(f.generation)
            .bind(&f.secret_hash).bind(f.issued_at).bind(f.access_exp).bind(&f.sid).bind(&f.claims)
            .execute(ex).await?;
            Ok(())
        }

        async fn get_family(pool: &sqlx::Pool<$db>, id: &str) -> Result<Option<RefreshFamily>> {
            Ok(sqlx::query_as::<_, RefreshFamily>("select * from refresh_families where id = $1")
                .bind(id).fetch_optional(pool).await?)
        }

        /// The presented token is the current one (then it becomes the one rotated last, and the
        /// grace starts) or the one rotated last within the grace (then the grace keeps its
        /// start, so retries cannot stretch it). Either way the new secret replaces the current
        /// one: at most one token of the family is ever usable. `set` reads the old row.
        async fn rotate_family(pool: &sqlx::Pool<$db>, r: &Rotation<'_>) -> Result<Option<i64>> {
            let row: Option<(i64,)> = sqlx::query_as(
                "update refresh_families set
                   rotated_generation = case when generation = $3 then generation else rotated_generation end,
                   rotated_hash = case when generation = $3 then secret_hash else rotated_hash end,
                   rotated_at = case when generation = $3 then $5 else rotated_at end,
                   generation = generation + 1, secret_hash = $6, issued_at = $5, idle_expires_at = $7,
                   access_exp = case when access_exp > $8 then access_exp else $8 end
                 where id = $1 and client_id = $2 and revoked_at is null and expires_at > $5 and idle_expires_at > $5
                   and ((generation = $3 and secret_hash = $4)
                        or (rotated_generation = $3 and rotated_hash = $4 and rotated_at > $5 - $9))
                 returning generation",
            )
            .bind(r.family_id).bind(r.client_id).bind(r.generation).bind(r.secret_hash).bind(r.now)
            .bind(r.new_hash).bind(r.idle_expires_at).bind(r.access_exp).bind(r.grace)
            .fetch_optional(pool).await?;
            Ok(row.map(|(g,)| g))
        }

        /// Revokes the families `which` selects (a `select … ` with `$1`). Their access tokens
        /// are denied through their `jti`, which names the family.
        async fn revoke_families(pool: &sqlx::Pool<$db>, which: &str, key: &str, now: i64) -> Result<()> {
            sqlx::query(&format!("update refresh_families set revoked_at = $2 where revoked_at is null and id in ({which})"))
                .bind(key).bind(now).execute(pool).await?;
            Ok(())
        }

        async fn jti_denied(pool: &sqlx::Pool<$db>, jti: &str) -> Result<bool> {
            let row: Option<(String,)> = sqlx::query_as(
                "select jti from revoked_jtis where jti = $1
                 union all select id from refresh_families where id = $2 and revoked_at is not null",
            )
            .bind(jti).bind(family_of_jti(jti)).fetch_optional(pool).await?;
            Ok(row.is_some())
        }

        /// Each statement deletes at most `$2` rows (short statements, well inside the statement
        /// timeout, each committed); it is repeated until a batch comes back short. A table that
        /// fails does not keep the others from being purged.
        async fn purge(pool: &sqlx::Pool<$db>, now: i64) -> Result<u64> {
            const BATCH: i64 = 5000;
            let statements = [
                "delete from used_jtis where (issuer, jti) in
                 (select issuer, jti from used_jtis where expires_at < $1 limit $2)",
                "delete from revoked_jtis where jti in (select jti from revoked_jtis where expires_at < $1 limit $2)",
                // Kept an hour past expiry, so that a replayed code still revokes what it issued.
                "delete from auth_codes where hash in (select hash from auth_codes where expires_at < $1 - 3600 limit $2)",
                // Kept an hour past expiry, so that a late poll still hears expired_token.
                "delete from device_codes where hash in (select hash from device_codes where expires_at < $1 - 3600 limit $2)",
                "delete from sessions where hash in (select hash from sessions where expires_at < $1 limit $2)",
                // Which clients a session logged in, for back-channel logout: gone with the session.
                "delete from session_clients where (sid, client_id) in (select sid, client_id from session_clients
                 where sid not in (select sid from sessions where sid is not null and expires_at >= $1) limit $2)",
                // A family that ended stays while access tokens minted in it live: it denies them.
                "delete from refresh_families where id in (select id from refresh_families
                 where idle_expires_at <= $1 and access_exp < $1 limit $2)",
                "delete from refresh_families where id in (select id from refresh_families
                 where revoked_at <= $1 and access_exp < $1 limit $2)",
            ];
            let (mut n, mut failed) = (0, None);
            for sql in statements {
                loop {
                    match sqlx::query(sql).bind(now).bind(BATCH).execute(pool).await {
                        Ok(r) => {
                            n += r.rows_affected();
                            if r.rows_affected() < BATCH as u64 {
                                break;
                            }
                        }
                        Err(e) => {
                            failed.get_or_insert(StoreError::from(e));
                            break;
                        }
                    }
                }
            }
            failed.map_or(Ok(n), Err)
        }
    };
}
