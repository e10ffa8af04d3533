//! `token inspect`.

use clap::Subcommand;
use serde_json::Value;

use super::output;
use crate::admin;
use crate::clock::now;
use crate::config::Settings;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Verify a token against this server's keys and explain it.
    Inspect {
        /// The access token (a JWT) or refresh token to explain.
        token: String,
        /// Print the result as one line of JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Exits with code 1 when the token is not valid.
pub async fn run(store: &dyn Store, s: &Settings, cmd: TokenCmd) -> anyhow::Result<()> {
    let TokenCmd::Inspect { token, json } = cmd;
    let v = admin::inspect::inspect_with_store(store, &s.issuer, &token, now()).await?;
    output(json, &v, explain)?;
    if !v["valid"].as_bool().unwrap_or(false) {
        std::process::exit(1);
    }
    Ok(())
}

fn explain(v: &Value) -> anyhow::Result<()> {
    println!("{}: {}", v["verdict"].as_str().unwrap_or(""), v["summary"].as_str().unwrap_or(""));
    for line in v["explanation"].as_array().into_iter().flatten() {
        println!("  - {}", line.as_str().unwrap_or(""));
    }
    println!("claims: {}", serde_json::to_string_pretty(&v["claims"])?);
    Ok(())
}
