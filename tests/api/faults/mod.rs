//! Fault injection, the proof of issue 13: oauthd instances on one PostgreSQL database behind a
//! TCP proxy that cuts, black-holes, delays and resets the link, under mixed traffic (RFC 6749
//! grants, RFC 7662 introspection, RFC 7009 revocation); real processes for kill -9, SIGTERM
//! and the cold start; a login flood of abandoned requests.
//!
//! Each fault lasts `OAUTHD_FAULTS_SECONDS` (2.5 s by default, so the suite stays within a few
//! minutes in CI); the fault tests run one at a time. Every run prints one row of README's fault
//! table (`cargo test --test api faults -- --nocapture`).

mod cold_start;
mod fleet;
mod flood;
mod ledger;
mod mix;
mod processes;
mod proxy;
mod restarts;
mod scenarios;
mod traffic;

use std::collections::BTreeMap;
use std::time::Duration;

use ledger::Ledger;

/// How long each fault lasts: `OAUTHD_FAULTS_SECONDS`, 2.5 s by default.
pub fn window() -> Duration {
    let s = std::env::var("OAUTHD_FAULTS_SECONDS").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(2.5);
    Duration::from_secs_f64(s.clamp(0.5, 3600.0))
}

/// Held by each fault test for its whole run: the faults share the machine's two cores and
/// PostgreSQL's 100 connections, and their numbers mean something only one at a time.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE.lock().await
}

/// Prints the fault's row of README's table, and what each kind of request came to.
pub fn report(fault: &str, window: Option<Duration>, ledger: &Ledger, recovery: Option<String>) {
    let t = ledger.total();
    let recovery = recovery.unwrap_or_else(|| "none within 10 s".into());
    let window = window.map_or("-".into(), |w| format!("{:.1} s", w.as_secs_f64()));
    println!(
        "| {fault} | {window} | {} | {} | {} | {} | {recovery} |",
        t.total(),
        t.ok,
        t.unavailable,
        t.other + t.unreachable
    );
    println!("  {fault}: {}", ledger.breakdown());
}

/// Fails with every problem found (repeats counted), so that one run shows all that broke.
pub fn assert_clean(fault: &str, problems: Vec<String>) {
    if problems.is_empty() {
        return;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for p in &problems {
        *seen.entry(p.clone()).or_default() += 1;
    }
    let lines: Vec<String> = seen.iter().take(30).map(|(p, n)| format!("  {n} × {p}")).collect();
    panic!("{fault}: {} problem(s):\n{}", problems.len(), lines.join("\n"));
}
