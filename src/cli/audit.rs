//! `audit list`: the audit log, newest first.

use clap::Subcommand;
use serde_json::Value;

use super::output;
use crate::admin::audit;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// List audit events, newest first.
    List {
        /// Only events about this target (a client_id, user id, issuer, kid, API).
        #[arg(long)]
        target: Option<String>,
        /// How many events (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Events older than this event id (the last id of the previous page).
        #[arg(long)]
        before: Option<String>,
        /// Print the events as one line of JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(store: &dyn Store, cmd: AuditCmd) -> anyhow::Result<()> {
    let AuditCmd::List { target, limit, before, json } = cmd;
    if !(1..=1000).contains(&limit) {
        anyhow::bail!("--limit must be 1 to 1000");
    }
    let events = store.list_audit(before.as_deref().unwrap_or(""), target.as_deref().unwrap_or(""), limit).await?;
    let all = Value::from(events.iter().map(audit::to_json).collect::<Vec<_>>());
    output(json, &all, |_| {
        for e in &events {
            println!("{}\t{}\t{}\t{}\t{}", e.id, e.at, e.actor, e.action, e.target);
        }
        Ok(())
    })
}
