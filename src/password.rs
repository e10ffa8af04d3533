//! Password hashing: Argon2id (OWASP parameters) on a bounded blocking pool; bcrypt accepted for
//! imported Auth0 users and upgraded on their first successful login.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Longer passwords are refused before any hashing, so they cannot be used to burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Argon2id cost parameters (RFC 9106 §4): memory in KiB, passes, lanes.
#[derive(Clone, Copy, Debug)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

pub struct Verified {
    pub ok: bool,
    /// The stored hash is not Argon2id with the current parameters; store a fresh one.
    pub needs_rehash: bool,
}

type Job = Box<dyn FnOnce() + Send>;

/// `password_hash_concurrency` dedicated threads: the bound on parallel hashes, and on how many
/// threads ever hold an Argon2 buffer (with tokio's blocking pool, any of up to 512 threads could).
struct Pool {
    jobs: mpsc::Sender<Job>,
}

impl Pool {
    fn new(threads: usize) -> anyhow::Result<Pool> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new().name(format!("oauthd-hash-{i}")).spawn(move || loop {
                // The lock is held only while waiting for the next job, never while hashing.
                let job = match rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return, // every sender is gone: the app was dropped
                }
            })?;
        }
        Ok(Pool { jobs })
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| anyhow::anyhow!("password hashing pool is gone"))?;
        Ok(rx.await?)
    }
}

#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    pool: Arc<Pool>,
    dummy: Arc<String>,
}

impl Passwords {
    /// Hashing with `cost` on `threads` dedicated threads.
    pub fn new(cost: Cost, threads: usize) -> anyhow::Result<Passwords> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let pool = Arc::new(Pool::new(threads)?);
        let mut this = Passwords { argon, pool, dummy: Arc::default() };
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
        let this = self.clone();
        self.pool.run(move || this.hash_blocking(&password)).await?
    }

    /// Verifies against `stored`, or against a dummy hash when there is no user, so that an
    /// unknown user costs the same time as a wrong password.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<Verified> {
        let this = self.clone();
        let real = stored.is_some();
        let stored = stored.unwrap_or_else(|| this.dummy.to_string());
        let v = self.pool.run(move || this.verify_blocking(&password, &stored)).await?;
        Ok(Verified { ok: v.ok && real, needs_rehash: v.needs_rehash && real })
    }
}
