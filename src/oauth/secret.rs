//! Client secrets and opaque tokens: random, stored as SHA-256, compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `bytes` random bytes from the OS CSPRNG, base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    B64.encode(buf)
}

/// Fills `buf` from the OS-seeded CSPRNG.
pub fn fill(buf: &mut [u8]) {
    aws_lc_rs::rand::fill(buf).expect("system RNG failed"); // ok: an RNG failure is unrecoverable
}

/// Hex SHA-256. Safe for high-entropy secrets (≥ 256 bits), never for passwords.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn verify(secret: &str, stored_digest: &str) -> bool {
    digest(secret).as_bytes().ct_eq(stored_digest.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_against_its_digest_only() {
        let s = random_token(32);
        assert!(s.len() >= 43);
        assert!(verify(&s, &digest(&s)));
        assert!(!verify("other", &digest(&s)));
    }
}
