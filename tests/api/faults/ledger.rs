//! What the clients saw during a fault, and the rules of issue 13 it is judged by: correct
//! credentials are answered 200 or 503 `temporarily_unavailable` (RFC 6749 §5.2), never
//! `invalid_grant`/`invalid_client`; every back-channel 5xx is JSON; no refresh token is lost or
//! spent twice.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use serde_json::Value;

/// What one request came to, for the caller's next move.
#[derive(Debug)]
pub enum Seen {
    Ok(Value),
    /// 503 `temporarily_unavailable` (or a 503 page on the front channel): retry.
    Unavailable,
    /// `invalid_grant`/`invalid_client`, a wrong-password page: refused although correct.
    Refused,
    /// Anything else; recorded as a violation unless tolerated.
    Other,
    /// The connection could not be opened (an instance that is down): try another.
    Unreachable,
}

#[derive(Default, Clone, Copy)]
pub struct Tally {
    pub ok: u64,
    pub unavailable: u64,
    pub other: u64,
    pub unreachable: u64,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.ok + self.unavailable + self.other + self.unreachable
    }
}

#[derive(Default)]
struct Inner {
    tallies: BTreeMap<&'static str, Tally>,
    violations: Vec<String>,
    spent: HashSet<String>,
    issued: HashSet<String>,
    revoked: Vec<(&'static str, String)>,
}

/// Where a run is, for the violations it records.
#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Phase {
    Before = 1,
    During,
    After,
}

/// Shared by every traffic task of one run.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
    phase: AtomicU8,
    /// A transport error other than a refused connection is a lost request, except where the
    /// test kills the instance that was answering (kill -9).
    pub transport_errors_ok: bool,
}

impl Ledger {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    pub fn mark(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    pub fn violation(&self, what: String) {
        let when = match self.phase.load(Ordering::SeqCst) {
            1 => "before the fault: ",
            2 => "during the fault: ",
            3 => "after the fault: ",
            _ => "",
        };
        self.with(|i| i.violations.push(format!("{when}{what}")));
    }

    pub fn count(&self, kind: &'static str, seen: &Seen) {
        self.with(|i| {
            let t = i.tallies.entry(kind).or_default();
            match seen {
                Seen::Ok(_) => t.ok += 1,
                Seen::Unavailable => t.unavailable += 1,
                Seen::Refused | Seen::Other => t.other += 1,
                Seen::Unreachable => t.unreachable += 1,
            }
        });
    }

    /// Judges a back-channel answer to a request with correct credentials, and counts it.
    pub fn judge(&self, kind: &'static str, status: u16, body: &str) -> Seen {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let error = json.as_ref().and_then(|v| v["error"].as_str()).map(str::to_string);
        let seen = match (status, error.as_deref()) {
            (200, _) => Seen::Ok(json.unwrap_or(Value::Null)),
            (s, None) if s >= 500 => {
                self.violation(format!("{kind}: a {s} that is not JSON with an `error`: {}", clip(body)));
                Seen::Other
            }
            (503, Some("temporarily_unavailable")) => Seen::Unavailable,
            // A storage failure may also be a 500 server_error (house rule): tolerated, counted.
            (500, Some("server_error")) => Seen::Other,
            (400, Some("invalid_grant")) | (401, Some("invalid_client")) => {
                self.violation(format!("{kind}: correct credentials refused with {status}: {}", clip(body)));
                Seen::Refused
            }
            (s, _) => {
                self.violation(format!("{kind}: unexpected {s}: {}", clip(body)));
                Seen::Other
            }
        };
        self.count(kind, &seen);
        seen
    }

    /// A request that got no HTTP answer.
    pub fn transport(&self, kind: &'static str, e: &reqwest::Error) -> Seen {
        let seen = if e.is_connect() { Seen::Unreachable } else { Seen::Other };
        if !e.is_connect() && !self.transport_errors_ok {
            self.violation(format!("{kind}: request lost in transport: {e}"));
        }
        self.count(kind, &seen);
        seen
    }

    /// A refresh answered 200: `presented` is spent, `successor` is new. Neither may repeat.
    pub fn rotated(&self, presented: &str, successor: &str) {
        let fresh = self.with(|i| (i.spent.insert(presented.to_string()), i.issued.insert(successor.to_string())));
        match fresh {
            (false, _) => self.violation(format!("refresh_token: two 200s for one token ({}…)", clip(presented))),
            (_, false) => {
                self.violation(format!("refresh_token: one successor handed out twice ({}…)", clip(successor)))
            }
            _ => {}
        }
    }

    pub fn revoked(&self, hint: &'static str, token: String) {
        self.with(|i| i.revoked.push((hint, token)));
    }

    pub fn revocations(&self) -> Vec<(&'static str, String)> {
        self.with(|i| i.revoked.clone())
    }

    pub fn violations(&self) -> Vec<String> {
        self.with(|i| i.violations.clone())
    }

    pub fn tallies(&self) -> BTreeMap<&'static str, Tally> {
        self.with(|i| i.tallies.clone())
    }

    /// All kinds together.
    pub fn total(&self) -> Tally {
        self.tallies().values().fold(Tally::default(), |a, t| Tally {
            ok: a.ok + t.ok,
            unavailable: a.unavailable + t.unavailable,
            other: a.other + t.other,
            unreachable: a.unreachable + t.unreachable,
        })
    }

    /// One line per kind: `kind 200/503/other`.
    pub fn breakdown(&self) -> String {
        let mut s = String::new();
        for (kind, t) in self.tallies() {
            let _ = write!(s, "{kind} {}/{}/{}", t.ok, t.unavailable, t.other);
            if t.unreachable > 0 {
                let _ = write!(s, " (+{} unreachable)", t.unreachable);
            }
            s.push_str("; ");
        }
        s.trim_end_matches("; ").to_string()
    }
}

pub fn clip(s: &str) -> String {
    s.chars().take(160).collect()
}
