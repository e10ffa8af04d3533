//! Password hashing: Argon2id (RFC 9106, OWASP parameters) on a bounded pool of dedicated threads
//! with a bounded queue; bcrypt accepted for imported Auth0 users and upgraded on their first
//! successful login.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, Mutex};

use std::cell::RefCell;

use argon2::password_hash::{Output, PasswordHash, PasswordHasher as _, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the queue is full: answer 503 now rather than wait.
    #[error("too many password checks are waiting")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// `threads` dedicated threads: the bound on parallel hashes, and on how many threads ever hold
/// an Argon2 buffer (with tokio's blocking pool, any of up to 512 threads could). At most `queue`
/// jobs wait for them.
struct Pool {
    jobs: mpsc::SyncSender<Job>,
    queued: Arc<AtomicUsize>,
}

impl Pool {
    fn new(threads: usize, queue: usize) -> anyhow::Result<Pool> {
        let (jobs, rx) = mpsc::sync_channel::<Job>(queue);
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
        Ok(Pool { jobs, queued: Arc::default() })
    }

    /// Runs `f` on a hashing thread, or fails at once with `Busy` when the queue is full. When the
    /// caller stops waiting (its request was dropped) before a thread is free, `f` never runs.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued = self.queued.clone();
        let job: Job = Box::new(move || {
            queued.fetch_sub(1, Ordering::Relaxed);
            if tx.is_closed() {
                crate::metrics::hash_job("skipped");
                return;
            }
            let _ = tx.send(f());
        });
        self.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.jobs.try_send(job) {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(match e {
                TrySendError::Full(_) => {
                    crate::metrics::hash_job("rejected");
                    HashError::Busy
                }
                TrySendError::Disconnected(_) => HashError::Failed("the hashing pool is gone".into()),
            });
        }
        rx.await.map_err(|_| HashError::Failed("a hashing thread ended".into()))
    }
}

thread_local! {
    /// The Argon2 memory of a hashing thread, kept between hashes (see `verify_argon2`); at most
    /// the configured `m` per thread of the bounded pool.
    static THREAD_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    pool: Arc<Pool>,
    dummy: Arc<String>,
}

