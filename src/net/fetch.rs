//! GETting a document from a URL a client or an operator named (client ID metadata documents,
//! draft-ietf-oauth-client-id-metadata-document §4 and §8.6–8.7; remote key sets, RFC 7517): the
//! SSRF rules of `net`, only a 200 answer (a redirect is refused, never followed), a size cap
//! checked on `Content-Length` and again while reading, and the freshness the answer asks for
//! (RFC 9111 §5.2.2: `max-age`, `no-store`, `no-cache`).

use std::time::Duration;

use super::{check_url, describe, hardened, Policy};

/// The rules of one fetcher.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    pub allow_loopback: bool,
    /// The whole exchange: connect, TLS, headers and body.
    pub timeout: Duration,
    /// Largest body accepted; a longer one is an error, not a truncated document.
    pub max_bytes: usize,
    /// A PEM CA bundle trusted besides the system roots (testing).
    pub extra_root_pem: Option<Vec<u8>>,
}

/// A document as it came back.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    /// Seconds the answer may be reused: `max-age`, 0 for `no-store`/`no-cache`, `None` unsaid.
    pub max_age: Option<u64>,
}

pub struct Fetcher {
    http: reqwest::Client,
    allow_loopback: bool,
    max_bytes: usize,
}

impl Fetcher {
    pub fn new(p: FetchPolicy) -> anyhow::Result<Fetcher> {
        let policy = Policy { allow_loopback: p.allow_loopback, timeout: p.timeout };
        let http = hardened(policy, p.extra_root_pem.as_deref())?;
        Ok(Fetcher { http, allow_loopback: p.allow_loopback, max_bytes: p.max_bytes })
    }

    /// GETs `url` with `Accept: accept`. Errors are one line, fit to show an operator.
    pub async fn get(&self, url: &str, accept: &str) -> Result<Fetched, String> {
        let u = check_url(url, self.allow_loopback)?;
        let mut resp = self
            .http
            .get(u)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(|e| format!("{url}: {}", describe(&e)))?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(format!("{url}: answered with a redirect (HTTP {}), which is not followed", status.as_u16()));
        }
        if status != reqwest::StatusCode::OK {
            return Err(format!("{url}: HTTP {}", status.as_u16()));
        }
        let too_large = || format!("{url}: larger than {} bytes", self.max_bytes);
        if resp.content_length().is_some_and(|n| n > self.max_bytes as u64) {
            return Err(too_large());
        }
        let max_age = max_age(resp.headers());
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {}", describe(&e)))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, max_age })
    }
}

/// The answer's freshness lifetime from `Cache-Control`: `no-store` and `no-cache` mean 0.
fn max_age(h: &reqwest::header::HeaderMap) -> Option<u64> {
    let mut out = None;
    for v in h.get_all(reqwest::header::CACHE_CONTROL).iter().filter_map(|v| v.to_str().ok()) {
        for d in v.split(',').map(|d| d.trim().to_ascii_lowercase()) {
            if d == "no-store" || d == "no-cache" {
                return Some(0);
            }
            if let Some(n) = d.strip_prefix("max-age=").and_then(|n| n.trim_matches('"').parse().ok()) {
                out = Some(n);
            }
        }
    }
    out
}

/// `max_age` (or `default` when unsaid) held within `[min, max]`.
pub fn ttl_within(max_age: Option<u64>, default: Duration, min: Duration, max: Duration) -> Duration {
    max_age.map_or(default, Duration::from_secs).clamp(min, max.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, CACHE_CONTROL};

    fn cc(v: &str) -> Option<u64> {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, HeaderValue::from_str(v).unwrap()); // ok: unit test
        max_age(&h)
    }

    #[test]
    fn cache_control_gives_max_age_and_no_store_means_zero() {
        assert_eq!(cc("public, max-age=600"), Some(600));
        assert_eq!(cc("max-age=60, no-store"), Some(0));
        assert_eq!(cc("No-Cache"), Some(0));
        assert_eq!(cc("public"), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }

    #[test]
    fn lifetimes_are_held_within_bounds() {
        let (d, min, max) = (Duration::from_secs(300), Duration::from_secs(60), Duration::from_secs(3600));
        assert_eq!(ttl_within(None, d, min, max), d);
        assert_eq!(ttl_within(Some(0), d, min, max), min);
        assert_eq!(ttl_within(Some(10 * 3600), d, min, max), max);
        assert_eq!(ttl_within(Some(120), d, min, max), Duration::from_secs(120));
    }
}
