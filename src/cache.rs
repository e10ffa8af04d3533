//! A small read-through cache with a staleness bound, for the hot path's configuration reads
//! (clients, trusted issuers). Never used for single-use state.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const MAX_ENTRIES: usize = 10_000;
/// How long an entry may be served past its TTL when reloading it fails.
const MAX_STALE: Duration = Duration::from_secs(300);

type Slot<V> = (Instant, Option<Arc<V>>);

pub struct TtlCache<V> {
    ttl: Duration,
    map: RwLock<HashMap<String, Slot<V>>>,
}

impl<V> TtlCache<V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache { ttl, map: RwLock::default() }
    }

    /// The cached value for `key` (including "none"), or what `load` returns, cached for `ttl`.
    pub async fn get<E, F>(&self, key: &str, load: F) -> Result<Option<Arc<V>>, E>
    where
        F: Future<Output = Result<Option<V>, E>>,
    {
        let cached = self.map.read().ok().and_then(|m| m.get(key).cloned());
        if let Some((at, v)) = &cached {
            if at.elapsed() < self.ttl {
                return Ok(v.clone());
            }
        }
        let v = match load.await {
            Ok(v) => v.map(Arc::new),
            // While storage is down, a known entry keeps serving for a while: clients already
            // cached can still get tokens during a database outage.
            Err(e) => match cached {
                Some((at, Some(v))) if at.elapsed() < MAX_STALE => return Ok(Some(v)),
                _ => return Err(e),
            },
        };
        if let Ok(mut m) = self.map.write() {
            if m.len() >= MAX_ENTRIES {
                let ttl = self.ttl;
                m.retain(|_, (at, _)| at.elapsed() < ttl);
                if m.len() >= MAX_ENTRIES {
                    m.clear();
                }
            }
            m.insert(key.to_string(), (Instant::now(), v.clone()));
        }
        Ok(v)
    }
}