impl Passwords {
    /// Hashing with `cost` on `threads` dedicated threads, with at most `queue` jobs waiting.
    pub fn new(cost: Cost, threads: usize, queue: usize) -> anyhow::Result<Passwords> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let pool = Arc::new(Pool::new(threads, queue)?);
        let mut this = Passwords { argon, pool, dummy: Arc::default() };
        this.dummy = Arc::new(this.hash_blocking(&crate::oauth::secret::random_token(16))?);
        Ok(this)
    }

    /// Jobs waiting for a hashing thread (not counting those being hashed).
    pub fn queued(&self) -> usize {
        self.pool.queued.load(Ordering::Relaxed)
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
        let ok = self.verify_argon2(password.as_bytes(), &parsed).unwrap_or(false);
        Verified { ok, needs_rehash: ok && !self.is_current(&parsed) }
    }

    /// What `PasswordVerifier::verify_password` does (the stored hash's algorithm, version, and
    /// parameters; `Output`'s constant-time comparison), but in this thread's reused memory: a
    /// fresh buffer per verify costs a page fault per KiB of `m`, about 10 ms of kernel time for
    /// the default 19 MiB, a third of the Argon2 work itself. A hash asking for more memory than
    /// the configured cost gets a buffer of its own, so no thread keeps more than that.
    fn verify_argon2(&self, password: &[u8], h: &PasswordHash) -> Result<bool, argon2::password_hash::Error> {
        use argon2::password_hash::Error;
        let (Some(salt), Some(expected)) = (h.salt, h.hash) else { return Ok(false) };
        let algorithm = Algorithm::try_from(h.algorithm)?;
        let version = h.version.map(Version::try_from).transpose()?.unwrap_or_default();
        let params = Params::try_from(h)?;
        let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
        let salt = salt.decode_b64(&mut salt_bytes)?;
        let mut out = vec![0u8; expected.len()];
        let argon = Argon2::new(algorithm, version, params.clone());
        let blocks = params.block_count();
        if blocks > self.argon.params().block_count() {
            argon.hash_password_into(password, salt, &mut out).map_err(Error::from)?;
        } else {
            THREAD_MEMORY.with_borrow_mut(|memory| {
                memory.resize(blocks.max(memory.len()), Block::default());
                argon.hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
            })?;
        }
        Ok(Output::new(&out)? == expected)
    }

    /// Whether `h` is Argon2id v1.3 with the configured m, t and p. The output length is not
    /// compared: parsing takes it from the hash, while the configured parameters leave it unset.
    fn is_current(&self, h: &PasswordHash) -> bool {
        let want = self.argon.params();
        let same = |p: Params| (p.m_cost(), p.t_cost(), p.p_cost()) == (want.m_cost(), want.t_cost(), want.p_cost());
        h.algorithm == argon2::ARGON2ID_IDENT
            && h.version == Some(Version::V0x13.into())
            && Params::try_from(h).is_ok_and(same)
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let this = self.clone();
        self.pool.run(move || this.hash_blocking(&password)).await?.map_err(|e| HashError::Failed(e.to_string()))
    }

    /// Verifies against `stored`, or against a dummy hash when there is no user (or it may not
    /// log in), so that such an attempt costs the same time as a wrong password.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<Verified, HashError> {
        let this = self.clone();
        let real = stored.is_some();
        let stored = stored.unwrap_or_else(|| this.dummy.to_string());
        let v = self.pool.run(move || this.verify_blocking(&password, &stored)).await?;
        Ok(Verified { ok: v.ok && real, needs_rehash: v.needs_rehash && real })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords(memory_kib: u32) -> Passwords {
        Passwords::new(Cost { memory_kib, iterations: 1, parallelism: 1 }, 1, 4).unwrap()
    }

    #[tokio::test]
    async fn only_a_hash_with_other_parameters_needs_a_rehash() {
        let (current, older) = (passwords(64), passwords(32));
        let h = current.hash("pw".into()).await.unwrap();
        let v = current.verify("pw".into(), Some(h)).await.unwrap();
        assert!(v.ok && !v.needs_rehash);
        let old = older.hash("pw".into()).await.unwrap();
        let v = current.verify("pw".into(), Some(old.clone())).await.unwrap();
        assert!(v.ok && v.needs_rehash);
        let v = current.verify("wrong".into(), Some(old)).await.unwrap();
        assert!(!v.ok && !v.needs_rehash, "a wrong password is never rehashed");
    }

    #[test]
    fn verifying_in_reused_memory_agrees_with_the_argon2_crate() {
        use argon2::password_hash::PasswordVerifier;
        let p = passwords(64);
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        // Bigger and smaller than the configured 64 KiB, other lanes, algorithms and versions,
        // in an order that grows and shrinks this thread's memory between verifies.
        let kinds = [
            (Algorithm::Argon2id, Version::V0x13, 64, 2, 1),
            (Algorithm::Argon2id, Version::V0x13, 256, 1, 2),
            (Algorithm::Argon2i, Version::V0x13, 32, 3, 1),
            (Algorithm::Argon2d, Version::V0x10, 48, 1, 4),
            (Algorithm::Argon2id, Version::V0x13, 16, 1, 1),
        ];
        for (alg, version, m, t, lanes) in kinds {
            let argon = Argon2::new(alg, version, Params::new(m, t, lanes, None).unwrap());
            let stored = argon.hash_password(b"right", &salt).unwrap().to_string();
            let parsed = PasswordHash::new(&stored).unwrap();
            for guess in [&b"right"[..], b"wrong", b""] {
                let crate_says = Argon2::default().verify_password(guess, &parsed).is_ok();
                assert_eq!(p.verify_argon2(guess, &parsed).unwrap(), crate_says, "{stored} {guess:?}");
            }
        }
        assert!(THREAD_MEMORY.with_borrow(|m| m.len()) <= 64, "no thread keeps more than the configured m");
    }

    #[tokio::test]
    async fn a_job_whose_caller_is_gone_is_skipped() {
        let p = passwords(64);
        let (started, is_started) = mpsc::channel();
        let (release, is_released) = mpsc::channel::<()>();
        let holder = p.clone();
        let busy = tokio::spawn(async move {
            holder
                .pool
                .run(move || {
                    let _ = started.send(());
                    is_released.recv().ok()
                })
                .await
        });
        tokio::task::spawn_blocking(move || is_started.recv()).await.unwrap().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let abandoned = p.pool.run(move || r.fetch_add(1, Ordering::SeqCst));
        assert!(tokio::time::timeout(std::time::Duration::from_millis(20), abandoned).await.is_err());
        assert_eq!(p.queued(), 1);
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        p.pool.run(|| ()).await.unwrap();
        assert_eq!((ran.load(Ordering::SeqCst), p.queued()), (0, 0), "the abandoned job never ran");
    }
}
