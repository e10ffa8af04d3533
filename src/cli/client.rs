//! `client create|update|list|show|disable|enable|delete|rotate-secret`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{output, pretty};
use crate::admin::{self, clients::NewClient};
use crate::clock::now;
use crate::config::Settings;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    /// Register a client; a confidential one gets a secret, shown once.
    Create(Box<Create>),
    /// Change a client: only the given flags change (a list flag replaces the whole list).
    Update(Box<Update>),
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
}

#[derive(Args, Debug)]
pub struct Create {
    #[command(flatten)]
    client: NewClient,
    /// A file holding the client's public keys (JWKS), for private_key_jwt.
    #[arg(long)]
    jwks_file: Option<std::path::PathBuf>,
    /// An admin API client (client_credentials on urn:oauthd:admin): give its --scope, e.g. "clients:read users:write".
    #[arg(long)]
    admin: bool,
    /// Print the client (and its secret) as one line of JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct Update {
    /// The client_id.
    id: String,
    /// The new display name.
    #[arg(long)]
    name: Option<String>,
    /// The grant types (repeatable; replaces them all).
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// The redirect URIs (repeatable; replaces them all).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// The allowed browser origins (repeatable; replaces them all).
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// The post-logout redirect URIs (repeatable; replaces them all).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Whether users skip the consent page.
    #[arg(long)]
    first_party: Option<bool>,
    /// Whether this confidential client must use PKCE.
    #[arg(long)]
    require_pkce: Option<bool>,
    /// The back-channel logout URL ("" removes it).
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// Print the client as one line of JSON.
    #[arg(long)]
    json: bool,
}

impl Update {
    /// The flags as a JSON Merge Patch (RFC 7396), the admin API's `PATCH` body.
    fn to_patch(&self) -> Value {
        let mut p = serde_json::Map::new();
        let mut list = |k: &str, v: &[String]| {
            if !v.is_empty() {
                p.insert(k.into(), json!(v));
            }
        };
        list("grant_types", &self.grants);
        list("redirect_uris", &self.redirect_uris);
        list("allowed_origins", &self.allowed_origins);
        list("post_logout_redirect_uris", &self.post_logout_redirect_uris);
        if let Some(n) = &self.name {
            p.insert("name".into(), json!(n));
        }
        if let Some(b) = self.first_party {
            p.insert("first_party".into(), json!(b));
        }
        if let Some(b) = self.require_pkce {
            p.insert("require_pkce".into(), json!(b));
        }
        if let Some(u) = &self.backchannel_logout_uri {
            p.insert("backchannel_logout_uri".into(), if u.is_empty() { Value::Null } else { json!(u) });
        }
        Value::Object(p)
    }
}

pub async fn run(store: &dyn Store, s: &Settings, cmd: ClientCmd) -> anyhow::Result<()> {
    let t = now();
    match cmd {
        ClientCmd::Create(c) => create(store, s, *c).await?,
        ClientCmd::Update(u) => {
            let patch = u.to_patch();
            let allow = s.allow_http_loopback_backchannel;
            let (_, c) = admin::client_update::update(store, &u.id, &patch, None, allow, t).await?;
            let v = admin::clients::to_json(store, &c, None).await?;
            super::audited(store, "client.update", &u.id, Some(v.clone())).await;
            output(u.json, &v, pretty)?;
        }
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
            super::audited(store, "client.disable", &id, Some(json!({ "disabled": true }))).await;
            eprintln!("client {id} disabled ({})", super::EFFECTIVE);
        }
        ClientCmd::Enable { id } => {
            store.set_client_disabled(&id, false, t).await?;
            super::audited(store, "client.enable", &id, Some(json!({ "disabled": false }))).await;
            eprintln!("client {id} enabled");
        }
        ClientCmd::Delete { id } => {
            admin::clients::delete(store, &id, t).await?;
            super::audited(store, "client.delete", &id, None).await;
            eprintln!("client {id} deleted");
        }
        ClientCmd::RotateSecret { id, json } => {
            let secret = admin::clients::rotate_secret(store, &id, t).await?;
            super::audited(store, "client.rotate_secret", &id, None).await;
            output(json, &json!({ "client_id": id, "client_secret": secret }), pretty)?;
        }
    }
    Ok(())
}

async fn create(store: &dyn Store, s: &Settings, c: Create) -> anyhow::Result<()> {
    let mut req = NewClient {
        jwks_json: c.jwks_file.map(std::fs::read_to_string).transpose()?,
        allow_http_loopback_jwks: s.allow_http_loopback_jwks,
        allow_http_loopback_backchannel: s.allow_http_loopback_backchannel,
        ..c.client
    };
    if c.admin {
        admin_client(store, &mut req).await?;
    }
    let (client, secret) = admin::clients::create(store, req, s.default_audience(), now()).await?;
    let v = admin::clients::to_json(store, &client, secret.as_deref()).await?;
    super::audited(store, "client.create", &client.id, Some(v.clone())).await;
    output(c.json, &v, |v| {
        pretty(v)?;
        if secret.is_some() {
            eprintln!("Store the client_secret now: it is not shown again.");
        }
        Ok(())
    })
}

/// `--admin`: a client_credentials client of the built-in admin API, with the scopes asked for.
async fn admin_client(store: &dyn Store, req: &mut NewClient) -> anyhow::Result<()> {
    use crate::admin::auth::{ensure_admin_api, ADMIN_API, ADMIN_SCOPES};
    if req.scope.as_deref().unwrap_or("").trim().is_empty() {
        anyhow::bail!("--admin needs --scope, some of: {}", ADMIN_SCOPES.join(" "));
    }
    if req.api.as_deref().is_some_and(|a| a != ADMIN_API) || req.public {
        anyhow::bail!("--admin makes a confidential client of {ADMIN_API}; drop --api and --public");
    }
    ensure_admin_api(store, now()).await?;
    req.api = Some(ADMIN_API.into());
    if req.grants.is_empty() {
        req.grants.push("client_credentials".into());
    }
    Ok(())
}
