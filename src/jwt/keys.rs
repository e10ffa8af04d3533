//! Signing keys: generation, storage as PKCS#8, the JWK set (RFC 7517) with RFC 7638 thumbprint kids.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::kek::{self, Kek};
use crate::store::{KeyRecord, Store};

pub use crate::config::Alg;

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A parsed private key, ready to sign. Parsed once when loaded, never per token.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    signer: Signer,
    rng: SystemRandom,
}

impl SigningKey {
    pub fn from_record(rec: &KeyRecord, kek: Option<&Kek>) -> anyhow::Result<SigningKey> {
        let alg = Alg::parse(&rec.alg).ok_or_else(|| anyhow!("unknown key alg {}", rec.alg))?;
        let der = &kek::open(kek, &rec.kid, &rec.private_der)?;
        let signer = match alg {
            Alg::RS256 => Signer::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|e| anyhow!("rsa key: {e}"))?),
            Alg::ES256 => Signer::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|e| anyhow!("ec key: {e}"))?,
            ),
            Alg::EdDSA => Signer::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(|e| anyhow!("ed25519 key: {e}"))?),
        };
        Ok(SigningKey { kid: rec.kid.clone(), alg, signer, rng: SystemRandom::new() })
    }

    /// Signs `header_b64.payload_b64` and returns the compact JWS (RFC 7515 §7.1).
    pub fn sign_compact(&self, mut signing_input: String) -> anyhow::Result<String> {
        let sig = match &self.signer {
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &self.rng, signing_input.as_bytes(), &mut sig)
                    .map_err(|_| anyhow!("rsa signing failed"))?;
                sig
            }
            Signer::Ec(k) => k
                .sign(&self.rng, signing_input.as_bytes())
                .map_err(|_| anyhow!("ecdsa signing failed"))?
                .as_ref()
                .to_vec(),
            Signer::Ed(k) => k.sign(signing_input.as_bytes()).as_ref().to_vec(),
        };
        signing_input.push('.');
        B64.encode_string(sig, &mut signing_input);
        Ok(signing_input)
    }
}

/// Generates a fresh key pair and returns it as a storable record.
pub fn generate(alg: Alg, now: i64) -> anyhow::Result<KeyRecord> {
    let fail = |_| anyhow!("key generation failed");
    let (der, jwk) = match alg {
        Alg::RS256 => {
            let k = RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail)?;
            let der: Pkcs8V1Der = k.as_der().map_err(fail)?;
            let c = PublicKeyComponents::<Vec<u8>>::from(k.public_key());
            (
                der.as_ref().to_vec(),
                json!({"kty": "RSA", "n": B64.encode(strip_zeros(&c.n)), "e": B64.encode(strip_zeros(&c.e))}),
            )
        }
        Alg::ES256 => {
            let k = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(fail)?;
            let der = k.to_pkcs8v1().map_err(fail)?;
            let point = k.public_key().as_ref();
            let (x, y) = point[1..].split_at(32);
            (der.as_ref().to_vec(), json!({"kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y)}))
        }
        Alg::EdDSA => {
            let k = Ed25519KeyPair::generate().map_err(fail)?;
            let der = k.to_pkcs8().map_err(fail)?;
            (der.as_ref().to_vec(), json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(k.public_key().as_ref())}))
        }
    };
    let kid = thumbprint(&jwk);
    let mut public = jwk;
    public["kid"] = json!(kid);
    public["alg"] = json!(alg.as_str());
    public["use"] = json!("sig");
    Ok(KeyRecord {
        kid,
        alg: alg.as_str().into(),
        private_der: der,
        public_jwk: public.to_string(),
        created_at: now,
        retired_at: None,
    })
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len().saturating_sub(1));
    &b[i..]
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
fn thumbprint(jwk: &Value) -> String {
    let s = |k: &str| jwk[k].as_str().unwrap_or_default().to_string();
    let canonical = match s("kty").as_str() {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        "EC" => format!(r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#, s("crv"), s("x"), s("y")),
        _ => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
    };
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

/// The keys a running server uses: the one that signs, and the public set it publishes.
pub struct Keyring {
    /// Signs access tokens.
    pub active: Arc<SigningKey>,
    /// Signs ID tokens (RS256).
    pub id_signer: Arc<SigningKey>,
    pub jwks: Arc<Value>,
    parsed: HashMap<String, Arc<SigningKey>>,
    /// Public keys of every published kid, for verifying our own tokens.
    pub verifiers: HashMap<String, (DecodingKey, Algorithm)>,
}

impl Keyring {
    /// Builds a keyring from stored records, reusing already-parsed keys from `previous`.
    /// Access tokens are signed with the newest key of `alg`; ID tokens with the newest RS256
    /// key, the algorithm OIDC Core §3.1.3.7 makes the default.
    pub fn build(
        records: &[KeyRecord],
        alg: Alg,
        now: i64,
        publish_window: i64,
        previous: Option<&Keyring>,
        kek: Option<&Kek>,
    ) -> anyhow::Result<Keyring> {
        let mut parsed = HashMap::new();
        let mut load = |alg: Alg| -> anyhow::Result<Arc<SigningKey>> {
            let rec = newest_of(records, alg).with_context(|| format!("no {} signing key", alg.as_str()))?;
            let key = match previous.and_then(|p| p.parsed.get(&rec.kid)) {
                Some(k) => k.clone(),
                None => Arc::new(SigningKey::from_record(rec, kek)?),
            };
            parsed.insert(key.kid.clone(), key.clone());
            Ok(key)
        };
        let active = load(alg)?;
        let id_signer = load(Alg::RS256)?;
        let jwks = public_jwks(records, now, publish_window);
        let verifiers = jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let jwk: Jwk = serde_json::from_value(v.clone()).ok()?;
                let alg = Algorithm::from_str(v["alg"].as_str()?).ok()?;
                Some((v["kid"].as_str()?.to_string(), (DecodingKey::from_jwk(&jwk).ok()?, alg)))
            })
            .collect();
        Ok(Keyring { active, id_signer, jwks: Arc::new(jwks), parsed, verifiers })
    }
}

