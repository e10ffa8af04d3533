//! Dynamic registration's share of the state: the per-IP registration limit (RFC 7591 §5 leaves
//! abuse to the server) and the registered clients this process already recorded as used.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct Registrations {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Client ids whose first use is stored: later token requests skip the write.
    used: moka::future::Cache<String, ()>,
}

impl Registrations {
    /// `per_hour` registrations per client IP, all of them available at once (0 = no limit).
    pub fn new(per_hour: u32, capacity: u64) -> Registrations {
        // per_hour(n): n at once, then one more every 3600/n seconds.
        let per_ip = NonZeroU32::new(per_hour).map(|n| RateLimiter::keyed(Quota::per_hour(n)));
        Registrations { per_ip, used: moka::future::Cache::new(capacity) }
    }

    /// `Err(seconds to wait)` when `ip` registered too often.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), u64> {
        match &self.per_ip {
            Some(l) => l.check_key(&ip).map_err(|n| n.wait_time_from(DefaultClock::default().now()).as_secs().max(1)),
            None => Ok(()),
        }
    }

    pub fn known_used(&self, client_id: &str) -> bool {
        self.used.contains_key(client_id)
    }

    pub async fn remember_used(&self, client_id: &str) {
        self.used.insert(client_id.to_string(), ()).await;
    }

    /// Forgets idle addresses, so the limiter's memory stays bounded.
    pub fn shrink(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
        }
    }
}
