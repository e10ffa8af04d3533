//! Refresh tokens issued before migration 0006 (one row per token) keep working after it
//! (one row per family, RFC 9700 §4.14.2 reuse detection by generation).

use std::str::FromStr;

use oauthd::clock::now;
use oauthd::oauth::secret;

use crate::helpers::{fresh_database, json, Backend, TestApp, API};
use crate::on_both_backends;

/// Runs the migrations up to `last` only: the schema an earlier release left.
async fn migrate_up_to(url: &str, b: Backend, last: i64) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(match b {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    });
    let mut m = sqlx::migrate::Migrator::new(dir).await.unwrap();
    m.migrations = m.migrations.iter().filter(|x| x.version <= last).cloned().collect::<Vec<_>>().into();
    match b {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).unwrap().create_if_missing(true);
            m.run(&sqlx::SqlitePool::connect_with(opts).await.unwrap()).await.unwrap();
        }
        Backend::Postgres => m.run(&sqlx::PgPool::connect(url).await.unwrap()).await.unwrap(),
    }
}

async fn execute(url: &str, b: Backend, sql: &str) {
    match b {
        Backend::Sqlite => {
            sqlx::raw_sql(sql).execute(&sqlx::SqlitePool::connect(url).await.unwrap()).await.unwrap();
        }
        Backend::Postgres => {
            sqlx::raw_sql(sql).execute(&sqlx::PgPool::connect(url).await.unwrap()).await.unwrap();
        }
    }
}

/// A client and a user, and one family as the earlier release stored it: `rotated`, then
/// `live`. Returns the client's id and secret.
async fn earlier_release(url: &str, b: Backend, rotated: &str, live: &str) -> (String, String) {
    migrate_up_to(url, b, 5).await;
    // The rows an earlier release wrote, in its own schema (today's store writes columns it lacks).
    let secret = secret::random_token(32);
    let client = "old-client";
    let t = now();
    let row = |token: &str, used: &str| {
        format!(
            "insert into refresh_tokens (hash, family_id, client_id, user_id, scope, audience, gty, auth_time,
             created_at, expires_at, family_expires_at, used_at, access_jti, access_exp)
             values ('{}', 'fam-old', '{}', 'local|old', 'read:x offline_access', '{API}', 'password', {t}, {t},
             {}, {}, {used}, 'jti-old', {});",
            secret::digest(token),
            client,
            t + 600,
            t + 3600,
            t + 60
        )
    };
    let sql = format!(
        "insert into apis (identifier, name, scopes, created_at) values ('{API}', '{API}', 'read:x', {t});
         insert into clients (id, name, secret_hash, grant_types, created_at, updated_at)
         values ('{client}', 'old', '{}', 'password refresh_token', {t}, {t});
         insert into client_grants (client_id, api, scopes) values ('{client}', '{API}', 'read:x');
         insert into users (id, username, username_lower, email_verified, disabled, failed_count,
         failed_window_start, locked_until, created_at, updated_at)
         values ('local|old', 'old', 'old', false, false, 0, 0, 0, {t}, {t});
         insert into refresh_families (id, client_id, user_id, created_at) values ('fam-old', '{client}', 'local|old', {t});
         {} {}",
        secret::digest(&secret),
        row(rotated, &(t - 5).to_string()),
        row(live, "null")
    );
    execute(url, b, &sql).await;
    (client.to_string(), secret)
}

async fn a_refresh_token_issued_before_the_upgrade_still_rotates_and_its_reuse_is_detected(b: Backend) {
    let url = fresh_database(b).await;
    let (rotated, live) = (secret::random_token(32), secret::random_token(32));
    let (id, client_secret) = earlier_release(&url, b, &rotated, &live).await;
    let t = TestApp::spawn_on(url, |_| {}).await;
    let refresh = |token: String| {
        let form = [("grant_type", "refresh_token".to_string()), ("refresh_token", token)];
        let r = t.http.post(t.url("/token")).basic_auth(&id, Some(&client_secret)).form(&form).send();
        async move { json(r.await.unwrap()).await }
    };
    let v = oauthd::admin::inspect::inspect_with_store(t.app.store.as_ref(), &t.base, &live, now()).await.unwrap();
    assert_eq!(v["verdict"], "valid", "{v}");

    let (s, _, first) = refresh(live.clone()).await;
    assert_eq!((s, first["scope"].as_str()), (200, Some("read:x offline_access")), "{first}");
    let next = first["refresh_token"].as_str().unwrap().to_string();
    assert!(next.starts_with(&format!("{live}.1.")), "the old token is the new family handle: {next}");
    let (s, _, second) = refresh(next).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(t.count_rows("refresh_families").await, 1);

    let (s, _, body) = refresh(rotated).await;
    assert_eq!(
        (s, body["error_description"].as_str()),
        (400, Some("refresh token is invalid, expired or revoked")),
        "tokens rotated before the upgrade are no longer known"
    );
    let (s, _, body) = refresh(live).await;
    assert_eq!(
        (s, body["error_description"].as_str()),
        (400, Some("refresh token was already used; its family is revoked"))
    );
    assert_eq!(refresh(second["refresh_token"].as_str().unwrap().into()).await.0, 400);
}

on_both_backends!(a_refresh_token_issued_before_the_upgrade_still_rotates_and_its_reuse_is_detected);
