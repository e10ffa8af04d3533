//! A failure throttle per key (an IP, a browser session): after `limit` failures in a fixed
//! window, answer 429 until it ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle<K = IpAddr> {
    limit: u32,
    window: Duration,
    map: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq> Throttle<K> {
    pub fn new(limit: u32, window_secs: u64) -> Self {
        Throttle { limit, window: Duration::from_secs(window_secs), map: Mutex::default() }
    }

    /// `Some(seconds)` to wait when `key` is over its budget.
    pub fn blocked(&self, key: K) -> Option<u64> {
        let map = self.map.lock().ok()?;
        let (start, count) = map.get(&key)?;
        let left = self.window.checked_sub(start.elapsed())?;
        (*count >= self.limit).then(|| left.as_secs().max(1))
    }

    pub fn record_failure(&self, key: K) {
        let Ok(mut map) = self.map.lock() else { return };
        if map.len() > 100_000 {
            let w = self.window;
            map.retain(|_, (s, _)| s.elapsed() < w);
        }
        let e = map.entry(key).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= self.window {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_limit_and_others_are_not() {
        let t = Throttle::new(2, 60);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        t.record_failure(a);
        assert_eq!(t.blocked(a), None);
        t.record_failure(a);
        assert!(t.blocked(a).is_some());
        assert_eq!(t.blocked(b), None);
    }
}
