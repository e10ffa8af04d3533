//! A small read-through cache with a staleness bound, for the hot path's configuration reads
//! (clients, trusted issuers). Never used for single-use state.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const MAX_ENTRIES: usize = 10_000;

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
        if let Some((at, v)) = self.map.read().ok().and_then(|m| m.get(key).cloned()) {
            if at.elapsed() < self.ttl {
                return Ok(v);
            }
        }
        let v = load.await?.map(Arc::new);
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
