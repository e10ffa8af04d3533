//! Read-through caches for the hot path's configuration reads (clients, trusted issuers, CORS
//! origins; README "Hot path and caches"): bounded (moka's TinyLFU), single-flight, invalidated
//! by key when the store reports a change, with a TTL as the backstop. Never single-use state.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use moka::future::Cache;

/// How long an entry may still stand in, past its TTL or an invalidation, when reloading it fails.
pub const MAX_STALE: Duration = Duration::from_secs(300);
/// How long other callers keep the old value while one caller reloads it.
const RELOAD_GRACE: Duration = Duration::from_secs(2);
/// Unknown keys are remembered at most this long, so that one created elsewhere (where nothing
/// reports changes) is found soon.
const NEGATIVE_TTL: Duration = Duration::from_secs(5);

/// Milliseconds since the first call: entries keep their deadlines in atomics.
fn ticks() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

struct Slot<V> {
    value: Arc<V>,
    /// `ticks()` until which the value is served without a reload; 0 once invalidated.
    fresh_until: AtomicU64,
    /// `ticks()` until which the value may stand in for a failed reload.
    usable_until: u64,
}

/// Why a miss produced no entry.
enum Miss<E> {
    Absent,
    Failed(E),
}

/// Keys to values loaded from the database. Known values and unknown keys are kept apart, so that
/// a flood of made-up keys only ever evicts other made-up keys.
pub struct ReadThrough<V> {
    found: Cache<String, Arc<Slot<V>>>,
    missing: Option<Cache<String, ()>>,
    ttl: u64,
    /// Counts invalidations: a load that saw it move may have read a value from before the change,
    /// and is not cached as fresh.
    changes: AtomicU64,
}

