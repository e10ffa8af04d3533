//! The audit log: every change made through the admin API or the CLI, with its actor, action,
//! target, time, request id and the resource before and after (secrets never included), kept
//! in `audit_events` for `audit_retention_days` and written as one structured log line.

use serde_json::Value;

use super::auth::Actor;
use crate::store::{AuditEvent, Store};

/// Fields that never enter an event, wherever they appear.
const SECRET_FIELDS: [&str; 5] = ["client_secret", "password", "password_hash", "secret_hash", "private_der"];

/// One change, described before it is recorded.
pub struct Change<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub target: String,
    pub request_id: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Records the change. A failed write is logged and does not undo the change, which is done.
pub async fn record(store: &dyn Store, c: Change<'_>, now: i64) {
    let event = AuditEvent {
        // Nanoseconds, so that events of one second still list in the order they happened.
        id: format!("{:020}-{}", clock_nanos(now), uuid::Uuid::new_v4().simple()),
        at: now,
        actor: c.actor.id.clone(),
        action: c.action.to_string(),
        target: c.target,
        request_id: c.request_id.map(str::to_string),
        before: c.before.map(|v| scrub(v).to_string()),
        after: c.after.map(|v| scrub(v).to_string()),
    };
    tracing::info!(
        target: "oauthd::audit",
        audit_id = %event.id,
        actor = %event.actor,
        action = %event.action,
        audit_target = %event.target,
        request_id = event.request_id.as_deref().unwrap_or(""),
        "audit"
    );
    if let Err(e) = store.insert_audit(&event).await {
        tracing::error!(error = %e, audit_id = %event.id, action = %event.action, "audit event not stored");
    }
}

/// Nanoseconds since the epoch: the wall clock's, or `now`'s second when the clock is behind it.
fn clock_nanos(now: i64) -> u128 {
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    wall.max(u128::from(now.max(0) as u64) * 1_000_000_000)
}

/// The value with every secret field removed, at any depth.
pub fn scrub(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            for k in SECRET_FIELDS {
                m.remove(k);
            }
            for x in m.values_mut() {
                *x = scrub(std::mem::take(x));
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = scrub(std::mem::take(x));
            }
        }
        _ => {}
    }
    v
}

/// An event as the API and `oauthd audit list` show it, with before/after as JSON.
pub fn to_json(e: &AuditEvent) -> Value {
    let parse = |s: &Option<String>| s.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null);
    serde_json::json!({
        "id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
        "request_id": e.request_id, "before": parse(&e.before), "after": parse(&e.after),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_scrubbed_at_any_depth() {
        let v =
            scrub(json!({ "client_secret": "s", "a": [{ "password": "p", "ok": 1 }], "b": { "secret_hash": "h" } }));
        assert_eq!(v, json!({ "a": [{ "ok": 1 }], "b": {} }));
    }
}
