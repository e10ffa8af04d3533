//! Rate limits on `/token` and the login form: per client and per client IP, token buckets
//! (governor). Off unless configured; over the limit is 429 with `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::oauth::TokenError;

pub struct Limits {
    ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    client: Option<DefaultKeyedRateLimiter<String>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_sec: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_sec)?;
    // A burst of twice the rate, so short spikes of legitimate traffic are not refused.
    let burst = NonZeroU32::new(per_sec.saturating_mul(2)).unwrap_or(rate);
    Some(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

impl Limits {
    /// Requests per second per client IP and per client; 0 turns a limit off.
    pub fn new(per_ip: u32, per_client: u32) -> Limits {
        Limits { ip: limiter(per_ip), client: limiter(per_client) }
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), TokenError> {
        match &self.ip {
            Some(l) => l.check_key(&ip).map_err(|n| too_many(n.wait_time_from(DefaultClock::default().now()))),
            None => Ok(()),
        }
    }

    /// Charged only once the client has authenticated: a caller that merely names a client
    /// cannot use up that client's budget.
    pub fn check_client(&self, client_id: &str) -> Result<(), TokenError> {
        match &self.client {
            Some(l) => l
                .check_key(&client_id.to_string())
                .map_err(|n| too_many(n.wait_time_from(DefaultClock::default().now()))),
            None => Ok(()),
        }
    }

    /// Forgets idle keys, so the limiters' memory stays bounded.
    pub fn shrink(&self) {
        if let Some(l) = &self.ip {
            l.retain_recent();
        }
        if let Some(l) = &self.client {
            l.retain_recent();
        }
    }
}

fn too_many(wait: std::time::Duration) -> TokenError {
    TokenError::TooManyRequests {
        retry_after: wait.as_secs().max(1) + u64::from(wait.subsec_nanos() > 0 && wait.as_secs() > 0),
    }
}
