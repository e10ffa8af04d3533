//! The `oauthd` binary: parse the command line, set up logging, run the command.

use clap::Parser;
use oauthd::cli::{self, Cli, Command};
use oauthd::config::{LogFormat, Settings};
use tracing_subscriber::EnvFilter;

// mimalloc, not glibc's malloc: the token endpoint's many small, short-lived allocations across
// tokio's worker threads cost about a sixth of its CPU time with glibc (perf, bench/ratios.sh).
// Argon2's large buffers no longer go through the allocator per hash (password.rs reuses them).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oauthd: {}", describe(&e));
            return std::process::ExitCode::from(2);
        }
    };
    // sqlx logs PostgreSQL's notices (such as "relation _sqlx_migrations already exists,
    // skipping" at every start) at info: they are not ours to report.
    let default_level = if matches!(cli.command, Command::Serve) { "info,sqlx=warn" } else { "warn" };
    if !matches!(cli.command, Command::Serve) {
        restore_sigpipe();
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    match cli::run(cli, settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oauthd: {}", describe(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so `oauthd api list | head -1` would panic on the closed pipe. The CLI
/// commands end quietly instead, like other Unix tools; `serve` keeps ignoring it (its sockets).
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: only resets one signal's disposition to the default; no handler or pointer involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The error and its causes on one line, each said once: sqlx repeats its database error as the
/// error's own source, which `{:#}` would print twice.
fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain().map(|c| c.to_string()) {
        if !parts.last().is_some_and(|p| p.contains(&cause)) {
            parts.push(cause);
        }
    }
    parts.join(": ")
}
