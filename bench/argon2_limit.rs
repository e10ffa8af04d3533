//! The machine's Argon2id limit (bench/ratios.sh): verifies per second with oauthd's password
//! parameters on every core at once, with nothing else running.
//!
//! Usage: bench_argon2_limit [SECONDS] [THREADS]   (defaults: 10, every core)
//! Parameters: OAUTHD_ARGON2_MEMORY_KIB (19456), OAUTHD_ARGON2_ITERATIONS (2),
//! OAUTHD_ARGON2_PARALLELISM (1), the same variables oauthd reads.
//! Prints one line: `argon2id verifies_per_s=… threads=… m=… t=… p=… seconds=… cpu_ms_per_verify=…`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn env_u32(k: &str, d: u32) -> u32 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(10.0);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(cores);
    let (m, t, p) = (
        env_u32("OAUTHD_ARGON2_MEMORY_KIB", 19456),
        env_u32("OAUTHD_ARGON2_ITERATIONS", 2),
        env_u32("OAUTHD_ARGON2_PARALLELISM", 1),
    );
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(m, t, p, None).expect("argon2 params"));
    let salt = SaltString::encode_b64(b"bench-salt-16byt").unwrap();
    let hash = argon.hash_password(b"correct horse battery staple", &salt).unwrap().to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (argon, hash, stop, count) = (argon.clone(), hash.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let parsed = PasswordHash::new(&hash).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    argon.verify_password(b"correct horse battery staple", &parsed).expect("verify");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    // Verifies finished after the deadline are counted with the time they took.
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    // CPU time, to tell the cost of one verify from the share of the machine this run got.
    let cpu = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        (s(u.ru_utime), s(u.ru_stime))
    };
    println!(
        "argon2id verifies_per_s={:.1} verifies={n} threads={threads} m={m} t={t} p={p} seconds={elapsed:.2} \
         cpu_ms_per_verify={:.1} (user {:.1}, system {:.1})",
        n as f64 / elapsed,
        (cpu.0 + cpu.1) * 1e3 / n as f64,
        cpu.0 * 1e3 / n as f64,
        cpu.1 * 1e3 / n as f64,
    );
}
