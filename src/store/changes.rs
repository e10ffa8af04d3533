//! Change events for the hot-path caches (README "Hot path and caches"): which client or trusted
//! issuer changed. Each store reports its own writes at once; triggers (migration 0007) report
//! every write by anyone: `NOTIFY oauthd_cache, '<kind>:<key>'` on PostgreSQL, rows of
//! `cache_changes` on SQLite.

use tokio::sync::broadcast;

/// The PostgreSQL channel the triggers notify.
pub const CHANNEL: &str = "oauthd_cache";

/// Events a subscriber may fall behind by before it gets `Lagged` (and must forget everything).
const BACKLOG: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A client row or one of its API grants (so also the allowed origins).
    Client(String),
    /// A trusted issuer.
    Issuer(String),
    /// Anything may have changed: events were missed (a lost connection) or a table was truncated.
    All,
}

impl Change {
    /// Reads a notification payload, `client:<id>` or `issuer:<issuer>`; anything else is `All`.
    pub fn parse(payload: &str) -> Change {
        match payload.split_once(':') {
            Some(("client", id)) => Change::Client(id.to_string()),
            Some(("issuer", iss)) => Change::Issuer(iss.to_string()),
            _ => Change::All,
        }
    }
}

/// The fan-out of one store's change events to its subscribers.
pub struct Changes(broadcast::Sender<Change>);

impl Default for Changes {
    fn default() -> Self {
        Changes(broadcast::channel(BACKLOG).0)
    }
}

impl Changes {
    pub fn send(&self, change: Change) {
        // No subscriber (a CLI run) is fine: nobody caches anything.
        let _ = self.0.send(change);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.0.subscribe()
    }

    pub fn has_subscribers(&self) -> bool {
        self.0.receiver_count() > 0
    }

    pub fn sender(&self) -> Changes {
        Changes(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_client_or_an_issuer_and_anything_else_means_all() {
        assert_eq!(Change::parse("client:svc-1"), Change::Client("svc-1".into()));
        assert_eq!(Change::parse("issuer:https://idp.test:8443"), Change::Issuer("https://idp.test:8443".into()));
        assert_eq!(Change::parse("all:"), Change::All);
        assert_eq!(Change::parse("garbage"), Change::All);
    }
}
