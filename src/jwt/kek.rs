//! Private signing keys at rest: AES-256-GCM under a key-encryption key from configuration,
//! bound to the key's `kid` as associated data.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

const MAGIC: &[u8] = b"oauthd-kek-v1\0";

pub struct Kek(LessSafeKey);

impl Kek {
    /// A key from 32 bytes of key material (`Settings::key_encryption_key`).
    pub fn new(bytes: &[u8; 32]) -> anyhow::Result<Kek> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| anyhow::anyhow!("invalid key-encryption key"))?;
        Ok(Kek(LessSafeKey::new(key)))
    }

    fn seal(&self, kid: &str, plain: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::oauth::secret::fill(&mut nonce);
        let mut buf = plain.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| anyhow::anyhow!("key encryption failed"))?;
        Ok([MAGIC, &nonce, &buf].concat())
    }
}

/// Encrypts `der` for storage when a key-encryption key is configured.
pub fn seal(kek: Option<&Kek>, kid: &str, der: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    match kek {
        Some(k) => k.seal(kid, &der),
        None => Ok(der),
    }
}

/// Whether a stored private key is encrypted (written under a key-encryption key).
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(MAGIC)
}

/// The private key DER of a stored record, decrypting it if it was encrypted.
pub fn open(kek: Option<&Kek>, kid: &str, stored: &[u8]) -> anyhow::Result<Vec<u8>> {
    let Some(rest) = stored.strip_prefix(MAGIC) else { return Ok(stored.to_vec()) };
    let kek = kek.ok_or_else(|| anyhow::anyhow!("signing key {kid} is encrypted; set key_encryption_key"))?;
    if rest.len() < NONCE_LEN {
        anyhow::bail!("signing key {kid}: truncated ciphertext");
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("bad nonce"))?;
    let mut buf = ct.to_vec();
    let plain = kek
        .0
        .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
        .map_err(|_| anyhow::anyhow!("signing key {kid} cannot be decrypted: wrong key_encryption_key?"))?;
    Ok(plain.to_vec())
}
