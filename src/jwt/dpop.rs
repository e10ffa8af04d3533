//! DPoP proofs, RFC 9449 §4.3: every check a server runs on a proof, the RFC 7638 thumbprint of
//! its key, `ath` (§4.2), and the stateless server nonces of §8. No I/O: the caller consumes the
//! `jti` (§11.1) and decides whether a nonce is required.

use std::str::FromStr;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::assertion;

/// The asymmetric algorithms a proof may be signed with (never `none`, never HMAC).
pub const ALGS: [&str; 9] = ["ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

/// Members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The most characters of a `jti` we accept; RFC 9449 §4.2 asks for 96 random bits or more.
const MAX_JTI: usize = 256;

/// What the request a proof came with looks like.
pub struct Expect<'a> {
    /// The request's method, `POST` or `GET`.
    pub htm: &'a str,
    /// The endpoint's URL as the issuer names it (no query).
    pub htu: &'a str,
    pub now: i64,
    /// Seconds `iat` may be before or after `now`; also how long the `jti` is remembered.
    pub window: i64,
    /// At a resource: the access token, whose hash the proof's `ath` must be.
    pub access_token: Option<&'a str>,
}

/// A proof that passed every check but the `jti` replay and the nonce.
#[derive(Debug, Clone)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key, base64url: the `cnf.jkt` of bound tokens.
    pub jkt: String,
    pub jti: String,
    pub nonce: Option<String>,
    /// When the `jti` may be forgotten: no proof with this `iat` is accepted after it.
    pub remember_until: i64,
}

impl Proof {
    /// The replay store's key: one row per key and `jti`, of fixed size whatever the `jti` is.
    pub fn replay_key(&self) -> String {
        hex::encode(Sha256::digest(format!("{} {}", self.jkt, self.jti).as_bytes()))
    }
}

/// Runs the checks of RFC 9449 §4.3 items 2–11 (item 1, one header, is the caller's).
pub fn verify(proof: &str, want: &Expect<'_>) -> Result<Proof, String> {
    let parsed = assertion::parse(proof).map_err(|e| e.replace("assertion", "DPoP proof"))?;
    let h = &parsed.header;
    if !h["typ"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) {
        return Err("typ must be dpop+jwt".into());
    }
    let alg_name = h["alg"].as_str().ok_or("alg is required")?;
    if !ALGS.contains(&alg_name) {
        return Err(format!("alg {alg_name} is not accepted; use one of {}", ALGS.join(" ")));
    }
    let raw_jwk = h.get("jwk").filter(|j| j.is_object()).ok_or("jwk (the public key) is required in the header")?;
    if PRIVATE_MEMBERS.iter().any(|m| raw_jwk.get(m).is_some()) {
        return Err("jwk must be a public key; it holds private or symmetric key material".into());
    }
    if !h["crit"].is_null() {
        return Err("unsupported crit header".into());
    }
    let jwk: Jwk = serde_json::from_value(raw_jwk.clone()).map_err(|_| "jwk is not a usable public key")?;
    let alg = Algorithm::from_str(alg_name).map_err(|_| "unknown alg")?;
    if !fits(&jwk, alg) {
        return Err(format!("alg {alg_name} does not fit the jwk's key type"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "jwk is not a usable public key")?;
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    decode::<Value>(proof, &key, &v).map_err(|_| "signature does not verify with the jwk")?;
    check_claims(&parsed.claims, want, jwk.thumbprint(ThumbprintHash::SHA256))
}

/// Which key types an algorithm may be used with; `thumbprint` panics on other pairs.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    use Algorithm::*;
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        AlgorithmParameters::EllipticCurve(p) => {
            (p.curve == EllipticCurve::P256 && alg == ES256) || (p.curve == EllipticCurve::P384 && alg == ES384)
        }
        AlgorithmParameters::OctetKeyPair(p) => p.curve == EllipticCurve::Ed25519 && alg == EdDSA,
        AlgorithmParameters::OctetKey(_) => false,
    }
}

