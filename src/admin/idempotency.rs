//! `Idempotency-Key` on creates (draft-ietf-httpapi-idempotency-key-header): the key is reserved
//! in one insert before the create runs, so two racers never both create; a retry with the same
//! key and body gets the first answer again, another body gets 422, a retry while the first
//! still runs gets 409. Answers are kept without secrets: a replay does not repeat a secret.

use std::future::Future;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::auth::Actor;
use super::{audit, AdminError};
use crate::store::Store;

/// An answer: status, body, and whether it is a replay of an earlier one.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

/// Runs `create` at most once per (actor, key). Without a key it just runs.
pub async fn once<F, Fut>(
    store: &dyn Store,
    actor: &Actor,
    key: Option<&str>,
    fingerprint: &[u8],
    now: i64,
    create: F,
) -> Result<Answer, AdminError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(u16, Value), AdminError>>,
{
    let Some(key) = key else {
        let (status, body) = create().await?;
        return Ok(Answer { status, body, replayed: false });
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AdminError::Invalid("Idempotency-Key must be 1 to 255 visible ASCII characters".into()));
    }
    let hash = hex::encode(Sha256::digest(fingerprint));
    if !store.reserve_idempotency_key(&actor.id, key, &hash, now).await? {
        return replay(store, actor, key, &hash).await;
    }
    match create().await {
        Ok((status, body)) => {
            let kept = audit::scrub(body.clone()).to_string();
            store.finish_idempotency_key(&actor.id, key, i64::from(status), &kept).await?;
            Ok(Answer { status, body, replayed: false })
        }
        Err(e) => {
            // Nothing was created: the key is free again for a corrected or retried request.
            let _ = store.release_idempotency_key(&actor.id, key).await;
            Err(e)
        }
    }
}

async fn replay(store: &dyn Store, actor: &Actor, key: &str, hash: &str) -> Result<Answer, AdminError> {
    let Some(rec) = store.get_idempotency_key(&actor.id, key).await? else {
        // Released by a failed first request between our insert and this read.
        return Err(AdminError::IdempotencyKeyInProgress);
    };
    if rec.request_hash != hash {
        return Err(AdminError::IdempotencyKeyReused);
    }
    match (rec.status, rec.body) {
        (0, _) | (_, None) => Err(AdminError::IdempotencyKeyInProgress),
        (status, Some(body)) => Ok(Answer {
            status: u16::try_from(status).unwrap_or(200),
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
            replayed: true,
        }),
    }
}
