//! Which addresses outbound requests may reach (SSRF, OWASP): only globally routable unicast.
//! Private (RFC 1918, RFC 4193), loopback, link-local, shared (RFC 6598), documentation,
//! benchmarking, multicast, reserved and unspecified ranges are refused, and so are IPv6 forms
//! that embed an IPv4 address (mapped, NAT64, 6to4, Teredo) unless that address is public.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether a request may go to `ip`; `allow_loopback` admits 127.0.0.0/8 and ::1 (testing).
pub fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    if allow_loopback && ip.is_loopback() {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, RFC 6890
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240; // reserved, RFC 1112
    !refused
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return public_v4(v4);
    }
    let s = ip.segments();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, RFC 4193
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation, RFC 3849
        || (s[0] == 0x2001 && s[1] == 0) // Teredo: the real peer is hidden
        || s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0; // discard-only, RFC 6666
    !refused
}

/// The IPv4 address inside IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64
/// (64:ff9b::/96) and 6to4 (2002::/16) addresses.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail()),
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_loopback() && !ip.is_unspecified() => Some(tail()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> bool {
        allowed(s.parse().unwrap(), false) // ok: unit test
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2002:5db8:d822::1"] {
            assert!(ok(ip), "{ip}");
        }
    }

    #[test]
    fn private_loopback_link_local_and_reserved_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "::7f00:1",
            "100::1",
        ] {
            assert!(!ok(ip), "{ip}");
        }
    }

    #[test]
    fn loopback_is_allowed_only_when_asked_and_nothing_else_is() {
        assert!(allowed("127.0.0.1".parse().unwrap(), true)); // ok: unit test
        assert!(allowed("::1".parse().unwrap(), true)); // ok: unit test
        assert!(!allowed("10.0.0.1".parse().unwrap(), true)); // ok: unit test
        assert!(!allowed("169.254.169.254".parse().unwrap(), true)); // ok: unit test
    }
}