fn check_claims(c: &Value, want: &Expect<'_>, jkt: String) -> Result<Proof, String> {
    let jti = match c["jti"].as_str() {
        Some(j) if !j.is_empty() && j.len() <= MAX_JTI => j.to_string(),
        Some(_) => return Err(format!("jti must be 1-{MAX_JTI} characters")),
        None => return Err("jti is required".into()),
    };
    if c["htm"].as_str() != Some(want.htm) {
        return Err(format!("htm must be {}", want.htm));
    }
    let htu = c["htu"].as_str().ok_or("htu is required")?;
    if !same_uri(htu, want.htu) {
        return Err(format!("htu must be {}", want.htu));
    }
    let iat = match &c["iat"] {
        Value::Number(n) => n.as_f64().map(|f| f as i64).ok_or("iat must be a number")?,
        Value::Null => return Err("iat is required".into()),
        _ => return Err("iat must be a number".into()),
    };
    if iat > want.now.saturating_add(want.window) {
        return Err("iat is in the future".into());
    }
    if iat < want.now.saturating_sub(want.window) {
        return Err(format!("the proof is too old (iat more than {} s ago)", want.window));
    }
    if let Some(token) = want.access_token {
        let ath = c["ath"].as_str().ok_or("ath is required with an access token")?;
        if !bool::from(ath.as_bytes().ct_eq(access_token_hash(token).as_bytes())) {
            return Err("ath does not match the access token".into());
        }
    }
    let nonce = match &c["nonce"] {
        Value::String(n) => Some(n.clone()),
        Value::Null => None,
        _ => return Err("nonce must be a string".into()),
    };
    Ok(Proof { jkt, jti, nonce, remember_until: iat.saturating_add(want.window).saturating_add(1) })
}

/// `ath`, §4.2: base64url of the SHA-256 of the access token's ASCII.
pub fn access_token_hash(token: &str) -> String {
    B64.encode(Sha256::digest(token.as_bytes()))
}

/// RFC 9449 §4.3 item 9: same scheme, host, port and path after RFC 3986 §6.2.2–6.2.3
/// normalisation (case, percent-encoding, dot segments, default port); query and fragment ignored.
pub fn same_uri(presented: &str, ours: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(presented), url::Url::parse(ours)) else { return false };
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && normalise_path(a.path()) == normalise_path(b.path())
}

/// Percent-encoded unreserved characters decoded, other escapes upper-cased (RFC 3986 §6.2.2.2).
fn normalise_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(c) if c.is_ascii_alphanumeric() || b"-._~".contains(&c) => out.push(char::from(c)),
            Some(c) => out.push_str(&format!("%{c:02X}")),
            None => {
                out.push(char::from(bytes[i]));
                i += 1;
                continue;
            }
        }
        i += 3;
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Stateless server nonces (§8): an HMAC of the current time slot under a key every instance
/// shares, so any instance accepts any instance's nonce; the one of the previous slot is still
/// accepted, so a nonce lives between one and two slots.
pub struct Nonces {
    key: hmac::Key,
    slot: i64,
}

impl Nonces {
    pub fn new(secret: &[u8], slot_seconds: u64) -> Nonces {
        Nonces { key: hmac::Key::new(hmac::HMAC_SHA256, secret), slot: i64::try_from(slot_seconds.max(1)).unwrap_or(1) }
    }

    /// The nonce to hand out at `now`.
    pub fn current(&self, now: i64) -> String {
        self.of_slot(now.div_euclid(self.slot))
    }

    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let slot = now.div_euclid(self.slot);
        [slot, slot - 1].into_iter().any(|s| bool::from(self.of_slot(s).as_bytes().ct_eq(nonce.as_bytes())))
    }

    fn of_slot(&self, slot: i64) -> String {
        let tag = hmac::sign(&self.key, &slot.to_be_bytes());
        B64.encode(&tag.as_ref()[..24])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_match_after_normalisation_and_without_query_or_fragment() {
        let ours = "https://as.example/token";
        for same in [
            "https://as.example/token",
            "HTTPS://AS.example:443/token",
            "https://as.example/%74oken",
            "https://as.example/a/../token",
            "https://as.example/token?x=1#f",
        ] {
            assert!(same_uri(same, ours), "{same}");
        }
        for other in ["http://as.example/token", "https://as.example:8443/token", "https://as.example/token/", "x"] {
            assert!(!same_uri(other, ours), "{other}");
        }
    }

    #[test]
    fn a_nonce_lives_for_its_slot_and_the_next_and_only_under_its_key() {
        let n = Nonces::new(b"k", 300);
        let issued = n.current(1000);
        assert!(n.accepts(&issued, 1000));
        assert!(n.accepts(&issued, 1000 + 300));
        assert!(!n.accepts(&issued, 1000 + 600));
        assert!(!Nonces::new(b"other", 300).accepts(&issued, 1000));
    }
}
