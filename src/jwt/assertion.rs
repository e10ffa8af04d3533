//! Verifying JWTs signed by others: jwt-bearer assertions (RFC 7523 §3, RFC 7521 §5.2) and
//! private_key_jwt client assertions (§2.2), hardened per RFC 8725. Every check has its own
//! message, so `error_description` says exactly which one failed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, DecodingKey, Validation};
use serde_json::Value;

pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// The unverified parts of a compact JWS.
pub struct Parsed {
    pub header: Value,
    pub claims: Value,
}

pub fn parse(token: &str) -> Result<Parsed, String> {
    if token.len() > MAX_ASSERTION_BYTES {
        return Err("assertion is larger than 16 KiB".into());
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() && parts.len() != 3) {
        return Err("assertion is not a compact JWS (header.payload.signature)".into());
    }
    let json = |p: &str, what: &str| -> Result<Value, String> {
        let bytes = B64.decode(p).map_err(|_| format!("assertion {what} is not base64url"))?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| format!("assertion {what} is not a JSON object"))
    };
    let header = json(parts[0], "header")?;
    let claims = json(parts[1], "payload")?;
    // `iss`, `sub` and `jti` become database keys, and PostgreSQL text cannot hold NUL.
    if has_nul(&header) || has_nul(&claims) {
        return Err("assertion contains a NUL character".into());
    }
    if parts[2].is_empty() {
        return Err("assertion is unsigned".into());
    }
    Ok(Parsed { header, claims })
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Header rules that need no key: no `none`, no HMAC, no unknown `crit`, not one of our
/// access tokens. `jku`, `x5u` and `jwk` are ignored: keys come only from configuration.
pub fn check_header(h: &Value) -> Result<(), String> {
    let alg = h["alg"].as_str().ok_or("assertion header has no alg")?;
    if alg.eq_ignore_ascii_case("none") {
        return Err("alg none is not accepted".into());
    }
    if alg.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("HS")) {
        return Err(format!("symmetric alg {alg} is not accepted"));
    }
    if !h["crit"].is_null() {
        return Err("unsupported crit header".into());
    }
    if h["typ"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt"))
    {
        return Err("an access token (typ at+jwt) is not an assertion".into());
    }
    Ok(())
}

