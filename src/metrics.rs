//! Prometheus metrics: request counts by endpoint and outcome, token grants by outcome (error
//! code), latency histograms, JWKS fetches, lockouts, refresh reuse, the database pool, and the
//! password-hash queue.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once (the `metrics` facade is global by design).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
                .expect("static buckets") // ok: constant, non-empty
                .build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Drains histogram samples into their buckets every 5 s. Without it the recorder keeps every
/// raw sample until `/metrics` is scraped, which grows memory without bound when nobody scrapes.
pub fn spawn_upkeep() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let handle = handle();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        });
    });
}

/// A token request's result: the grant and `ok` or the RFC 6749 error code.
pub fn token_outcome(grant: &str, outcome: &str) {
    let grant = match grant {
        "client_credentials" | "password" | "refresh_token" | "authorization_code" => grant.to_string(),
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => "jwt_bearer".into(),
        "urn:ietf:params:oauth:grant-type:device_code" => "device_code".into(),
        _ => "other".into(),
    };
    metrics::counter!("oauthd_token_requests_total", "grant" => grant, "outcome" => outcome.to_string()).increment(1);
}

pub fn event(name: &'static str) {
    metrics::counter!("oauthd_security_events_total", "event" => name).increment(1);
}

/// A password-hash job that never ran: `rejected` (the queue was full) or `skipped` (its request
/// was gone by the time a thread was free).
pub fn hash_job(outcome: &'static str) {
    metrics::counter!("oauthd_password_hash_jobs_total", "outcome" => outcome).increment(1);
}
