//! `registration list|delete` and `registration token create|list|revoke` (RFC 7591).

use clap::Subcommand;
use serde_json::Value;

use super::{output, pretty};
use crate::admin::registration as reg;
use crate::clock::now;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum RegistrationCmd {
    /// List the clients registered through the registration endpoint.
    List {
        /// Print the list as one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a registered client's refresh tokens, then delete it.
    Delete {
        /// The client_id.
        id: String,
    },
    /// Manage initial access tokens (for registration = "token").
    #[command(subcommand)]
    Token(InitialTokenCmd),
}

#[derive(Subcommand, Debug)]
pub enum InitialTokenCmd {
    /// Mint an initial access token; it is shown once.
    Create {
        /// Seconds until the token expires (60 to 31536000).
        #[arg(long, default_value_t = 86400)]
        expires_in: u64,
        /// How many registrations the token allows.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// A note for `token list`, such as who the token is for.
        #[arg(long, default_value = "")]
        note: String,
        /// Print the token as one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// List initial access tokens (never the tokens themselves).
    List {
        /// Print the list as one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an initial access token.
    Revoke {
        /// The token's id, as `token list` shows it.
        id: String,
    },
}

pub async fn run(store: &dyn Store, cmd: RegistrationCmd) -> anyhow::Result<()> {
    match cmd {
        RegistrationCmd::List { json } => output(json, &Value::from(reg::list_registered(store).await?), pretty)?,
        RegistrationCmd::Delete { id } => {
            reg::delete_registered(store, &id, now()).await?;
            eprintln!("registered client {id} deleted ({})", super::EFFECTIVE);
        }
        RegistrationCmd::Token(InitialTokenCmd::Create { expires_in, uses, note, json }) => {
            let (t, plain) = reg::mint_initial_token(store, expires_in, uses, &note, now()).await?;
            output(json, &reg::token_json(&t, Some(plain.as_str())), |v| {
                pretty(v)?;
                eprintln!("Store the initial_access_token now: it is not shown again.");
                Ok(())
            })?;
        }
        RegistrationCmd::Token(InitialTokenCmd::List { json }) => {
            let all: Vec<Value> = store.list_initial_tokens().await?.iter().map(|t| reg::token_json(t, None)).collect();
            output(json, &Value::from(all), pretty)?;
        }
        RegistrationCmd::Token(InitialTokenCmd::Revoke { id }) => {
            reg::revoke_initial_token(store, &id).await?;
            eprintln!("initial access token {id} revoked");
        }
    }
    Ok(())
}
