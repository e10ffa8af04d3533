//! `api create|grant|list`.

use clap::Subcommand;
use serde_json::Value;

use super::{output, pretty};
use crate::admin;
use crate::clock::now;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum ApiCmd {
    /// Define an API (a resource server) and its scopes.
    Create {
        /// The API's URI, the `aud` of its tokens.
        #[arg(long)]
        identifier: String,
        /// The API's scopes, space separated.
        #[arg(long, default_value = "")]
        scope: String,
        /// A display name (default: the identifier).
        #[arg(long)]
        name: Option<String>,
        /// Print the API as one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// Allow a client some scopes of an API.
    Grant {
        /// The client_id.
        #[arg(long)]
        client: String,
        /// The API's identifier.
        #[arg(long)]
        api: String,
        /// The scopes to allow, space separated (replaces an earlier grant on this API).
        #[arg(long, default_value = "")]
        scope: String,
    },
    /// List APIs and their scopes.
    List,
}

pub async fn run(store: &dyn Store, cmd: ApiCmd) -> anyhow::Result<()> {
    match cmd {
        ApiCmd::Create { identifier, scope, name, json } => {
            let a = admin::create_api(store, &identifier, name.as_deref(), &scope, now()).await?;
            super::audited(store, "api.create", &a.identifier, Some(admin::api_json(&a))).await;
            output(json, &admin::api_json(&a), pretty)
        }
        ApiCmd::Grant { client, api, scope } => {
            let v = admin::grant(store, &client, &api, &scope).await?;
            super::audited(store, "client.grant", &client, Some(v.clone())).await;
            pretty(&v)
        }
        ApiCmd::List => pretty(&Value::from(store.list_apis().await?.iter().map(admin::api_json).collect::<Vec<_>>())),
    }
}
