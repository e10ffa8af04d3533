//! Outbound HTTP to URLs that clients or operators registered (OIDC Back-Channel Logout 1.0 §2.5
//! logout tokens, remote key sets, client ID metadata documents), hardened against SSRF (OWASP
//! SSRF Prevention): https only, every address a host name resolves to checked after DNS
//! resolution (`addr`) and then the only ones connected to, IP literals checked too, no
//! redirects, no proxy, bounded time and body. `allow_loopback` admits http and loopback
//! addresses, for local testing only.

pub mod addr;
pub mod cache;
pub mod fetch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Largest response body read; the answers we need are tiny.
const MAX_BODY: usize = 64 * 1024;

/// The rules of one outbound client.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub allow_loopback: bool,
    pub timeout: Duration,
}

/// An HTTP client that only reaches public addresses over https.
pub struct Outbound {
    http: reqwest::Client,
    policy: Policy,
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Outbound {
    pub fn new(policy: Policy) -> anyhow::Result<Outbound> {
        let http = hardened(policy, None)?;
        Ok(Outbound { http, policy })
    }

    /// Checks what can be checked without DNS: the scheme, and an IP-literal host.
    pub fn check_url(&self, url: &str) -> Result<url::Url, String> {
        check_url(url, self.policy.allow_loopback)
    }

    /// POSTs `pairs` as `application/x-www-form-urlencoded` and reads the answer.
    pub async fn post_form(&self, url: &str, pairs: &[(&str, &str)]) -> Result<Answer, String> {
        let u = self.check_url(url)?;
        let resp = self.http.post(u).form(pairs).send().await.map_err(|e| describe(&e))?;
        read(resp).await
    }
}

/// The reqwest client every outbound call uses; `extra_root` is a PEM CA trusted besides the
/// system's (testing).
pub(crate) fn hardened(policy: Policy, extra_root: Option<&[u8]>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the name itself, past our address check.
        .no_proxy()
        // The resolver's checked addresses are the ones connected to: no second lookup can
        // answer differently (DNS rebinding).
        .dns_resolver(Arc::new(Checked { allow_loopback: policy.allow_loopback }))
        .https_only(!policy.allow_loopback)
        .timeout(policy.timeout)
        .connect_timeout(policy.timeout)
        .user_agent(concat!("oauthd/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = extra_root {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b.build()?)
}

async fn read(mut resp: reqwest::Response) -> Result<Answer, String> {
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            body.truncate(MAX_BODY);
            break;
        }
    }
    Ok(Answer { status, body })
}

/// The error with its causes (reqwest's own message hides the resolver's reason).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// https only (http with `allow_loopback`); an IP-literal host must be an allowed address.
pub fn check_url(url: &str, allow_loopback: bool) -> Result<url::Url, String> {
    let u = url::Url::parse(url).map_err(|_| format!("{url}: not a URL"))?;
    match u.scheme() {
        "https" => {}
        "http" if allow_loopback => {}
        _ => return Err(format!("{url}: only https URLs are called")),
    }
    if u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err(format!("{url}: no fragment or credentials allowed"));
    }
    let ip = match u.host() {
        Some(url::Host::Ipv4(ip)) => Some(ip.into()),
        Some(url::Host::Ipv6(ip)) => Some(ip.into()),
        Some(url::Host::Domain(_)) => None,
        None => return Err(format!("{url}: no host")),
    };
    if ip.is_some_and(|ip| !addr::allowed(ip, allow_loopback)) {
        return Err(format!("{url}: not a public address"));
    }
    Ok(u)
}

/// The system resolver, refusing a name if any of its addresses is not allowed: a name that
/// resolves to both a public and a private address is refused rather than filtered.
struct Checked {
    allow_loopback: bool,
}

impl Resolve for Checked {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err(format!("{host}: no address").into());
            }
            if let Some(bad) = found.iter().find(|a| !addr::allowed(a.ip(), allow_loopback)) {
                return Err(format!("{host} resolves to {}, which is not a public address", bad.ip()).into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_and_public_literals_pass_the_url_check() {
        assert!(check_url("https://rp.example.com/logout?x=1", false).is_ok());
        for bad in [
            "http://rp.example.com/logout",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://rp.example.com/x#frag",
            "https://user:pw@rp.example.com/x",
            "ftp://rp.example.com/x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:8080/x", true).is_ok());
        assert!(check_url("http://10.0.0.1/x", true).is_err());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_after_resolution() {
        let out = Outbound::new(Policy { allow_loopback: false, timeout: Duration::from_secs(2) }).unwrap(); // ok: unit test
        let err = out.post_form("https://localhost:9/x", &[("a", "b")]).await.unwrap_err(); // ok: unit test
        assert!(err.contains("not a public address"), "{err}");
    }
}
