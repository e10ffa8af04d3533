//! The SQL of token exchange policies (RFC 8693 §2.1), shared by both backends.
//! `with_exchange_methods!` hands its methods on to `with_oidc_methods!` as tokens, so that
//! `#[async_trait]` sees them in the one impl.

macro_rules! with_exchange_methods {
    ($store:ty, $db:ty) => {
        with_oidc_methods!($store, $db;
        async fn upsert_exchange_policy(&self, p: &ExchangePolicy) -> Result<()> {
            sqlx::query(
                "insert into exchange_policies
                 (client_id, source, audience, scope, impersonate, subject_audience, created_at)
                 values ($1, $2, $3, $4, $5, $6, $7)
                 on conflict (client_id, source, audience) do update set scope = excluded.scope,
                 impersonate = excluded.impersonate, subject_audience = excluded.subject_audience",
            )
            .bind(&p.client_id).bind(&p.source).bind(&p.audience).bind(&p.scope).bind(p.impersonate)
            .bind(&p.subject_audience).bind(p.created_at).execute(&self.pool).await?;
            Ok(())
        }

        async fn delete_exchange_policy(&self, client_id: &str, source: &str, audience: &str) -> Result<bool> {
            let r = sqlx::query(
                "delete from exchange_policies where client_id = $1 and source = $2 and audience = $3",
            )
            .bind(client_id).bind(source).bind(audience).execute(&self.pool).await?;
            Ok(r.rows_affected() == 1)
        }

        async fn exchange_policies(&self, client_id: &str) -> Result<Vec<ExchangePolicy>> {
            Ok(sqlx::query_as::<_, ExchangePolicy>(
                "select * from exchange_policies where client_id = $1 order by source, audience",
            )
            .bind(client_id).fetch_all(&self.pool).await?)
        }
        );
    };
}
