//! A bounded cache of fetched documents (draft-ietf-oauth-client-id-metadata-document §5.2): each
//! entry lives as long as its loader says (the answer's `Cache-Control` within bounds), one caller
//! fetches while concurrent callers for the same URL wait for its result (moka's
//! `try_get_with`), and a refused document is remembered for a short while, so that a flood of
//! requests naming a broken or hostile URL causes one fetch, not one each.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;

/// Why a load produced nothing.
#[derive(Clone, Debug)]
pub enum LoadError<E> {
    /// The document is unusable (fetch failed, invalid): remembered for the negative TTL.
    Refused(Arc<str>),
    /// Something on our side (storage): not remembered.
    Other(E),
}

struct Timed<T> {
    value: T,
    ttl: Duration,
}

struct ByTtl;

impl<T> moka::Expiry<String, Arc<Timed<T>>> for ByTtl {
    fn expire_after_create(&self, _: &String, v: &Arc<Timed<T>>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

pub struct DocCache<T> {
    found: Cache<String, Arc<Timed<T>>>,
    refused: Cache<String, Arc<str>>,
}

impl<T: Clone + Send + Sync + 'static> DocCache<T> {
    /// At most `capacity` documents and as many refusals; refusals are kept `negative_ttl`.
    pub fn new(capacity: u64, negative_ttl: Duration) -> Self {
        DocCache {
            found: Cache::builder().max_capacity(capacity).expire_after(ByTtl).build(),
            refused: Cache::builder().max_capacity(capacity).time_to_live(negative_ttl).build(),
        }
    }

    /// The value for `url`, from the cache or from `load`, which returns it with its lifetime.
    pub async fn get<E, F>(&self, url: &str, load: F) -> Result<T, LoadError<E>>
    where
        E: Clone + Send + Sync + 'static,
        F: Future<Output = Result<(T, Duration), LoadError<E>>>,
    {
        if let Some(why) = self.refused.get(url).await {
            return Err(LoadError::Refused(why));
        }
        let loaded = self
            .found
            .try_get_with(url.to_string(), async {
                let (value, ttl) = load.await?;
                Ok::<_, LoadError<E>>(Arc::new(Timed { value, ttl }))
            })
            .await;
        match loaded {
            Ok(t) => Ok(t.value.clone()),
            Err(e) => {
                let e = (*e).clone();
                if let LoadError::Refused(why) = &e {
                    self.refused.insert(url.to_string(), why.clone()).await;
                }
                Err(e)
            }
        }
    }

    /// Forgets `url`, found or refused: the next `get` loads it again.
    pub async fn invalidate(&self, url: &str) {
        self.found.invalidate(url).await;
        self.refused.invalidate(url).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_misses_load_once_and_refusals_are_remembered() {
        let cache = DocCache::<u32>::new(10, Duration::from_secs(60));
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, LoadError<()>>((7, Duration::from_secs(60)))
        };
        let (a, b) = tokio::join!(cache.get("u", load()), cache.get("u", load()));
        assert_eq!((a.ok(), b.ok()), (Some(7), Some(7)));
        assert_eq!(loads.load(Ordering::SeqCst), 1);

        let refuse = || async { Err::<(u32, Duration), _>(LoadError::<()>::Refused("bad".into())) };
        assert!(matches!(cache.get("v", refuse()).await, Err(LoadError::Refused(_))));
        let fine = async { Ok::<_, LoadError<()>>((1, Duration::from_secs(60))) };
        assert!(matches!(cache.get("v", fine).await, Err(LoadError::Refused(_))), "remembered");
        cache.invalidate("v").await;
        let fine = async { Ok::<_, LoadError<()>>((1, Duration::from_secs(60))) };
        assert_eq!(cache.get("v", fine).await.ok(), Some(1));
    }

    #[tokio::test]
    async fn storage_failures_are_not_remembered() {
        let cache = DocCache::<u32>::new(10, Duration::from_secs(60));
        let down = async { Err::<(u32, Duration), _>(LoadError::Other("db down")) };
        assert!(matches!(cache.get("u", down).await, Err(LoadError::Other(_))));
        let fine = async { Ok::<_, LoadError<&str>>((2, Duration::from_secs(60))) };
        assert_eq!(cache.get("u", fine).await.ok(), Some(2));
    }
}
