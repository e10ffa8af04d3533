//! The SQL both backends share. PostgreSQL and SQLite (3.35+) accept the same `$N` placeholders,
//! `returning` and `on conflict`, so one body serves both pool types; each backend file only
//! connects and migrates.

macro_rules! impl_sql_store {
    ($store:ty, $db:ty; $($oidc:tt)*) => {
        refresh_sql!($db);
        oidc_sql_fns!($db);

        async fn insert_client_row<'e, E: sqlx::Executor<'e, Database = $db>>(ex: E, c: &Client) -> Result<()> {
            sqlx::query(
                "insert into clients (id, name, secret_hash, public, grant_types, redirect_uris,
                 allowed_origins, first_party, disabled, created_at, updated_at, post_logout_redirect_uris,
                 auth_method, jwks_uri, jwks_json, require_pkce, backchannel_logout_uri,
                 backchannel_logout_session_required, origin, dpop_bound_access_tokens, require_dpop_nonce,
                 require_pushed_authorization_requests)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                         $22)",
            )
            .bind(&c.id).bind(&c.name).bind(&c.secret_hash).bind(c.public)
            .bind(&c.grant_types).bind(&c.redirect_uris).bind(&c.allowed_origins)
            .bind(c.first_party).bind(c.disabled).bind(c.created_at).bind(c.updated_at)
            .bind(&c.post_logout_redirect_uris).bind(c.auth_method.as_str()).bind(&c.jwks_uri).bind(&c.jwks_json)
            .bind(c.require_pkce).bind(&c.backchannel_logout_uri).bind(c.backchannel_logout_session_required)
            .bind(c.origin.as_str()).bind(c.dpop_bound_access_tokens).bind(c.require_dpop_nonce)
            .bind(c.require_pushed_authorization_requests)
            .execute(ex).await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            $($oidc)*

            async fn ping(&self) -> Result<()> {
                sqlx::query("select 1").execute(&self.pool).await?;
                Ok(())
            }

            fn pool_state(&self) -> (u32, usize) {
                (self.pool.size(), self.pool.num_idle())
            }

            async fn migrate(&self) -> anyhow::Result<()> {
                self.run_migrations().await
            }

            async fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
                Some(self.subscribe().await)
            }

            async fn insert_client(&self, c: &Client) -> Result<()> {
                insert_client_row(&self.pool, c).await?;
                self.changes.send(Change::Client(c.id.clone()));
                Ok(())
            }

            async fn put_metadata_client(&self, c: &Client) -> Result<bool> {
                // Writes only what changed: an unchanged document touches no row, so it sends no
                // change event to the caches.
                let r = sqlx::query(
                    "insert into clients (id, name, secret_hash, public, grant_types, redirect_uris,
                     allowed_origins, first_party, disabled, created_at, updated_at, post_logout_redirect_uris,
                     auth_method, jwks_uri, jwks_json, require_pkce, backchannel_logout_uri,
                     backchannel_logout_session_required, origin)
                     values ($1, $2, null, $3, $4, $5, '', false, false, $6, $6, '', $7, $8, null, true, null, false,
                             'metadata_document')
                     on conflict (id) do update set name = excluded.name, public = excluded.public,
                       grant_types = excluded.grant_types, redirect_uris = excluded.redirect_uris,
                       auth_method = excluded.auth_method, jwks_uri = excluded.jwks_uri, updated_at = excluded.updated_at
                     where clients.origin = 'metadata_document'
                       and (clients.name <> excluded.name or clients.public <> excluded.public
                         or clients.grant_types <> excluded.grant_types
                         or clients.redirect_uris <> excluded.redirect_uris
                         or clients.auth_method <> excluded.auth_method
                         or coalesce(clients.jwks_uri, '') <> coalesce(excluded.jwks_uri, ''))",
                )
                .bind(&c.id).bind(&c.name).bind(c.public).bind(&c.grant_types).bind(&c.redirect_uris)
                .bind(c.updated_at).bind(c.auth_method.as_str()).bind(&c.jwks_uri)
                .execute(&self.pool).await?;
                let written = r.rows_affected() > 0;
                if written {
                    self.changes.send(Change::Client(c.id.clone()));
                }
                Ok(written)
            }

            async fn get_client(&self, id: &str) -> Result<Option<Client>> {
                Ok(sqlx::query_as::<_, Client>("select * from clients where id = $1")
                    .bind(id).fetch_optional(&self.pool).await?)
            }

            async fn list_clients(&self) -> Result<Vec<Client>> {
                Ok(sqlx::query_as::<_, Client>("select * from clients order by created_at, id")
                    .fetch_all(&self.pool).await?)
            }

            async fn set_client_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool> {
                let r = sqlx::query("update clients set disabled = $2, updated_at = $3 where id = $1")
                    .bind(id).bind(disabled).bind(now).execute(&self.pool).await?;
                self.changes.send(Change::Client(id.to_string()));
                Ok(r.rows_affected() == 1)
            }

            async fn set_client_secret(&self, id: &str, hash: &str, now: i64) -> Result<bool> {
                let r = sqlx::query(
                    "update clients set secret_hash = $2, updated_at = $3 where id = $1 and not public",
                )
                .bind(id).bind(hash).bind(now).execute(&self.pool).await?;
                self.changes.send(Change::Client(id.to_string()));
                Ok(r.rows_affected() == 1)
            }

            async fn delete_client(&self, id: &str) -> Result<bool> {
                let r = sqlx::query("delete from clients where id = $1")
                    .bind(id).execute(&self.pool).await?;
                self.changes.send(Change::Client(id.to_string()));
                Ok(r.rows_affected() == 1)
            }

            async fn insert_api(&self, api: &Api) -> Result<()> {
                sqlx::query("insert into apis (identifier, name, scopes, created_at) values ($1, $2, $3, $4)")
                    .bind(&api.identifier).bind(&api.name).bind(&api.scopes).bind(api.created_at)
                    .execute(&self.pool).await?;
                Ok(())
            }

            async fn get_api(&self, identifier: &str) -> Result<Option<Api>> {
                Ok(sqlx::query_as::<_, Api>("select * from apis where identifier = $1")
                    .bind(identifier).fetch_optional(&self.pool).await?)
            }

            async fn list_apis(&self) -> Result<Vec<Api>> {
                Ok(sqlx::query_as::<_, Api>("select * from apis order by identifier")
                    .fetch_all(&self.pool).await?)
            }

            async fn upsert_client_grant(&self, client_id: &str, api: &str, scopes: &str) -> Result<()> {
                sqlx::query(
                    "insert into client_grants (client_id, api, scopes) values ($1, $2, $3)
                     on conflict (client_id, api) do update set scopes = excluded.scopes",
                )
                .bind(client_id).bind(api).bind(scopes).execute(&self.pool).await?;
                self.changes.send(Change::Client(client_id.to_string()));
                Ok(())
            }

            async fn client_grants(&self, client_id: &str) -> Result<Vec<ClientGrant>> {
                Ok(sqlx::query_as::<_, ClientGrant>(
                    "select api, scopes from client_grants where client_id = $1 order by api",
                )
                .bind(client_id).fetch_all(&self.pool).await?)
            }

            async fn insert_key(&self, k: &KeyRecord) -> Result<()> {
                sqlx::query(
                    "insert into signing_keys (kid, alg, private_der, public_jwk, created_at, retired_at)
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&k.kid).bind(&k.alg).bind(&k.private_der).bind(&k.public_jwk)
                .bind(k.created_at).bind(k.retired_at).execute(&self.pool).await?;
                Ok(())
            }

            async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
                Ok(sqlx::query_as::<_, KeyRecord>("select * from signing_keys order by created_at desc, kid")
                    .fetch_all(&self.pool).await?)
            }

            async fn retire_all_but_newest(&self, alg: &str, now: i64) -> Result<()> {
                // One statement, and never the newest unretired key (the order `newest_of` uses):
                // instances rotating at once can only retire each other's older keys, and the
                // last statement to run sees every inserted key, so exactly one stays active.
                sqlx::query(
                    "update signing_keys set retired_at = $2
                     where alg = $1 and retired_at is null
                       and kid <> (select kid from signing_keys where alg = $1 and retired_at is null
                                   order by created_at desc, kid desc limit 1)",
                )
                .bind(alg).bind(now).execute(&self.pool).await?;
                Ok(())
            }

            async fn replace_private_der(&self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool> {
                let r = sqlx::query("update signing_keys set private_der = $3 where kid = $1 and private_der = $2")
                    .bind(kid).bind(old).bind(new).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_user(&self, u: &User) -> Result<()> {
                sqlx::query(
                    "insert into users (id, username, username_lower, email, email_verified, password_hash,
                     disabled, created_at, updated_at, claims) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&u.id).bind(&u.username).bind(&u.username_lower).bind(&u.email)
                .bind(u.email_verified).bind(&u.password_hash).bind(u.disabled)
                .bind(u.created_at).bind(u.updated_at).bind(&u.claims).execute(&self.pool).await?;
                Ok(())
            }

            async fn get_user(&self, id: &str) -> Result<Option<User>> {
                Ok(sqlx::query_as::<_, User>("select * from users where id = $1")
                    .bind(id).fetch_optional(&self.pool).await?)
            }

            async fn find_user_by_username(&self, username: &str) -> Result<Option<User>> {
                Ok(sqlx::query_as::<_, User>("select * from users where username_lower = $1")
                    .bind(username.to_lowercase()).fetch_optional(&self.pool).await?)
            }

            async fn list_users(&self) -> Result<Vec<User>> {
                Ok(sqlx::query_as::<_, User>("select * from users order by created_at, id")
                    .fetch_all(&self.pool).await?)
            }

            async fn set_password_hash(&self, id: &str, hash: &str, now: i64) -> Result<bool> {
                let r = sqlx::query("update users set password_hash = $2, updated_at = $3 where id = $1")
                    .bind(id).bind(hash).bind(now).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn set_user_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool> {
                let r = sqlx::query("update users set disabled = $2, updated_at = $3 where id = $1")
                    .bind(id).bind(disabled).bind(now).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn delete_user(&self, id: &str) -> Result<bool> {
                let r = sqlx::query("delete from users where id = $1").bind(id).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn record_login_failure(&self, id: &str, p: &LockoutPolicy) -> Result<bool> {
                // One statement, so parallel failures serialise on the row: each is counted, and
                // the one that reaches the threshold sets the lock.
                let locked_until = sqlx::query_scalar::<_, i64>(
                    "update users set
                       failed_count = case when failed_window_start + $3 > $2 then failed_count + 1 else 1 end,
                       failed_window_start = case when failed_window_start + $3 > $2
                                                  then failed_window_start else $2 end,
                       locked_until = case
                         when (case when failed_window_start + $3 > $2 then failed_count + 1 else 1 end) >= $4
                         then $2 + $3 else locked_until end
                     where id = $1 and locked_until <= $2
                     returning locked_until",
                )
                .bind(id).bind(p.now).bind(p.window).bind(p.threshold)
                .fetch_optional(&self.pool).await?;
                Ok(locked_until.is_some_and(|until| until > p.now))
            }

            async fn record_login_success(&self, id: &str, now: i64) -> Result<bool> {
                let r = sqlx::query(
                    "update users set failed_count = 0, failed_window_start = 0 where id = $1 and locked_until <= $2",
                )
                .bind(id).bind(now).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_refresh_family(&self, f: &RefreshFamily) -> Result<()> {
                insert_family(&self.pool, f).await
            }

            async fn get_refresh_family(&self, id: &str) -> Result<Option<RefreshFamily>> {
                get_family(&self.pool, id).await
            }

            async fn rotate_refresh_family(&self, r: &Rotation<'_>) -> Result<Option<i64>> {
                rotate_family(&self.pool, r).await
            }

            async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> Result<()> {
                revoke_families(&self.pool, "select $1", family_id, now).await
            }

            async fn revoke_user_refresh_tokens(&self, user_id: &str, now: i64) -> Result<()> {
                revoke_families(&self.pool, "select id from refresh_families where user_id = $1", user_id, now).await
            }

            async fn revoke_client_refresh_tokens(&self, client_id: &str, now: i64) -> Result<()> {
                revoke_families(&self.pool, "select id from refresh_families where client_id = $1", client_id, now).await
            }

            async fn all_allowed_origins(&self) -> Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as("select allowed_origins from clients where not disabled and allowed_origins <> ''")
                    .fetch_all(&self.pool).await?;
                Ok(rows.into_iter().flat_map(|(o,)| o.split(' ').map(str::to_string).collect::<Vec<_>>()).collect())
            }

            async fn insert_code(&self, c: &AuthCode) -> Result<()> {
                sqlx::query(
                    "insert into auth_codes (hash, client_id, user_id, redirect_uri, redirect_uri_given, code_challenge,
                     scope, audience, nonce, auth_time, created_at, expires_at, sid, claims, dpop_jkt, resources)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(&c.hash).bind(&c.client_id).bind(&c.user_id).bind(&c.redirect_uri).bind(c.redirect_uri_given)
                .bind(&c.code_challenge).bind(&c.scope).bind(&c.audience).bind(&c.nonce).bind(c.auth_time)
                .bind(c.created_at).bind(c.expires_at).bind(&c.sid).bind(&c.claims).bind(&c.dpop_jkt).bind(&c.resources)
                .execute(&self.pool).await?;
                Ok(())
            }

            async fn find_code(&self, hash: &str) -> Result<Option<AuthCode>> {
                Ok(sqlx::query_as::<_, AuthCode>("select * from auth_codes where hash = $1")
                    .bind(hash).fetch_optional(&self.pool).await?)
            }

            async fn redeem_code(&self, hash: &str, now: i64, r: &Redemption<'_>) -> Result<bool> {
                let mut guard = $crate::store::tx::Guarded::acquire(&self.pool).await?;
                let mut tx = sqlx::Connection::begin(guard.conn()).await?;
                let family = r.refresh.map(|f| f.id.clone());
                let consumed = sqlx::query(
                    "update auth_codes set used_at = $2, access_jti = $3, access_exp = $4, family_id = $5
                     where hash = $1 and used_at is null and expires_at > $2",
                )
                .bind(hash).bind(now).bind(r.access_jti).bind(r.access_exp).bind(&family)
                .execute(&mut *tx).await?;
                if consumed.rows_affected() != 1 {
                    tx.rollback().await?;
                    guard.release();
                    return Ok(false);
                }
                if let Some(f) = r.refresh {
                    insert_family(&mut *tx, f).await?;
                }
                tx.commit().await?;
                guard.release();
                Ok(true)
            }

            async fn revoke_code_tokens(&self, hash: &str, now: i64) -> Result<()> {
                sqlx::query(
                    "insert into revoked_jtis (jti, expires_at)
                     select access_jti, access_exp from auth_codes where hash = $1 and access_jti is not null
                     on conflict (jti) do nothing",
                )
                .bind(hash).execute(&self.pool).await?;
                revoke_families(&self.pool, "select family_id from auth_codes where hash = $1", hash, now).await
            }

            async fn is_jti_revoked(&self, jti: &str) -> Result<bool> {
                jti_denied(&self.pool, jti).await
            }

            async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
                sqlx::query("insert into revoked_jtis (jti, expires_at) values ($1, $2) on conflict (jti) do nothing")
                    .bind(jti).bind(expires_at).execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_session(&self, s: &Session) -> Result<()> {
                sqlx::query("insert into sessions (hash, user_id, auth_time, created_at, expires_at, sid) values ($1, $2, $3, $4, $5, $6)")
                    .bind(&s.hash).bind(&s.user_id).bind(s.auth_time).bind(s.created_at).bind(s.expires_at).bind(&s.sid)
                    .execute(&self.pool).await?;
                Ok(())
            }

            async fn get_session(&self, hash: &str) -> Result<Option<Session>> {
                Ok(sqlx::query_as::<_, Session>("select * from sessions where hash = $1")
                    .bind(hash).fetch_optional(&self.pool).await?)
            }

            async fn delete_session(&self, hash: &str) -> Result<()> {
                sqlx::query("delete from sessions where hash = $1").bind(hash).execute(&self.pool).await?;
                Ok(())
            }

            async fn get_consent(&self, user_id: &str, client_id: &str, audience: &str) -> Result<Option<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "select scope from consents where user_id = $1 and client_id = $2 and audience = $3 order by scope",
                )
                .bind(user_id).bind(client_id).bind(audience).fetch_all(&self.pool).await?;
                Ok((!rows.is_empty()).then(|| {
                    rows.into_iter().map(|(s,)| s).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
                }))
            }

            async fn grant_consent(
                &self, user_id: &str, client_id: &str, audience: &str, scope: &str, now: i64,
            ) -> Result<()> {
                // One row per scope, so a grant adds to the earlier ones; the '' row records that
                // the user allowed the client on this API at all, even with no scope.
                let mut guard = $crate::store::tx::Guarded::acquire(&self.pool).await?;
                let mut tx = sqlx::Connection::begin(guard.conn()).await?;
                for s in std::iter::once("").chain(scope.split(' ').filter(|s| !s.is_empty())) {
                    sqlx::query(
                        "insert into consents (user_id, client_id, audience, scope, created_at)
                         values ($1, $2, $3, $4, $5) on conflict do nothing",
                    )
                    .bind(user_id).bind(client_id).bind(audience).bind(s).bind(now).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                guard.release();
                Ok(())
            }

            async fn insert_issuer(&self, i: &TrustedIssuer) -> Result<()> {
                sqlx::query(
                    "insert into trusted_issuers (issuer, alias, jwks_uri, jwks_json, subjects, scope, audience, map,
                     max_age, require_jti, client_auth, enabled, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&i.issuer).bind(&i.alias).bind(&i.jwks_uri).bind(&i.jwks_json).bind(&i.subjects).bind(&i.scope)
                .bind(&i.audience).bind(i.map.as_str()).bind(i.max_age).bind(i.require_jti).bind(i.client_auth.as_str())
                .bind(i.enabled).bind(i.created_at)
                .execute(&self.pool).await?;
                self.changes.send(Change::Issuer(i.issuer.clone()));
                Ok(())
            }

            async fn get_issuer(&self, issuer: &str) -> Result<Option<TrustedIssuer>> {
                Ok(sqlx::query_as::<_, TrustedIssuer>("select * from trusted_issuers where issuer = $1")
                    .bind(issuer).fetch_optional(&self.pool).await?)
            }

            async fn list_issuers(&self) -> Result<Vec<TrustedIssuer>> {
                Ok(sqlx::query_as::<_, TrustedIssuer>("select * from trusted_issuers order by issuer")
                    .fetch_all(&self.pool).await?)
            }

            async fn set_issuer_enabled(&self, issuer: &str, enabled: bool) -> Result<bool> {
                let r = sqlx::query("update trusted_issuers set enabled = $2 where issuer = $1")
                    .bind(issuer).bind(enabled).execute(&self.pool).await?;
                self.changes.send(Change::Issuer(issuer.to_string()));
                Ok(r.rows_affected() == 1)
            }

            async fn delete_issuer(&self, issuer: &str) -> Result<bool> {
                let r = sqlx::query("delete from trusted_issuers where issuer = $1").bind(issuer).execute(&self.pool).await?;
                self.changes.send(Change::Issuer(issuer.to_string()));
                Ok(r.rows_affected() == 1)
            }

            async fn use_jti(&self, issuer: &str, jti: &str, expires_at: i64) -> Result<bool> {
                // One statement: two instances racing on the same jti cannot both insert it.
                let r = sqlx::query("insert into used_jtis (issuer, jti, expires_at) values ($1, $2, $3) on conflict (issuer, jti) do nothing")
                    .bind(issuer).bind(jti).bind(expires_at).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn use_dpop_jti(&self, key: &str, expires_at: i64) -> Result<bool> {
                // One statement: two instances racing on the same proof cannot both insert it.
                let r = sqlx::query("insert into dpop_jtis (proof_key, expires_at) values ($1, $2) on conflict (proof_key) do nothing")
                    .bind(key).bind(expires_at).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn server_secret(&self, name: &str, candidate: &str, now: i64) -> Result<String> {
                // The first instance's candidate wins; everyone reads back the one stored.
                sqlx::query("insert into server_secrets (name, value, created_at) values ($1, $2, $3) on conflict (name) do nothing")
                    .bind(name).bind(candidate).bind(now).execute(&self.pool).await?;
                Ok(sqlx::query_scalar::<_, String>("select value from server_secrets where name = $1")
                    .bind(name).fetch_one(&self.pool).await?)
            }

            async fn jti_seen(&self, issuer: &str, jti: &str) -> Result<bool> {
                let row: Option<(String,)> = sqlx::query_as("select jti from used_jtis where issuer = $1 and jti = $2")
                    .bind(issuer).bind(jti).fetch_optional(&self.pool).await?;
                Ok(row.is_some())
            }

            async fn link_user(&self, issuer: &str, subject: &str, user_id: &str, now: i64) -> Result<()> {
                sqlx::query(
                    "insert into user_links (issuer, subject, user_id, created_at) values ($1, $2, $3, $4)
                     on conflict (issuer, subject) do update set user_id = excluded.user_id",
                )
                .bind(issuer).bind(subject).bind(user_id).bind(now).execute(&self.pool).await?;
                Ok(())
            }

            async fn linked_user(&self, issuer: &str, subject: &str) -> Result<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as("select user_id from user_links where issuer = $1 and subject = $2")
                    .bind(issuer).bind(subject).fetch_optional(&self.pool).await?;
                Ok(row.map(|(u,)| u))
            }

            async fn purge_expired(&self, now: i64) -> Result<u64> {
                purge(&self.pool, now).await
            }
        }
    };
}
