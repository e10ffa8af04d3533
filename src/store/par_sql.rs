//! The SQL of pushed authorization requests (RFC 9126 §2, §4), shared by both backends.
//! `with_par_methods!` hands its methods (and those it is given) to `with_oidc_methods!` as tokens, so that
//! `#[async_trait]` sees them in the one `impl Store`.

macro_rules! with_par_methods {
    ($store:ty, $db:ty; $($more:tt)*) => {
        with_oidc_methods!($store, $db;
        $($more)*
        async fn insert_pushed_request(&self, r: &PushedRequest) -> Result<()> {
            sqlx::query(
                "insert into pushed_requests (hash, client_id, params, created_at, expires_at)
                 values ($1, $2, $3, $4, $5)",
            )
            .bind(&r.hash).bind(&r.client_id).bind(&r.params).bind(r.created_at).bind(r.expires_at)
            .execute(&self.pool).await?;
            Ok(())
        }

        async fn get_pushed_request(&self, hash: &str, client_id: &str) -> Result<Option<PushedRequest>> {
            Ok(sqlx::query_as::<_, PushedRequest>(
                "select * from pushed_requests where hash = $1 and client_id = $2",
            )
            .bind(hash).bind(client_id).fetch_optional(&self.pool).await?)
        }

        async fn take_pushed_request(&self, hash: &str, client_id: &str) -> Result<bool> {
            // One statement: of two requests racing to use it, only one gets the row back.
            let taken: Option<(String,)> = sqlx::query_as(
                "delete from pushed_requests where hash = $1 and client_id = $2 returning hash",
            )
            .bind(hash).bind(client_id).fetch_optional(&self.pool).await?;
            Ok(taken.is_some())
        }
        );
    };
}
