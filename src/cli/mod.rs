//! The command line: the parser, dispatch to one module per command group, and shared helpers.

mod api;
mod audit;
mod claims;
mod client;
mod keys;
mod serve;
mod token;
mod trust;
mod user;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::config::{Overrides, Settings};
use crate::store::Store;

pub use api::ApiCmd;
pub use audit::AuditCmd;
pub use client::ClientCmd;
pub use keys::KeysCmd;
pub use token::TokenCmd;
pub use trust::TrustCmd;
pub use user::UserCmd;

// The help of these global flags is set here because `Overrides` (config.rs) has none.
#[derive(Parser, Debug)]
#[command(name = "oauthd", version, about = "OAuth 2.0 authorization server issuing JWT access tokens")]
pub struct Cli {
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (migrates first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Manage APIs (resource servers / audiences).
    #[command(subcommand)]
    Api(ApiCmd),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Explain tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Manage issuers trusted for the jwt-bearer grant.
    #[command(subcommand)]
    Trust(TrustCmd),
    /// Read the audit log of changes made through the admin API and the CLI.
    #[command(subcommand)]
    Audit(AuditCmd),
}

pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve::serve(settings).await,
        Command::Migrate => serve::migrate(&settings).await,
        Command::Client(c) => client::run(&*open(&settings).await?, &settings, c).await,
        Command::Api(c) => api::run(&*open(&settings).await?, c).await,
        Command::Keys(c) => keys::run(&*open(&settings).await?, &settings, c).await,
        Command::User(c) => user::run(&*open(&settings).await?, &settings, c).await,
        Command::Token(c) => token::run(&*open(&settings).await?, &settings, c).await,
        Command::Trust(c) => trust::run(&settings, c).await,
        Command::Audit(c) => audit::run(&*open(&settings).await?, c).await,
    }
}

/// Records a change made here in the audit log, with the actor `local-cli`.
async fn audited(store: &dyn Store, action: &str, target: &str, after: Option<Value>) {
    let actor = crate::admin::auth::Actor::local_cli();
    let change = crate::admin::audit::Change {
        actor: &actor,
        action,
        target: target.to_string(),
        request_id: None,
        before: None,
        after,
    };
    crate::admin::audit::record(store, change, crate::clock::now()).await;
}

/// Opens the database (applying migrations).
async fn open(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    crate::store::open(&settings.database_url, std::time::Duration::from_millis(settings.db_timeout_ms)).await
}

/// Prints a command's result on stdout: with `--json` as one line of JSON, else as `human` writes it.
fn output(json: bool, v: &Value, human: impl FnOnce(&Value) -> anyhow::Result<()>) -> anyhow::Result<()> {
    if json {
        println!("{v}");
        Ok(())
    } else {
        human(v)
    }
}

/// The human form of most results: indented JSON.
fn pretty(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// When running servers see a change made here: within about a second on both backends
/// (LISTEN/NOTIFY on PostgreSQL, the `cache_changes` table on SQLite).
const EFFECTIVE: &str = "running servers see it within about a second";

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_and_argument_has_help() {
        fn missing(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name()).trim().to_string();
            if cmd.get_about().is_none() {
                out.push(format!("`{path}` has no about"));
            }
            for arg in cmd.get_arguments().filter(|a| !matches!(a.get_id().as_str(), "help" | "version")) {
                if arg.get_help().is_none() {
                    out.push(format!("`{path}` argument `{}` has no help", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                missing(sub, &path, out);
            }
        }
        let mut out = Vec::new();
        missing(&Cli::command(), "", &mut out);
        assert!(out.is_empty(), "{}", out.join("\n"));
    }
}
