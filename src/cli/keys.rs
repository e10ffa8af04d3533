//! `keys list|rotate`.

use clap::Subcommand;

use crate::clock::now;
use crate::config::Settings;
use crate::jwt::keys::{self, Alg};
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// List signing keys: kid, alg, creation time and state.
    List,
    /// Add a new active key and retire the older keys of its algorithm.
    Rotate {
        /// The new key's algorithm (default: signing_alg).
        #[arg(long)]
        alg: Option<Alg>,
    },
}

pub async fn run(store: &dyn Store, s: &Settings, cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::List => list(store, s).await,
        KeysCmd::Rotate { alg } => rotate(store, s, alg.unwrap_or(s.signing_alg)).await,
    }
}

async fn list(store: &dyn Store, s: &Settings) -> anyhow::Result<()> {
    for k in store.list_keys().await? {
        let state = match k.retired_at {
            None => "active".to_string(),
            Some(r) if r + s.key_publish_window() > now() => format!("retired {r}, still published"),
            Some(r) => format!("retired {r}"),
        };
        println!("{}\t{}\tcreated {}\t{}", k.kid, k.alg, k.created_at, state);
    }
    Ok(())
}

/// Prints the new key, then says on stderr what will sign with it, and when.
async fn rotate(store: &dyn Store, s: &Settings, alg: Alg) -> anyhow::Result<()> {
    let kek = crate::state::kek_for(s)?;
    let rec = keys::rotate(store, alg, now(), kek.as_ref()).await?;
    let v = serde_json::json!({ "kid": rec.kid, "alg": rec.alg, "created_at": rec.created_at });
    super::audited(store, "key.rotate", &rec.kid, Some(v)).await;
    println!("{}\t{}\tactive", rec.kid, rec.alg);
    let every = s.key_refresh_interval;
    match alg {
        a if a == s.signing_alg => eprintln!("Published now; servers sign access tokens with it within {every} s."),
        Alg::RS256 => eprintln!("Published now; servers sign ID tokens with it within {every} s."),
        a => eprintln!(
            "Published now. Servers sign access tokens with the newest {} key; this {} key is used only where signing_alg = {}.",
            s.signing_alg.as_str(), a.as_str(), a.as_str()
        ),
    }
    if kek.is_none() {
        eprintln!("warning: no key_encryption_key is set here, so the private key is stored unencrypted; a server that has the KEK encrypts it within {every} s.");
    }
    Ok(())
}
