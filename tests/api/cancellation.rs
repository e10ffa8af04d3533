//! A store call cut off part-way (a deadline, a client that went away) must not leave its
//! connection inside a transaction (transact-rs/sqlx#4393): every multi-statement operation (the
//! session ends of back-channel logout too) is
//! cancelled at each of its await points, then no session may be idle in a transaction and the
//! next autocommit write must take effect at once.

use std::future::Future;
use std::time::Duration;

use futures_util::FutureExt;
use oauthd::clock::now;
use oauthd::store::{AuthCode, Redemption, RefreshFamily, Rotation, Session, Store};
use sqlx::Connection;

use crate::helpers::*;

/// Polls `f` `polls` times, a millisecond apart (one local round trip each), then drops it.
async fn cut_after<F: Future>(polls: usize, f: F) {
    let mut f = std::pin::pin!(f);
    for _ in 0..polls {
        if f.as_mut().now_or_never().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn family_row(id: &str, client: &str, user: &str) -> RefreshFamily {
    let t = now();
    RefreshFamily {
        id: id.into(),
        client_id: client.into(),
        user_id: user.into(),
        scope: "read:x".into(),
        audience: API.into(),
        gty: "password".into(),
        auth_time: t,
        created_at: t,
        expires_at: t + 3600,
        idle_expires_at: t + 600,
        generation: 0,
        secret_hash: format!("secret-{id}"),
        issued_at: t,
        rotated_generation: None,
        rotated_hash: None,
        rotated_at: None,
        access_exp: t + 600,
        revoked_at: None,
        sid: None,
        claims: None,
        dpop_jkt: None,
        resources: String::new(),
    }
}

fn code_row(hash: &str, client: &str, user: &str) -> AuthCode {
    let t = now();
    AuthCode {
        hash: hash.into(),
        client_id: client.into(),
        user_id: user.into(),
        redirect_uri: "https://app.test/cb".into(),
        redirect_uri_given: true,
        code_challenge: None,
        scope: "openid".into(),
        audience: API.into(),
        nonce: None,
        auth_time: t,
        created_at: t,
        expires_at: t + 60,
        used_at: None,
        access_jti: None,
        access_exp: None,
        family_id: None,
        sid: None,
        claims: None,
        dpop_jkt: None,
        resources: String::new(),
    }
}

/// Sessions of this test's database still inside a transaction, after closed connections had
/// a moment to go away.
async fn idle_in_transaction(url: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let mut n = 0;
    for _ in 0..40 {
        n = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and state like 'idle in transaction%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    n
}

/// Cuts the operation `$op` (an expression using `$i`, unique per try) at every await point.
/// After each cut, an autocommit write must be visible at once to another connection.
macro_rules! cut_everywhere {
    ($probe:expr, |$i:ident| $op:expr) => {
        for polls in 1..=8 {
            for round in 0..3 {
                let $i = polls * 10 + round;
                cut_after(polls, $op).await;
                $probe.after_cut().await;
            }
        }
    };
}

/// Checks, after a cut, that the pool hands out no connection left inside a transaction.
struct Probe<'a> {
    store: &'a dyn Store,
    other: Option<sqlx::PgConnection>,
    writes: usize,
}

impl Probe<'_> {
    async fn after_cut(&mut self) {
        // Several writes, so that they land on every pooled connection, the cut one included.
        for _ in 0..4 {
            self.writes += 1;
            let jti = format!("after-{}", self.writes);
            self.store.revoke_jti(&jti, now() + 600).await.unwrap();
            if let Some(other) = &mut self.other {
                let seen: i64 = sqlx::query_scalar("select count(*) from revoked_jtis where jti = $1")
                    .bind(&jti)
                    .fetch_one(&mut *other)
                    .await
                    .unwrap();
                assert_eq!(seen, 1, "write {jti} ran inside a transaction left open by a cut call");
            }
        }
    }
}

async fn a_cancelled_store_call_never_leaves_a_connection_inside_a_transaction(b: Backend) {
    let url = fresh_database(b).await;
    let t = TestApp::spawn_on(url.clone(), |_| {}).await;
    let (client, _) = t.client(&["password", "refresh_token"], "read:x").await;
    let user = t.user("cut", "pw-cut").await.id;
    let s = t.app.store.as_ref();
    let (c, u) = (client.as_str(), user.as_str());
    let n = now();
    let other = match b {
        Backend::Postgres => Some(sqlx::PgConnection::connect(&url).await.unwrap()),
        Backend::Sqlite => None,
    };
    let mut probe = Probe { store: s, other, writes: 0 };
    cut_everywhere!(probe, |i| async {
        let _ = s.insert_refresh_family(&family_row(&format!("f{i}"), c, u)).await;
    });
    s.insert_refresh_family(&family_row("live", c, u)).await.unwrap();
    cut_everywhere!(probe, |i| async {
        let new_hash = format!("r{i}");
        let r = Rotation {
            family_id: "live",
            client_id: c,
            generation: 0,
            secret_hash: "secret-live",
            new_hash: &new_hash,
            now: n,
            grace: 5,
            idle_expires_at: n + 600,
            access_exp: n + 600,
        };
        let _ = s.rotate_refresh_family(&r).await;
    });
    cut_everywhere!(probe, |i| async {
        let _ = s.revoke_refresh_family(&format!("f{i}"), n).await;
        let _ = s.revoke_user_refresh_tokens(u, n).await;
        let _ = s.revoke_client_refresh_tokens(c, n).await;
    });
    cut_everywhere!(probe, |i| async {
        let code = format!("code{i}");
        let _ = s.insert_code(&code_row(&code, c, u)).await;
        let refresh = family_row(&format!("cf{i}"), c, u);
        let r = Redemption { access_jti: "jti", access_exp: n + 60, refresh: Some(&refresh) };
        let _ = s.redeem_code(&code, n, &r).await;
    });
    cut_everywhere!(probe, |i| async {
        let _ = s.grant_consent(u, c, API, &format!("read:x s{i}"), n).await;
    });
    cut_everywhere!(probe, |i| async {
        let sid = format!("sid{i}");
        let session = Session {
            hash: format!("sess{i}"),
            user_id: u.to_string(),
            auth_time: n,
            created_at: n,
            expires_at: n + 600,
            sid: Some(sid.clone()),
        };
        let _ = s.insert_session(&session).await;
        let _ = s.add_session_client(&sid, c).await;
        let _ = s.end_session(&session.hash, n).await;
        let _ = s.end_user_sessions(u, n).await;
    });
    if b == Backend::Postgres {
        assert_eq!(idle_in_transaction(&url).await, 0, "a cut transaction was returned to the pool");
    }
    assert!(probe.writes > 0);
    if b == Backend::Postgres {
        assert_eq!(idle_in_transaction(&url).await, 0, "no session is left idle in a transaction");
    }
}

crate::on_both_backends!(a_cancelled_store_call_never_leaves_a_connection_inside_a_transaction);
