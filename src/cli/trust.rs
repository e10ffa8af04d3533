//! `trust add|list|show|disable|enable|remove|check`: issuers trusted for the jwt-bearer grant.

use clap::Subcommand;
use serde_json::{json, Value};

use super::{open, output, pretty};
use crate::admin::{self, trust::NewIssuer};
use crate::clock::now;
use crate::config::Settings;
use crate::state::AppState;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum TrustCmd {
    /// Trust an issuer's assertions, with its keys and policy.
    Add {
        #[command(flatten)]
        issuer: Box<NewIssuer>,
        /// Print the trusted issuer as one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// List trusted issuers.
    List,
    /// Show a trusted issuer.
    Show {
        /// The issuer URL.
        issuer: String,
    },
    /// Stop accepting an issuer's assertions.
    Disable {
        /// The issuer URL.
        issuer: String,
    },
    /// Accept a disabled issuer's assertions again.
    Enable {
        /// The issuer URL.
        issuer: String,
    },
    /// Stop trusting an issuer.
    Remove {
        /// The issuer URL.
        issuer: String,
    },
    /// Run every check on an assertion without consuming its jti.
    Check {
        /// The assertion (a JWT) to check.
        #[arg(long)]
        assertion: String,
        /// Print the checks as one line of JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(s: &Settings, cmd: TrustCmd) -> anyhow::Result<()> {
    match cmd {
        TrustCmd::Check { assertion, json } => check(s, &assertion, json).await,
        TrustCmd::Add { issuer, json } => add(&*open(s).await?, s, *issuer, json).await,
        cmd => manage(&*open(s).await?, cmd).await,
    }
}

/// Exits with code 1 when any check fails.
async fn check(s: &Settings, assertion: &str, json: bool) -> anyhow::Result<()> {
    let app = AppState::init(s.clone()).await?;
    let steps = admin::trust::check(&app, assertion, now()).await;
    let ok = steps.iter().all(|v| v["pass"] == true);
    output(json, &json!({ "pass": ok, "checks": steps }), |_| {
        for v in &steps {
            let mark = if v["pass"] == true { "pass" } else { "FAIL" };
            println!("{mark:4}  {:10} {}", v["check"].as_str().unwrap_or(""), v["detail"].as_str().unwrap_or(""));
        }
        Ok(())
    })?;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

async fn add(store: &dyn Store, s: &Settings, req: NewIssuer, json: bool) -> anyhow::Result<()> {
    let http = crate::jwt::remote_jwks::JwksCache::new(s.allow_http_loopback_jwks, std::time::Duration::from_secs(60))?;
    let i = admin::trust::add(store, &http, s.allow_http_loopback_jwks, req, now()).await?;
    super::audited(store, "trust.add", &i.issuer, Some(admin::trust::to_json(&i))).await;
    output(json, &admin::trust::to_json(&i), pretty)
}

/// The commands that only read or change stored issuers.
async fn manage(store: &dyn Store, cmd: TrustCmd) -> anyhow::Result<()> {
    let not_trusted = |issuer: &str| anyhow::anyhow!("issuer {issuer} is not trusted");
    match cmd {
        TrustCmd::List => {
            pretty(&Value::from(store.list_issuers().await?.iter().map(admin::trust::to_json).collect::<Vec<_>>()))?
        }
        TrustCmd::Show { issuer } => {
            pretty(&admin::trust::to_json(&store.get_issuer(&issuer).await?.ok_or_else(|| not_trusted(&issuer))?))?
        }
        TrustCmd::Disable { issuer } | TrustCmd::Enable { issuer } if store.get_issuer(&issuer).await?.is_none() => {
            return Err(not_trusted(&issuer))
        }
        TrustCmd::Disable { issuer } => {
            store.set_issuer_enabled(&issuer, false).await?;
            super::audited(store, "trust.disable", &issuer, Some(json!({ "enabled": false }))).await;
            eprintln!("issuer {issuer} disabled ({})", super::EFFECTIVE);
        }
        TrustCmd::Enable { issuer } => {
            store.set_issuer_enabled(&issuer, true).await?;
            super::audited(store, "trust.enable", &issuer, Some(json!({ "enabled": true }))).await;
            eprintln!("issuer {issuer} enabled");
        }
        TrustCmd::Remove { issuer } => {
            if !store.delete_issuer(&issuer).await? {
                return Err(not_trusted(&issuer));
            }
            super::audited(store, "trust.remove", &issuer, None).await;
            eprintln!("issuer {issuer} removed");
        }
        TrustCmd::Check { .. } | TrustCmd::Add { .. } => unreachable!("run handles check and add"),
    }
    Ok(())
}
