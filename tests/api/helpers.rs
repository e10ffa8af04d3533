//! TestApp: starts the real router on a fresh SQLite file or a fresh PostgreSQL database and
//! talks to it over HTTP like any client.

use std::net::SocketAddr;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauthd::admin::{self, clients::NewClient};
use oauthd::clock::now;
use oauthd::store::User;
use oauthd::{App, AppState, Settings};
use serde_json::Value;
use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(Backend)` once per backend, as `sqlite::name` and `postgres::name`.
/// The PostgreSQL variants never skip: without a server they fail.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Backend::Postgres).await })*
        }
    };
}

pub const API: &str = "https://api.test";

pub fn pg_base_url() -> String {
    std::env::var("OAUTHD_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh, empty database URL for `backend`.
pub async fn fresh_database(backend: Backend) -> String {
    let name = format!("oauthd_test_{}", uuid::Uuid::new_v4().simple());
    match backend {
        Backend::Sqlite => format!("sqlite://{}/{name}.db", std::env::temp_dir().display()),
        Backend::Postgres => {
            let base = pg_base_url();
            let mut conn = sqlx::PgConnection::connect(&format!("{base}/postgres"))
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL tests need a server at {base} (set OAUTHD_TEST_PG_URL): {e}"));
            sqlx::query(&format!("create database {name}")).execute(&mut conn).await.expect("create database");
            format!("{base}/{name}")
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub app: App,
    pub http: reqwest::Client,
}

pub fn test_settings(database_url: String, addr: SocketAddr) -> Settings {
    Settings {
        bind: addr.to_string(),
        issuer: format!("http://{addr}"),
        database_url,
        argon2_memory_kib: 1024,
        argon2_iterations: 1,
        client_cache_ttl: 1,
        ..Settings::default()
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let url = fresh_database(backend).await;
        Self::spawn_on(url, tweak).await
    }

    /// Starts an instance on an existing database (for several instances on one database).
    pub async fn spawn_on(url: String, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = test_settings(url, addr);
        tweak(&mut settings);
        let app = AppState::init(settings).await.expect("app starts");
        tokio::spawn(oauthd::serve(listener, app.clone()));
        TestApp { base: format!("http://{addr}"), app, http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(self.url("/token")).form(form).send().await.unwrap()
    }

    pub async fn post_token_basic(&self, id: &str, secret: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(self.url("/token")).basic_auth(id, Some(secret)).form(form).send().await.unwrap()
    }

    /// Registers `API` with `scopes` if needed.
    pub async fn api(&self, scopes: &str) {
        let store = self.app.store.as_ref();
        if store.get_api(API).await.unwrap().is_none() {
            admin::create_api(store, API, None, scopes, now()).await.unwrap();
        }
    }

    /// A confidential client with `grants`, granted `scopes` on `API`. Returns (id, secret).
    pub async fn client(&self, grants: &[&str], scopes: &str) -> (String, String) {
        self.api("read:x write:x admin:x").await;
        let req = NewClient {
            name: "test".into(),
            grants: grants.iter().map(|g| g.to_string()).collect(),
            scope: Some(scopes.into()),
            api: Some(API.into()),
            ..Default::default()
        };
        let (c, secret) = admin::clients::create(self.app.store.as_ref(), req, None, now()).await.unwrap();
        (c.id, secret.unwrap_or_default())
    }

    pub async fn m2m(&self) -> (String, String) {
        self.client(&["client_credentials"], "read:x write:x").await
    }

    pub async fn user(&self, username: &str, password: &str) -> User {
        let store = self.app.store.as_ref();
        admin::users::create(
            store,
            &self.app.passwords,
            "local",
            username,
            Some(&format!("{username}@example.com")),
            password,
            now(),
        )
        .await
        .unwrap()
    }

    /// Rows in `table` of this app's database, counted on a connection of the test's own.
    pub async fn count_rows(&self, table: &str) -> i64 {
        self.count(&[table]).await
    }

    /// Rows in every table of this app's database (but the migrations' own).
    pub async fn count_all_rows(&self) -> i64 {
        let sql = if self.app.settings.database_url.starts_with("sqlite:") {
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
        } else {
            "select tablename::text from pg_tables where schemaname = 'public'"
        };
        let tables: Vec<String> = self.query(sql).await.into_iter().filter(|t| !t.starts_with("_sqlx")).collect();
        self.count(&tables.iter().map(String::as_str).collect::<Vec<_>>()).await
    }

    async fn count(&self, tables: &[&str]) -> i64 {
        let sql =
            tables.iter().map(|t| format!("select count(*) as n from {t}")).collect::<Vec<_>>().join(" union all ");
        let counts = self.query(&format!("select cast(sum(n) as text) from ({sql}) as c")).await;
        counts[0].parse().unwrap()
    }

    async fn query(&self, sql: &str) -> Vec<String> {
        let url = &self.app.settings.database_url;
        if url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar::<_, String>(sql).fetch_all(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar::<_, String>(sql).fetch_all(&mut c).await.unwrap()
        }
    }

    pub async fn jwks(&self) -> JwkSet {
        self.http.get(self.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap()
    }

    /// Verifies `token` against the published JWKS the way a resource server would, and
    /// returns its header `typ` and claims.
    pub async fn verify(&self, token: &str, audience: &str) -> (String, Value) {
        let header = jsonwebtoken::decode_header(token).expect("header");
        let jwks = self.jwks().await;
        let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("kid is published");
        let alg =
            Algorithm::from_str(serde_json::to_value(jwk.common.key_algorithm).unwrap().as_str().unwrap()).unwrap();
        let mut v = Validation::new(alg);
        v.set_audience(&[audience]);
        v.set_issuer(&[&self.app.settings.issuer]);
        let data =
            jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v).expect("token verifies");
        (header.typ.unwrap_or_default(), data.claims)
    }
}

use std::str::FromStr;

pub async fn json(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}