/// The newest unretired key of `alg`; if two instances rotating at once retired each other's,
/// the newest of that alg still signs.
fn newest_of(records: &[KeyRecord], alg: Alg) -> Option<&KeyRecord> {
    let of_alg = || records.iter().filter(move |r| r.alg == alg.as_str());
    of_alg()
        .filter(|r| r.retired_at.is_none())
        .max_by_key(|r| (r.created_at, r.kid.clone()))
        .or_else(|| of_alg().max_by_key(|r| (r.created_at, r.kid.clone())))
}

/// The JWK set: the active keys, retired keys whose tokens may still be valid, and always the
/// key each alg signs with (`newest_of`), even when it is retired.
pub fn public_jwks(records: &[KeyRecord], now: i64, publish_window: i64) -> Value {
    let signers: Vec<&str> = [Alg::RS256, Alg::ES256, Alg::EdDSA]
        .into_iter()
        .filter_map(|alg| newest_of(records, alg).map(|r| r.kid.as_str()))
        .collect();
    let keys: Vec<Value> = records
        .iter()
        .filter(|r| r.retired_at.is_none_or(|t| t + publish_window > now) || signers.contains(&r.kid.as_str()))
        .filter_map(|r| serde_json::from_str(&r.public_jwk).ok())
        .collect();
    json!({ "keys": keys })
}

/// Encrypts, in the database, the private keys stored in plaintext before a key-encryption key
/// was configured. Returns how many were sealed.
pub async fn seal_plaintext(store: &dyn Store, kek: &Kek) -> anyhow::Result<usize> {
    let mut sealed = 0;
    for rec in store.list_keys().await?.iter().filter(|r| !kek::is_sealed(&r.private_der)) {
        let new = kek::seal(Some(kek), &rec.kid, rec.private_der.clone())?;
        // Another instance may have sealed it first; its ciphertext is just as good.
        if store.replace_private_der(&rec.kid, &rec.private_der, &new).await? {
            tracing::info!(event = "key_sealed", kid = %rec.kid, "encrypted a plaintext signing key at rest");
            sealed += 1;
        }
    }
    Ok(sealed)
}

/// Makes sure an active key exists for `alg` (access tokens) and for RS256 (ID tokens).
/// Returns whether it had to create one.
pub async fn ensure_active(store: &dyn Store, alg: Alg, now: i64, kek: Option<&Kek>) -> anyhow::Result<bool> {
    let keys = store.list_keys().await?;
    let mut created = false;
    for needed in needed_algs(alg) {
        if lacks_active(&keys, needed) {
            rotate(store, needed, now, kek).await?;
            created = true;
        }
    }
    Ok(created)
}

/// The algs a server signing access tokens with `alg` needs keys for.
pub fn needed_algs(alg: Alg) -> Vec<Alg> {
    if alg == Alg::RS256 {
        vec![alg]
    } else {
        vec![alg, Alg::RS256]
    }
}

/// Whether no unretired key of `alg` is among `records`.
pub fn lacks_active(records: &[KeyRecord], alg: Alg) -> bool {
    !records.iter().any(|r| r.retired_at.is_none() && r.alg == alg.as_str())
}

/// Adds a new active key of `alg`; older keys of that alg stay published for the publish window.
pub async fn rotate(store: &dyn Store, alg: Alg, now: i64, kek: Option<&Kek>) -> anyhow::Result<KeyRecord> {
    // Newer than every key of the alg, so that a rotation in the same second still wins.
    let floor =
        store.list_keys().await?.iter().filter(|r| r.alg == alg.as_str()).map(|r| r.created_at.saturating_add(1)).max();
    let created = floor.map_or(now, |f| f.max(now));
    let mut rec = tokio::task::spawn_blocking(move || generate(alg, created)).await??;
    rec.private_der = kek::seal(kek, &rec.kid, std::mem::take(&mut rec.private_der))?;
    store.insert_key(&rec).await?;
    store.retire_all_but_newest(alg.as_str(), now).await?;
    tracing::info!(event = "key_rotation", kid = %rec.kid, alg = alg.as_str(), "signing key rotated");
    Ok(rec)
}
