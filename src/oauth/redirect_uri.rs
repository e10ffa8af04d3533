//! Redirect URIs: validation at registration (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1) and
//! exact matching at /authorize, with only the loopback port exception of RFC 8252 §7.3.

use url::{Host, Position, Url};

/// Checks a URI a client wants to register. It must be printable ASCII without spaces (URIs are
/// stored space-separated) and already in the form the URL parser gives it, because /authorize
/// compares strings. The one accepted difference is the parser's '/' after a bare authority:
/// `https://app.example` is stored as written and matches only itself, not `https://app.example/`.
pub fn validate(uri: &str) -> Result<(), String> {
    if let Some(c) = uri.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "{uri:?}: must not contain {c:?} (spaces, control and non-ASCII characters are not allowed)"
        ));
    }
    let u = Url::parse(uri).map_err(|e| format!("{uri}: not an absolute URI ({e})"))?;
    if u.as_str() != uri && !(u.path() == "/" && u.query().is_none() && format!("{uri}/") == u.as_str()) {
        return Err(format!("{uri}: not in canonical form; register it as {}", u.as_str()));
    }
    if u.fragment().is_some() || uri.contains('#') {
        return Err(format!("{uri}: must not contain a fragment"));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&u) => Ok(()),
        "http" => Err(format!("{uri}: http is allowed only for loopback addresses")),
        // RFC 8252 §7.1: private-use schemes are reverse domain names, so they contain a dot.
        s if s.contains('.') => Ok(()),
        s => Err(format!(
            "{uri}: scheme {s}: is not allowed (use https, loopback http, or a reverse-domain private-use scheme)"
        )),
    }
}

fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Does `given` match one of `registered`? Simple string comparison, except that a loopback
/// IP redirect may use any port (RFC 8252 §7.3).
pub fn matches<'a>(registered: impl IntoIterator<Item = &'a str>, given: &str) -> bool {
    registered.into_iter().any(|r| r == given || loopback_port_match(r, given))
}

fn loopback_port_match(registered: &str, given: &str) -> bool {
    let (Ok(r), Ok(g)) = (Url::parse(registered), Url::parse(given)) else { return false };
    // Only URIs already in canonical form: parsing must not have changed a byte (no case
    // folding, no dot segments), except that it drops an explicit default port `:80`, which
    // is just another port here.
    let canonical = |u: &Url, raw: &str| {
        u.as_str() == raw
            || (u.port().is_none()
                && raw == format!("{}://{}:80{}", u.scheme(), u.host_str().unwrap_or(""), &u[Position::BeforePath..]))
    };
    if !canonical(&r, registered) || !canonical(&g, given) {
        return false;
    }
    let ip_loopback = |u: &Url| {
        u.scheme() == "http" && matches!(u.host(), Some(Host::Ipv4(_)) | Some(Host::Ipv6(_))) && is_loopback(u)
    };
    if !ip_loopback(&r) || !ip_loopback(&g) {
        return false;
    }
    let (mut r, mut g) = (r, g);
    let _ = r.set_port(None);
    let _ = g.set_port(None);
    r == g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_https_loopback_http_and_private_schemes_only() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#x",
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative",
            "file:///etc/passwd",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registration_rejects_spaces_controls_non_ascii_and_non_canonical_forms() {
        for bad in [
            "https://a.example/c b",
            "https://a.example/c\tb",
            "https://a.example/cb\n",
            " https://a.example/cb",
            "https://a.example/caf\u{e9}",
            "https://b\u{fc}cher.example/cb",
            "HTTPS://a.example/cb",
            "https://A.example/cb",
            "https://a.example/x/../cb",
            "https://a.example:443/cb",
            "http://127.0.0.1:80/cb",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        for ok in ["https://a.example", "https://a.example/", "https://a.example/cb?x=1", "https://a.example/%7Eb"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        assert!(!matches(["https://a.example"], "https://a.example/"), "a bare authority matches only itself");
    }

    #[test]
    fn matching_is_exact_except_for_the_loopback_port() {
        let reg = ["https://app.example/cb", "http://127.0.0.1/native"];
        assert!(matches(reg, "https://app.example/cb"));
        for attack in [
            "https://APP.example/cb",
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/cb#f",
            "https://app.example/x/../cb",
            "https://app.example@evil.example/cb",
            "https://app.example/CB",
            "javascript:alert(1)",
            "https://app.example:443/cb",
            "https://evil.example/cb",
        ] {
            assert!(!matches(reg, attack), "{attack}");
        }
        assert!(matches(reg, "http://127.0.0.1:53123/native"));
        assert!(!matches(reg, "http://127.0.0.1:53123/native/"));
        assert!(!matches(reg, "http://127.0.0.1:53123/x/../native"));
        assert!(!matches(reg, "http://localhost:53123/native"));
    }
}