impl<V: Send + Sync + 'static> ReadThrough<V> {
    /// At most `capacity` known values, each fresh for `ttl`; unknown keys are remembered in a
    /// tenth of that room, for `ttl` but at most `NEGATIVE_TTL`.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        let negative_ttl = ttl.min(NEGATIVE_TTL);
        let missing = (!negative_ttl.is_zero())
            .then(|| Cache::builder().max_capacity((capacity / 10).max(1)).time_to_live(negative_ttl).build());
        ReadThrough {
            found: Cache::builder().max_capacity(capacity).time_to_live(ttl + MAX_STALE).build(),
            missing,
            ttl: ms(ttl),
            changes: AtomicU64::new(0),
        }
    }

    /// The value for `key` (`None`: no such row), from the cache or from `load`.
    ///
    /// On a miss, one caller loads and concurrent callers for the same key wait for its result.
    /// When an entry is stale, the first caller reloads it while the others keep getting the old
    /// value for up to `RELOAD_GRACE`. When the reload fails, the old value is served for up to
    /// `MAX_STALE`: clients already cached keep getting tokens during a database outage.
    pub async fn get<E, F>(&self, key: &str, load: impl FnOnce() -> F) -> Result<Option<Arc<V>>, E>
    where
        E: Clone + Send + Sync + 'static,
        F: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(slot) = self.found.get(key).await {
            let (now, seen) = (ticks(), slot.fresh_until.load(Ordering::Acquire));
            let claimed = now >= seen
                && slot
                    .fresh_until
                    .compare_exchange(seen, now + ms(RELOAD_GRACE), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            if !claimed {
                return Ok(Some(slot.value.clone()));
            }
            return self.reload(key, slot, load).await;
        }
        if let Some(missing) = &self.missing {
            if missing.get(key).await.is_some() {
                return Ok(None);
            }
        }
        let seen = self.changes.load(Ordering::Acquire);
        let loaded = self
            .found
            .try_get_with(key.to_string(), async {
                match load().await {
                    Ok(Some(v)) => Ok(self.slot(v, seen)),
                    Ok(None) => Err(Miss::Absent),
                    Err(e) => Err(Miss::Failed(e)),
                }
            })
            .await;
        match loaded {
            Ok(slot) => Ok(Some(slot.value.clone())),
            Err(miss) => match &*miss {
                Miss::Absent => {
                    self.remember_missing(key, seen).await;
                    Ok(None)
                }
                Miss::Failed(e) => Err(e.clone()),
            },
        }
    }

    async fn reload<E, F>(&self, key: &str, old: Arc<Slot<V>>, load: impl FnOnce() -> F) -> Result<Option<Arc<V>>, E>
    where
        F: Future<Output = Result<Option<V>, E>>,
    {
        let seen = self.changes.load(Ordering::Acquire);
        match load().await {
            Ok(Some(v)) => {
                let slot = self.slot(v, seen);
                let value = slot.value.clone();
                self.found.insert(key.to_string(), slot).await;
                Ok(Some(value))
            }
            Ok(None) => {
                self.found.invalidate(key).await;
                self.remember_missing(key, seen).await;
                Ok(None)
            }
            Err(_) if ticks() < old.usable_until => Ok(Some(old.value.clone())),
            Err(e) => Err(e),
        }
    }

    fn slot(&self, value: V, seen: u64) -> Arc<Slot<V>> {
        let now = ticks();
        // Changed while loading: serve it, but reload at the next call.
        let fresh_until = if self.changes.load(Ordering::Acquire) == seen { now + self.ttl } else { 0 };
        let usable_until = now + self.ttl + ms(MAX_STALE);
        Arc::new(Slot { value: Arc::new(value), fresh_until: AtomicU64::new(fresh_until), usable_until })
    }

    async fn remember_missing(&self, key: &str, seen: u64) {
        if let Some(missing) = &self.missing {
            if self.changes.load(Ordering::Acquire) == seen {
                missing.insert(key.to_string(), ()).await;
            }
        }
    }

    /// `key` changed: the next call reloads it. Its old value stays, to stand in if that fails.
    pub async fn invalidate(&self, key: &str) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        if let Some(slot) = self.found.get(key).await {
            slot.fresh_until.store(0, Ordering::Release);
        }
        if let Some(missing) = &self.missing {
            missing.invalidate(key).await;
        }
    }

    /// Anything may have changed: every entry is reloaded at its next use.
    pub fn invalidate_all(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        for (_, slot) in self.found.iter() {
            slot.fresh_until.store(0, Ordering::Release);
        }
        if let Some(missing) = &self.missing {
            missing.invalidate_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Result<Option<Arc<u32>>, &'static str>;

    async fn get(c: &ReadThrough<u32>, v: Result<Option<u32>, &'static str>) -> R {
        c.get("k", || async { v }).await
    }

    #[tokio::test]
    async fn a_stale_entry_is_reloaded_by_one_caller_while_others_get_the_old_value() {
        let cache = ReadThrough::new(10, Duration::from_secs(60));
        assert_eq!(get(&cache, Ok(Some(1))).await.unwrap().as_deref(), Some(&1));
        cache.invalidate("k").await;
        let slot = cache.found.get("k").await.unwrap();
        // The first caller after the invalidation claims the reload; while it runs, others see 1.
        let (now, seen) = (ticks(), slot.fresh_until.load(Ordering::Acquire));
        assert!(slot
            .fresh_until
            .compare_exchange(seen, now + ms(RELOAD_GRACE), Ordering::AcqRel, Ordering::Acquire)
            .is_ok());
        assert_eq!(get(&cache, Ok(Some(99))).await.unwrap().as_deref(), Some(&1), "served the old value");
        slot.fresh_until.store(0, Ordering::Release);
        assert_eq!(get(&cache, Ok(Some(2))).await.unwrap().as_deref(), Some(&2), "reloaded once the claim lapsed");
    }

    #[tokio::test]
    async fn a_failed_reload_serves_the_old_value_only_while_it_is_usable() {
        let cache = ReadThrough::new(10, Duration::from_secs(60));
        get(&cache, Ok(Some(1))).await.unwrap();
        cache.invalidate("k").await;
        assert_eq!(get(&cache, Err("down")).await.unwrap().as_deref(), Some(&1));
        let slot = cache.found.get("k").await.unwrap();
        let expired = Arc::new(Slot { value: slot.value.clone(), fresh_until: AtomicU64::new(0), usable_until: 0 });
        cache.found.insert("k".into(), expired).await;
        assert!(get(&cache, Err("down")).await.is_err());
    }

    #[tokio::test]
    async fn unknown_keys_are_remembered_until_invalidated_and_failures_are_not() {
        let cache = ReadThrough::<u32>::new(10, Duration::from_secs(60));
        assert!(get(&cache, Err("down")).await.is_err());
        assert_eq!(get(&cache, Ok(None)).await.unwrap(), None);
        assert_eq!(get(&cache, Ok(Some(1))).await.unwrap(), None, "remembered as unknown");
        cache.invalidate("k").await;
        assert_eq!(get(&cache, Ok(Some(1))).await.unwrap().as_deref(), Some(&1));
    }

    #[tokio::test]
    async fn a_value_loaded_across_an_invalidation_is_reloaded_at_the_next_call() {
        let cache = ReadThrough::new(10, Duration::from_secs(60));
        let v = cache
            .get("k", || async {
                cache.invalidate_all();
                Ok::<_, ()>(Some(1))
            })
            .await;
        assert_eq!(v.unwrap().as_deref(), Some(&1));
        assert_eq!(get(&cache, Ok(Some(2))).await.unwrap().as_deref(), Some(&2));
    }
}
