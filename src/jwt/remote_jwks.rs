//! Remote key sets of trusted issuers and private_key_jwt clients (RFC 7517), fetched through the
//! SSRF-hardened fetcher (`net::fetch`): https (loopback http only when allowed), public addresses
//! only, no redirects, a bounded time, 1 MiB cap. Cached per `Cache-Control` within bounds; an
//! unknown `kid` in a fresh set refetches at most once per 30 s, counted from the last such
//! refetch (not from the first load or a TTL refresh).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

use crate::net::fetch::{FetchPolicy, Fetcher};

/// Largest key set accepted.
pub const MAX_BYTES: usize = 1024 * 1024;
const KID_MISS_COOLDOWN: Duration = Duration::from_secs(30);
/// After a failed fetch, requests use what is cached (or fail fast) instead of queueing fetches.
const FAILURE_BACKOFF: Duration = Duration::from_secs(5);
const MIN_TTL: u64 = 60;
const MAX_TTL: u64 = 24 * 3600;

#[derive(Default)]
struct Entry {
    keys: Option<(Arc<JwkSet>, Instant, Duration)>,
    /// The last refetch caused by an unknown `kid`: only these start the cooldown, so neither the
    /// first load nor a TTL refresh delays picking up a rotation.
    last_kid_miss: Option<Instant>,
    last_failure: Option<Instant>,
}

pub struct JwksCache {
    fetcher: Fetcher,
    allow_loopback_http: bool,
    default_ttl: Duration,
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
    pub fetches: std::sync::atomic::AtomicU64,
}

impl JwksCache {
    /// Fetches under `policy` (its `max_bytes` is raised to `MAX_BYTES`); its `allow_loopback`
    /// also admits plain http on loopback.
    pub fn new(policy: FetchPolicy, default_ttl: Duration) -> anyhow::Result<Self> {
        let allow_loopback_http = policy.allow_loopback;
        let fetcher = Fetcher::new(FetchPolicy { max_bytes: MAX_BYTES, ..policy })?;
        Ok(JwksCache {
            fetcher,
            allow_loopback_http,
            default_ttl,
            entries: Mutex::default(),
            fetches: Default::default(),
        })
    }

    /// A cache for the CLI: loopback http as `allow_loopback_http` says, 5 s per fetch.
    pub fn for_cli(allow_loopback_http: bool) -> anyhow::Result<Self> {
        let policy = FetchPolicy {
            allow_loopback: allow_loopback_http,
            timeout: Duration::from_secs(5),
            max_bytes: MAX_BYTES,
            extra_root_pem: None,
        };
        Self::new(policy, Duration::from_secs(60))
    }

    /// The key set at `url`, fresh enough to contain `kid` if the issuer publishes it.
    pub async fn get(&self, url: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, String> {
        let slot = {
            let mut map = self.entries.lock().map_err(|_| "key cache poisoned")?;
            map.entry(url.to_string()).or_default().clone()
        };
        let mut guard = slot.lock().await;
        let e = &mut *guard;
        let failing = e.last_failure.is_some_and(|t| t.elapsed() < FAILURE_BACKOFF);
        match &e.keys {
            Some((keys, at, ttl)) if at.elapsed() < *ttl => {
                if kid.is_none_or(|k| keys.find(k).is_some()) {
                    return Ok(keys.clone());
                }
                // Random kids must not turn into fetches: one refetch per cooldown at most.
                if failing || e.last_kid_miss.is_some_and(|t| t.elapsed() < KID_MISS_COOLDOWN) {
                    return Ok(keys.clone());
                }
                e.last_kid_miss = Some(Instant::now());
            }
            Some((keys, _, _)) if failing => return Ok(keys.clone()),
            None if failing => return Err("the issuer's key set could not be fetched recently".into()),
            _ => {}
        }
        match self.fetch(url).await {
            Ok((keys, ttl)) => {
                let keys = Arc::new(keys);
                e.keys = Some((keys.clone(), Instant::now(), ttl));
                e.last_failure = None;
                Ok(keys)
            }
            // An unreachable IdP keeps its last good keys until they can be refreshed.
            Err(err) => {
                e.last_failure = Some(Instant::now());
                match &e.keys {
                    Some((keys, _, _)) => {
                        tracing::warn!(url, error = %err, "key set refresh failed; using cached keys");
                        Ok(keys.clone())
                    }
                    None => Err(err),
                }
            }
        }
    }

    /// Fetches a JSON document from a configured URL under the same rules (used by `--discover`).
    pub async fn fetch_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let (bytes, _) = self.fetch_bytes(url).await?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not JSON: {e}"))
    }

    async fn fetch(&self, url: &str) -> Result<(JwkSet, Duration), String> {
        let (bytes, max_age) = self.fetch_bytes(url).await?;
        let (keys, skipped) = super::jwk_set::parse(&bytes).map_err(|e| format!("{url}: {e}"))?;
        if skipped > 0 {
            tracing::debug!(url, skipped, "ignored keys not usable for signatures");
        }
        let ttl = max_age.map_or(self.default_ttl, |s| Duration::from_secs(s.clamp(MIN_TTL, MAX_TTL)));
        Ok((keys, ttl))
    }

    async fn fetch_bytes(&self, url: &str) -> Result<(Vec<u8>, Option<u64>), String> {
        check_url(url, self.allow_loopback_http)?;
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = self.download(url).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("oauthd_jwks_fetches_total", "outcome" => outcome).increment(1);
        result
    }

    async fn download(&self, url: &str) -> Result<(Vec<u8>, Option<u64>), String> {
        let f = self.fetcher.get(url, "application/jwk-set+json, application/json").await?;
        Ok((f.body, f.max_age))
    }
}

/// https only; plain http only for loopback addresses, and only when allowed.
pub fn check_url(url: &str, allow_loopback_http: bool) -> Result<(), String> {
    let u = url::Url::parse(url).map_err(|_| format!("{url}: not a URL"))?;
    let loopback = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback && allow_loopback_http => Ok(()),
        "http" if loopback => {
            Err(format!("{url}: key sets are fetched over https only (allow_http_loopback_jwks = true permits http on loopback, for testing)"))
        }
        _ => Err(format!("{url}: key sets are fetched over https only")),
    }
}
