//! `client create|list|show|disable|enable|delete|rotate-secret|exchange`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{output, pretty};
use crate::admin::{self, clients::NewClient, exchange::NewPolicy};
use crate::clock::now;
use crate::config::Settings;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    /// Register a client; a confidential one gets a secret, shown once.
    Create(Box<Create>),
    /// List clients and their API grants.
    List {
        /// Print the list as one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a client and its API grants (never its secret).
    Show {
        /// The client_id.
        id: String,
    },
    /// Disable a client and revoke its refresh tokens.
    Disable {
        /// The client_id.
        id: String,
    },
    /// Enable a disabled client.
    Enable {
        /// The client_id.
        id: String,
    },
    /// Revoke a client's refresh tokens, then delete it.
    Delete {
        /// The client_id.
        id: String,
    },
    /// Give a confidential client a new secret, shown once.
    RotateSecret {
        /// The client_id.
        id: String,
        /// Print the new secret as one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// Which tokens a client may exchange (RFC 8693 token exchange; default deny).
    #[command(subcommand)]
    Exchange(ExchangeCmd),
}

#[derive(Subcommand, Debug)]
pub enum ExchangeCmd {
    /// Let a client exchange subject tokens from a source for tokens to an API.
    Allow {
        #[command(flatten)]
        policy: NewPolicy,
        /// Print the policy as one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove one policy of a client.
    Deny {
        /// The client_id.
        client_id: String,
        /// `local` or the trusted issuer of the policy.
        #[arg(long = "from")]
        source: String,
        /// The API of the policy.
        #[arg(long)]
        audience: String,
    },
    /// List a client's policies.
    List {
        /// The client_id.
        client_id: String,
        /// Print the list as one line of JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct Create {
    #[command(flatten)]
    client: NewClient,
    /// A file holding the client's public keys (JWKS), for private_key_jwt.
    #[arg(long)]
    jwks_file: Option<std::path::PathBuf>,
    /// Print the client (and its secret) as one line of JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(store: &dyn Store, s: &Settings, cmd: ClientCmd) -> anyhow::Result<()> {
    let t = now();
    match cmd {
        ClientCmd::Create(c) => create(store, s, *c).await?,
        ClientCmd::List { json } => {
            let mut all = Vec::new();
            for c in store.list_clients().await? {
                all.push(admin::clients::to_json(store, &c, None).await?);
            }
            output(json, &Value::from(all), pretty)?;
        }
        ClientCmd::Show { id } => {
            let c = store.get_client(&id).await?.ok_or_else(|| anyhow::anyhow!("no client with id {id}"))?;
            pretty(&admin::clients::to_json(store, &c, None).await?)?;
        }
        ClientCmd::Disable { id } | ClientCmd::Enable { id } if store.get_client(&id).await?.is_none() => {
            anyhow::bail!("no client with id {id}")
        }
        ClientCmd::Disable { id } => {
            store.set_client_disabled(&id, true, t).await?;
            store.revoke_client_refresh_tokens(&id, t).await?;
            eprintln!("client {id} disabled ({})", super::EFFECTIVE);
        }
        ClientCmd::Enable { id } => {
            store.set_client_disabled(&id, false, t).await?;
            eprintln!("client {id} enabled");
        }
        ClientCmd::Delete { id } => {
            admin::clients::delete(store, &id, t).await?;
            eprintln!("client {id} deleted");
        }
        ClientCmd::RotateSecret { id, json } => {
            let secret = admin::clients::rotate_secret(store, &id, t).await?;
            output(json, &json!({ "client_id": id, "client_secret": secret }), pretty)?;
        }
        ClientCmd::Exchange(cmd) => exchange(store, cmd).await?,
    }
    Ok(())
}

async fn exchange(store: &dyn Store, cmd: ExchangeCmd) -> anyhow::Result<()> {
    match cmd {
        ExchangeCmd::Allow { policy, json } => {
            let (p, warnings) = admin::exchange::allow(store, policy, now()).await?;
            output(json, &admin::exchange::to_json(&p), pretty)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
        }
        ExchangeCmd::Deny { client_id, source, audience } => {
            admin::exchange::deny(store, &client_id, &source, &audience).await?;
            eprintln!("client {client_id} may no longer exchange tokens from {source} for {audience}");
        }
        ExchangeCmd::List { client_id, json } => {
            store.get_client(&client_id).await?.ok_or_else(|| anyhow::anyhow!("no client with id {client_id}"))?;
            let all: Vec<Value> =
                store.exchange_policies(&client_id).await?.iter().map(admin::exchange::to_json).collect();
            output(json, &Value::from(all), pretty)?;
        }
    }
    Ok(())
}

async fn create(store: &dyn Store, s: &Settings, c: Create) -> anyhow::Result<()> {
    let req = NewClient {
        jwks_json: c.jwks_file.map(std::fs::read_to_string).transpose()?,
        allow_http_loopback_jwks: s.allow_http_loopback_jwks,
        allow_http_loopback_backchannel: s.allow_http_loopback_backchannel,
        ..c.client
    };
    let (client, secret) = admin::clients::create(store, req, s.default_audience(), now()).await?;
    let v = admin::clients::to_json(store, &client, secret.as_deref()).await?;
    output(c.json, &v, |v| {
        pretty(v)?;
        if secret.is_some() {
            eprintln!("Store the client_secret now: it is not shown again.");
        }
        Ok(())
    })
}
