//! A small read-through cache with a staleness bound, for the hot path's configuration reads
//! (clients, trusted issuers). Never used for single-use state.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const MAX_ENTRIES: usize = 10_000;
/// How long an entry may be served past its TTL when reloading it fails.
const MAX_STALE: Duration = Duration::from_secs(300);
/// How long other callers keep the expired value while one caller reloads it.
const RELOAD_GRACE: Duration = Duration::from_secs(2);

struct Slot<V> {
    loaded: Instant,
    fresh_until: Instant,
    value: Option<Arc<V>>,
}

impl<V> Clone for Slot<V> {
    fn clone(&self) -> Self {
        Slot { loaded: self.loaded, fresh_until: self.fresh_until, value: self.value.clone() }
    }
}

pub struct TtlCache<V> {
    ttl: Duration,
    map: RwLock<HashMap<String, Slot<V>>>,
}

impl<V> TtlCache<V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache { ttl, map: RwLock::default() }
    }

    /// The cached value for `key` (including "none"), or what `load` returns, cached for `ttl`.
    ///
    /// When an entry expires, the first caller reloads it while the others keep getting the old
    /// value for up to `RELOAD_GRACE`: no stampede of identical queries at every expiry.
    pub async fn get<E, F>(&self, key: &str, load: F) -> Result<Option<Arc<V>>, E>
    where
        F: Future<Output = Result<Option<V>, E>>,
    {
        let cached = self.map.read().ok().and_then(|m| m.get(key).cloned());
        if let Some(slot) = &cached {
            if Instant::now() < slot.fresh_until || !self.claim_reload(key, slot.fresh_until) {
                return Ok(slot.value.clone());
            }
        }
        let v = match load.await {
            Ok(v) => v.map(Arc::new),
            // While storage is down, a known entry keeps serving for a while: clients already
            // cached can still get tokens during a database outage.
            Err(e) => match cached {
                Some(Slot { loaded, value: Some(v), .. }) if loaded.elapsed() < MAX_STALE => return Ok(Some(v)),
                _ => return Err(e),
            },
        };
        if let Ok(mut m) = self.map.write() {
            let now = Instant::now();
            if m.len() >= MAX_ENTRIES {
                m.retain(|_, slot| now < slot.fresh_until);
                if m.len() >= MAX_ENTRIES {
                    m.clear();
                }
            }
            m.insert(key.to_string(), Slot { loaded: now, fresh_until: now + self.ttl, value: v.clone() });
        }
        Ok(v)
    }

    /// Marks an expired entry as being reloaded, so it looks fresh to others for `RELOAD_GRACE`.
    /// False when another caller claimed it first.
    fn claim_reload(&self, key: &str, seen: Instant) -> bool {
        let Ok(mut m) = self.map.write() else { return true };
        match m.get_mut(key) {
            Some(slot) if slot.fresh_until == seen => {
                slot.fresh_until = Instant::now() + RELOAD_GRACE;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_expired_entry_is_reloaded_by_one_caller_while_others_get_the_old_value() {
        let cache: TtlCache<u32> = TtlCache::new(Duration::from_millis(1));
        let first: Result<_, ()> = cache.get("k", async { Ok(Some(1)) }).await;
        assert_eq!(first.unwrap().as_deref(), Some(&1));
        tokio::time::sleep(Duration::from_millis(5)).await;
        // The first caller after expiry claims the reload; while it is in flight, others see 1.
        let fresh_until = cache.map.read().unwrap()["k"].fresh_until;
        assert!(cache.claim_reload("k", fresh_until));
        let other: Result<_, ()> = cache.get("k", async { Ok(Some(99)) }).await;
        assert_eq!(other.unwrap().as_deref(), Some(&1), "served the old value, did not reload");
        assert!(!cache.claim_reload("k", fresh_until), "only one caller reloads");
    }

    #[tokio::test]
    async fn a_failed_reload_serves_the_old_value_only_within_max_stale() {
        let cache: TtlCache<u32> = TtlCache::new(Duration::from_millis(1));
        let _: Result<_, ()> = cache.get("k", async { Ok(Some(1)) }).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let during_outage = cache.get("k", async { Err("down") }).await;
        assert_eq!(during_outage.unwrap().as_deref(), Some(&1));
        cache.map.write().unwrap().get_mut("k").unwrap().loaded -= MAX_STALE;
        cache.map.write().unwrap().get_mut("k").unwrap().fresh_until -= RELOAD_GRACE;
        assert!(cache.get("k", async { Err("down") }).await.is_err());
    }
}
