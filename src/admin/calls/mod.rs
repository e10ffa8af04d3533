//! The admin API's calls, one function per route, without HTTP types: `http/admin` authenticates,
//! parses the body and hands over a `Ctx`; each call answers a `Reply` or an `AdminError`.

pub mod clients;
pub mod misc;
pub mod users;

use serde_json::{json, Value};

use super::audit::{self, Change};
use super::auth::{self, Actor};
use super::idempotency::Answer;
use super::AdminError;
use crate::clock::now;
use crate::state::AppState;

/// The most items one page of a list holds, and the default.
pub const MAX_PAGE: i64 = 200;
pub const DEFAULT_PAGE: i64 = 50;

/// One authenticated admin call.
pub struct Ctx<'a> {
    pub app: &'a AppState,
    pub actor: Actor,
    pub request_id: Option<String>,
    pub if_match: Option<String>,
    pub idempotency_key: Option<String>,
    /// What identifies the request for `Idempotency-Key`: its path and body.
    pub fingerprint: Vec<u8>,
}

/// Who is calling, from their bearer token, if it carries `scope`.
pub async fn authorize(app: &AppState, token: Option<&str>, scope: &'static str) -> Result<Actor, AdminError> {
    let actor = auth::authenticate(app, token).await?;
    actor.require(scope)?;
    Ok(actor)
}

impl Ctx<'_> {
    /// Records a change made in this call in the audit log.
    pub async fn record(&self, action: &str, target: &str, before: Option<Value>, after: Option<Value>) {
        let change = Change {
            actor: &self.actor,
            action,
            target: target.to_string(),
            request_id: self.request_id.as_deref(),
            before,
            after,
        };
        audit::record(self.app.store.as_ref(), change, now()).await;
    }
}

/// What a call answers: status, body, whether to tag it with an ETag, whether it is a replay.
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub etag: Option<String>,
    pub replayed: bool,
}

impl Reply {
    pub fn ok(v: Value) -> Reply {
        Reply { status: 200, body: Some(v), etag: None, replayed: false }
    }

    /// A resource with its strong ETag, for `If-Match` on the next `PATCH`.
    pub fn tagged(v: Value) -> Reply {
        let etag = Some(super::patch::etag(&v));
        Reply { status: 200, body: Some(v), etag, replayed: false }
    }

    pub fn no_content() -> Reply {
        Reply { status: 204, body: None, etag: None, replayed: false }
    }

    pub fn items(items: Vec<Value>) -> Reply {
        Reply::ok(json!({ "items": items }))
    }

    /// A page of items, with the cursor of the next one when this one is full.
    pub fn page(items: Vec<Value>, limit: i64, next: Option<String>) -> Reply {
        let next = if items.len() as i64 >= limit { next } else { None };
        Reply::ok(json!({ "items": items, "next_cursor": next }))
    }
}

impl From<Answer> for Reply {
    fn from(a: Answer) -> Reply {
        Reply { status: a.status, body: Some(a.body), etag: None, replayed: a.replayed }
    }
}

/// `?limit=&cursor=` of a list.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Page {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl Page {
    /// The limit asked for (default 50), refused past the cap of 200.
    pub fn limit(&self) -> Result<i64, AdminError> {
        match self.limit.as_deref() {
            None => Ok(DEFAULT_PAGE),
            Some(l) => match l.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
                _ => Err(AdminError::Invalid(format!("limit must be 1 to {MAX_PAGE}"))),
            },
        }
    }
}