/// Picks the key by `kid` among `keys` only, takes the algorithm from it, and checks the signature.
pub fn verify_signature(token: &str, header: &Value, keys: &JwkSet) -> Result<(), String> {
    let jwk = match header["kid"].as_str() {
        Some(kid) => keys.find(kid).ok_or_else(|| format!("no key with kid '{kid}' at the issuer"))?,
        None if keys.keys.len() == 1 => &keys.keys[0],
        None => return Err("assertion has no kid and the issuer has several keys".into()),
    };
    let alg = super::jwk_set::key_alg(jwk).ok_or("the issuer's key has an unsupported type or alg")?;
    let header_alg = header["alg"].as_str().unwrap_or("");
    if format!("{alg:?}") != header_alg {
        return Err(format!("alg {header_alg} does not match the key's alg {alg:?}"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "the issuer's key cannot be used")?;
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    decode::<Value>(token, &key, &v).map(|_| ()).map_err(|_| "signature does not verify".to_string())
}

/// Time and audience rules shared by both kinds of assertion.
pub struct ClaimRules<'a> {
    pub audiences: [&'a str; 2],
    pub now: i64,
    pub skew: i64,
    pub max_age: i64,
    pub require_jti: bool,
}

impl<'a> ClaimRules<'a> {
    /// Our issuer and token endpoint as the audiences, a clock skew, and a policy.
    pub fn ours(audiences: [&'a str; 2], skew: u64, now: i64, max_age: i64, require_jti: bool) -> Self {
        ClaimRules { audiences, now, skew: skew as i64, max_age, require_jti }
    }
}

/// One named claim check, shared by the grant, private_key_jwt and the `trust check` dry run.
pub type ClaimCheck = fn(&Value, &ClaimRules<'_>) -> Result<(), String>;

/// Every claim check, in the order the grant runs them.
pub const CLAIM_CHECKS: [(&str, ClaimCheck); 7] = [
    ("sub", check_sub),
    ("aud", check_aud),
    ("exp", check_exp),
    ("nbf", check_nbf),
    ("iat", check_iat),
    ("max-age", check_max_age),
    ("jti", check_jti),
];

/// Runs every claim check and reports the first failure.
pub fn check_claims(c: &Value, r: &ClaimRules<'_>) -> Result<(), String> {
    CLAIM_CHECKS.iter().try_for_each(|(_, check)| check(c, r))
}

pub fn check_sub(c: &Value, _: &ClaimRules<'_>) -> Result<(), String> {
    match &c["sub"] {
        Value::String(s) if s.chars().any(char::is_control) => Err("sub must not contain control characters".into()),
        Value::String(s) if !s.is_empty() => Ok(()),
        Value::Null => Err("sub is required".into()),
        _ => Err("sub must be a non-empty string".into()),
    }
}

pub fn check_aud(c: &Value, r: &ClaimRules<'_>) -> Result<(), String> {
    let aud_ok = |v: &Value| v.as_str().is_some_and(|a| r.audiences.contains(&a));
    match &c["aud"] {
        Value::Null => Err("aud is required".into()),
        Value::String(_) if aud_ok(&c["aud"]) => Ok(()),
        Value::Array(list) if list.iter().any(aud_ok) => Ok(()),
        _ => Err(format!("aud must contain {} or {}", r.audiences[0], r.audiences[1])),
    }
}

/// A numeric date claim, in wide arithmetic: a hostile `exp` of 1e300 or `iat` of -2^63 must
/// not overflow. `None` when absent; a string or other non-number is an error.
fn time_claim(c: &Value, k: &str) -> Result<Option<i128>, String> {
    match &c[k] {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(i128::from(n.as_f64().unwrap_or(0.0) as i64))),
        _ => Err(format!("{k} must be a number")),
    }
}

pub fn check_exp(c: &Value, r: &ClaimRules<'_>) -> Result<(), String> {
    let exp = time_claim(c, "exp")?.ok_or("exp is required")?;
    if exp + i128::from(r.skew) <= i128::from(r.now) {
        return Err("assertion has expired".into());
    }
    Ok(())
}

pub fn check_nbf(c: &Value, r: &ClaimRules<'_>) -> Result<(), String> {
    if time_claim(c, "nbf")?.is_some_and(|nbf| nbf - i128::from(r.skew) > i128::from(r.now)) {
        return Err("assertion is not valid yet (nbf)".into());
    }
    Ok(())
}

pub fn check_iat(c: &Value, r: &ClaimRules<'_>) -> Result<(), String> {
    if time_claim(c, "iat")?.is_some_and(|iat| iat - i128::from(r.skew) > i128::from(r.now)) {
        return Err("iat is in the future".into());
    }
    Ok(())
}

/// `exp - iat` and the age (`now - iat`) must both be within `max_age`; without `iat`, `exp - now`.
pub fn check_max_age(c: &Value, r: &ClaimRules<'_>) -> Result<(), String> {
    let exp = time_claim(c, "exp").ok().flatten().ok_or("cannot be checked without a numeric exp")?;
    let (now, max_age) = (i128::from(r.now), i128::from(r.max_age));
    let start = time_claim(c, "iat")?.unwrap_or(now);
    if exp - start > max_age || now - start > max_age {
        return Err(format!("assertion lifetime or age exceeds the allowed {} s", r.max_age));
    }
    Ok(())
}

pub fn check_jti(c: &Value, r: &ClaimRules<'_>) -> Result<(), String> {
    match &c["jti"] {
        Value::String(s) if !s.is_empty() => Ok(()),
        Value::Null if !r.require_jti => Ok(()),
        Value::Null => Err("jti is required".into()),
        _ => Err("jti must be a non-empty string".into()),
    }
}

/// Does `sub` match the issuer's `subjects` policy (`any`, a list, or `*` globs)?
pub fn subject_allowed(policy: &str, sub: &str) -> bool {
    policy.split(' ').filter(|p| !p.is_empty()).any(|p| p == "any" || glob(p, sub))
}

fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s.ends_with(last) || s.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_policies_match_lists_and_globs() {
        assert!(subject_allowed("any", "x"));
        assert!(subject_allowed("alice bob", "bob"));
        assert!(!subject_allowed("alice bob", "bo"));
        assert!(subject_allowed("repo:acme/*:ref:refs/heads/main", "repo:acme/api:ref:refs/heads/main"));
        assert!(!subject_allowed("repo:acme/*", "repo:evil/x"));
    }

    #[test]
    fn nul_anywhere_in_an_assertion_is_refused() {
        let enc = |v: serde_json::Value| B64.encode(v.to_string());
        let h = enc(serde_json::json!({"alg": "ES256"}));
        for claims in [serde_json::json!({"iss": "a\u{0}"}), serde_json::json!({"aud": ["x", "\u{0}"]})] {
            let err = parse(&format!("{h}.{}.sig", enc(claims))).err().unwrap();
            assert!(err.contains("NUL"), "{err}");
        }
        assert!(parse(&format!("{h}.{}.sig", enc(serde_json::json!({"iss": "a"})))).is_ok());
    }

    #[test]
    fn dangerous_headers_are_refused() {
        assert!(check_header(&serde_json::json!({"alg": "none"})).is_err());
        assert!(check_header(&serde_json::json!({"alg": "HS256"})).is_err());
        assert!(check_header(&serde_json::json!({"alg": "ES256", "crit": ["b64"]})).is_err());
        assert!(check_header(&serde_json::json!({"alg": "ES256", "typ": "at+jwt"})).is_err());
        assert!(check_header(&serde_json::json!({"alg": "ES256", "jku": "https://evil"})).is_ok());
    }
}
