//! Password hashing: Argon2id (OWASP parameters) on a bounded blocking pool; bcrypt accepted for
//! imported Auth0 users and upgraded on their first successful login.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::Settings;

/// Longer passwords are refused before any hashing, so they cannot be used to burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

pub fn params(s: &Settings) -> Result<Params, argon2::Error> {
    Params::new(s.argon2_memory_kib, s.argon2_iterations, s.argon2_parallelism, None)
}

pub struct Verified {
    pub ok: bool,
    /// The stored hash is not Argon2id with the current parameters; store a fresh one.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    dummy: Arc<String>,
}

impl Passwords {
    pub fn new(s: &Settings) -> anyhow::Result<Passwords> {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params(s).map_err(|e| anyhow::anyhow!("{e}"))?);
        let mut this =
            Passwords { argon, permits: Arc::new(Semaphore::new(s.password_hash_concurrency)), dummy: Arc::default() };
        this.dummy = Arc::new(this.hash_blocking(&crate::oauth::secret::random_token(16))?);
        Ok(this)
    }

    fn hash_blocking(&self, password: &str) -> anyhow::Result<String> {
        let mut salt = [0u8; 16];
        crate::oauth::secret::fill(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(self.argon.hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?.to_string())
    }

    fn verify_blocking(&self, password: &str, stored: &str) -> Verified {
        if stored.starts_with("$2") {
            let ok = bcrypt::verify(password, stored).unwrap_or(false);
            return Verified { ok, needs_rehash: ok };
        }
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verified { ok: false, needs_rehash: false };
        };
        let ok = self.argon.verify_password(password.as_bytes(), &parsed).is_ok();
        let current = Params::try_from(&parsed).map(|p| &p == self.argon.params()).unwrap_or(false);
        Verified { ok, needs_rehash: ok && (parsed.algorithm.as_str() != "argon2id" || !current) }
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash_blocking(&password)).await?
    }

    /// Verifies against `stored`, or against a dummy hash when there is no user, so that an
    /// unknown user costs the same time as a wrong password.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<Verified> {
        let _permit = self.permits.acquire().await?;
        let this = self.clone();
        let real = stored.is_some();
        let stored = stored.unwrap_or_else(|| this.dummy.to_string());
        let v = tokio::task::spawn_blocking(move || this.verify_blocking(&password, &stored)).await?;
        Ok(Verified { ok: v.ok && real, needs_rehash: v.needs_rehash && real })
    }
}
