//! Key sets published by others (RFC 7517 §5), read key by key: a key we cannot use for
//! signatures is skipped rather than making the whole set unusable.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// The usable signature keys of a JWK set document, and how many keys were skipped.
///
/// Skipped: keys jsonwebtoken cannot parse (X25519, unknown `kty`, …), keys with
/// `use` = `enc` (RFC 7517 §4.2, RFC 8725 §3.1), and keys with no signature algorithm we accept.
pub fn parse(bytes: &[u8]) -> Result<(JwkSet, usize), String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let list = doc.get("keys").and_then(Value::as_array).ok_or("not a JWK set: no \"keys\" array")?;
    let keys: Vec<Jwk> =
        list.iter().filter_map(|v| serde_json::from_value::<Jwk>(v.clone()).ok()).filter(usable).collect();
    let skipped = list.len() - keys.len();
    Ok((JwkSet { keys }, skipped))
}

/// As `parse`, for configuration: at least one usable key is required.
pub fn parse_for_config(text: &str) -> Result<JwkSet, String> {
    let (set, _) = parse(text.as_bytes())?;
    if set.keys.is_empty() {
        return Err("the JWK set has no usable signature key".into());
    }
    Ok(set)
}

fn usable(jwk: &Jwk) -> bool {
    !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
        && key_alg(jwk).is_some()
        && DecodingKey::from_jwk(jwk).is_ok()
}

/// The algorithm a key is for: its `alg`, or what its type implies. Never HMAC.
pub fn key_alg(jwk: &Jwk) -> Option<Algorithm> {
    if let Some(a) = jwk.common.key_algorithm {
        return match a {
            KeyAlgorithm::RS256 => Some(Algorithm::RS256),
            KeyAlgorithm::RS384 => Some(Algorithm::RS384),
            KeyAlgorithm::RS512 => Some(Algorithm::RS512),
            KeyAlgorithm::PS256 => Some(Algorithm::PS256),
            KeyAlgorithm::PS384 => Some(Algorithm::PS384),
            KeyAlgorithm::PS512 => Some(Algorithm::PS512),
            KeyAlgorithm::ES256 => Some(Algorithm::ES256),
            KeyAlgorithm::ES384 => Some(Algorithm::ES384),
            KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
            _ => None,
        };
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Some(Algorithm::ES256),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => Some(Algorithm::ES384),
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Some(Algorithm::EdDSA),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec(kid: &str) -> Value {
        let rec = crate::jwt::keys::generate(crate::jwt::keys::Alg::ES256, 0).unwrap();
        let mut v: Value = serde_json::from_str(&rec.public_jwk).unwrap();
        v["kid"] = json!(kid);
        v
    }

    #[test]
    fn unusable_keys_are_skipped_one_by_one() {
        let mut enc = ec("enc");
        enc["use"] = json!("enc");
        let doc = json!({ "keys": [
            {"kty": "OKP", "crv": "X25519", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo", "kid": "x"},
            {"kty": "weird", "kid": "w"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "RSA-OAEP", "kid": "oaep"},
            enc,
            ec("good"),
        ]});
        let (set, skipped) = parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(skipped, 5);
        assert_eq!(set.keys.len(), 1);
        assert!(set.find("good").is_some());
    }

    #[test]
    fn a_document_without_keys_is_refused_and_config_needs_one_usable_key() {
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
        assert!(parse_for_config(r#"{"keys": [{"kty": "weird"}]}"#).is_err());
    }
}
