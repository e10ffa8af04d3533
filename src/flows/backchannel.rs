//! OIDC Back-Channel Logout 1.0 §2.4–2.5: delivering logout tokens to the clients of ended
//! sessions. Ending a session only queues rows (`Store::end_session`, in the same transaction);
//! this task, off the request path, claims due rows, POSTs a fresh logout token to each client's
//! `backchannel_logout_uri` through the SSRF-hardened client, and deletes the row on a 2xx answer
//! or retries with backoff, at most `backchannel_logout_attempts` times. Rows queued by the CLI
//! (user disable, delete, password change, session revocation) are picked up by the polling.

use std::time::Duration;

use serde_json::json;

use crate::clock::{later, now};
use crate::jwt::mint::{self, LogoutClaims, Typ};
use crate::state::{App, AppState};
use crate::store::{Client, LogoutDelivery};

/// How often queued deliveries are looked for when nothing wakes the task.
const POLL: Duration = Duration::from_secs(2);
/// Deliveries claimed (and sent concurrently) at once.
const BATCH: i64 = 16;
/// A logout token is short-lived: it is minted for each attempt.
const TOKEN_TTL: u64 = 120;
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Starts the delivery task.
pub fn spawn(app: App) {
    tokio::spawn(async move {
        loop {
            deliver_due(&app).await;
            tokio::select! {
                _ = app.logout_wakeup.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    });
}

/// Delivers every due row, a batch at a time.
pub async fn deliver_due(app: &App) {
    loop {
        let t = now();
        // The lease outlasts one attempt, so a crashed instance's rows are retried, not lost.
        let lease = later(t, app.settings.backchannel_logout_timeout + 10);
        let batch = match app.store.claim_logout_deliveries(t, lease, BATCH).await {
            Ok(b) if b.is_empty() => return,
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the back-channel logout queue");
                return;
            }
        };
        let mut set = tokio::task::JoinSet::new();
        for d in batch {
            let app = app.clone();
            set.spawn(async move { deliver(&app, d).await });
        }
        while set.join_next().await.is_some() {}
    }
}

async fn deliver(app: &AppState, d: LogoutDelivery) {
    let client = match app.client(&d.client_id).await {
        Ok(c) => c,
        Err(e) => return retry(app, &d, &format!("storage: {e}")).await,
    };
    // A client deleted, disabled or unregistered since has nobody to tell.
    let target = client
        .as_ref()
        .filter(|c| !c.client.disabled)
        .and_then(|c| c.client.backchannel_logout_uri.clone().map(|uri| (uri, &c.client)));
    let Some((uri, client)) = target else { return finish(app, &d, "dropped").await };
    let token = match logout_token(app, client, &d) {
        Ok(t) => t,
        Err(e) => return retry(app, &d, &format!("signing: {e}")).await,
    };
    match app.outbound.post_form(&uri, &[("logout_token", &token)]).await {
        Ok(a) if (200..300).contains(&a.status) => {
            tracing::info!(event = "backchannel_logout", client_id = %d.client_id, sid = ?d.sid, "logout token delivered");
            finish(app, &d, "ok").await
        }
        Ok(a) => retry(app, &d, &format!("{uri} answered HTTP {}", a.status)).await,
        Err(e) => retry(app, &d, &e).await,
    }
}

/// The logout token (§2.4): `typ: logout+jwt`, the event, `sid` and `sub`, never a `nonce`;
/// signed like ID tokens (RS256), which the client already verifies.
pub fn logout_token(app: &AppState, client: &Client, d: &LogoutDelivery) -> anyhow::Result<String> {
    let t = now();
    let claims = LogoutClaims {
        iss: &app.settings.issuer,
        sub: &d.sub,
        aud: &client.id,
        iat: t,
        exp: later(t, TOKEN_TTL),
        jti: mint::new_jti(),
        events: json!({ EVENT: {} }),
        sid: d.sid.as_deref(),
    };
    let key = app.keys.load().id_signer.clone();
    mint::sign(&key, Typ::LogoutToken, &claims)
}

async fn finish(app: &AppState, d: &LogoutDelivery, outcome: &'static str) {
    metrics::counter!("oauthd_backchannel_logout_total", "outcome" => outcome).increment(1);
    if let Err(e) = app.store.finish_logout_delivery(&d.id).await {
        tracing::warn!(error = %e, id = %d.id, "could not remove a delivered logout token");
    }
}

async fn retry(app: &AppState, d: &LogoutDelivery, why: &str) {
    let attempts = d.attempts + 1;
    if attempts >= app.settings.backchannel_logout_attempts as i64 {
        tracing::error!(event = "backchannel_logout_failed", client_id = %d.client_id, sid = ?d.sid, attempts, error = why,
            "back-channel logout failed; giving up");
        return finish(app, d, "failed").await;
    }
    // 5 s, 10 s, 20 s, … at most 5 minutes.
    let wait = (5u64 << (attempts - 1).clamp(0, 6)).min(300);
    tracing::warn!(event = "backchannel_logout_retry", client_id = %d.client_id, attempts, retry_in_s = wait, error = why,
        "back-channel logout failed; will retry");
    metrics::counter!("oauthd_backchannel_logout_total", "outcome" => "retry").increment(1);
    if let Err(e) = app.store.retry_logout_delivery(&d.id, attempts, later(now(), wait)).await {
        tracing::warn!(error = %e, id = %d.id, "could not reschedule a logout token");
    }
}
