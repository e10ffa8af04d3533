//! `user create|update|list|show|set-password|disable|enable|delete|revoke-sessions|link|import`.

use std::io::Read;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::claims::ClaimArgs;
use super::{output, pretty};
use crate::admin::users;
use crate::clock::now;
use crate::config::Settings;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a local user, reading the password from stdin.
    Create(Box<CreateUser>),
    /// Set a user's email and standard claims (OIDC Core §5.1); `null` in --claims removes one.
    Update(Box<UpdateUser>),
    /// End all of a user's sessions (back-channel logout to their clients) and revoke their refresh tokens.
    RevokeSessions {
        /// The user's ID or username.
        user: String,
    },
    /// List users.
    List,
    /// Show a user.
    Show {
        /// The user's ID or username.
        user: String,
    },
    /// Set a user's password from stdin and revoke their refresh tokens.
    SetPassword {
        /// The user's ID or username.
        user: String,
        /// Read the password from stdin (required; one trailing newline is dropped).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user and revoke their refresh tokens.
    Disable {
        /// The user's ID or username.
        user: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The user's ID or username.
        user: String,
    },
    /// Revoke a user's refresh tokens, then delete them.
    Delete {
        /// The user's ID or username.
        user: String,
    },
    /// Link a local user to a subject at a trusted issuer (for --map link).
    Link {
        /// The user's ID or username.
        user: String,
        /// The trusted issuer.
        #[arg(long)]
        issuer: String,
        /// The user's `sub` at that issuer.
        #[arg(long)]
        subject: String,
    },
    /// Import users from an export file.
    Import {
        /// The export's format.
        #[arg(long, value_parser = ["auth0"])]
        format: String,
        /// The export file (NDJSON or a JSON array).
        file: std::path::PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct CreateUser {
    /// The login name (1 to 256 characters).
    #[arg(long)]
    username: String,
    /// The user's email address.
    #[arg(long)]
    email: Option<String>,
    /// Read the password from stdin (required; one trailing newline is dropped).
    #[arg(long, required = true)]
    password_stdin: bool,
    /// Print the new user as one line of JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    claims: ClaimArgs,
}

#[derive(Args, Debug)]
pub struct UpdateUser {
    /// The user's ID or username.
    user: String,
    /// The user's email address (a new one is unverified unless --email-verified true).
    #[arg(long)]
    email: Option<String>,
    #[command(flatten)]
    claims: ClaimArgs,
}

pub async fn run(store: &dyn Store, s: &Settings, cmd: UserCmd) -> anyhow::Result<()> {
    let t = now();
    let pw = || crate::state::passwords_for(s);
    match cmd {
        UserCmd::Create(c) => {
            let CreateUser { username, email, json, claims, .. } = *c;
            let extra = claims.to_json()?;
            if let Some(v) = &extra {
                crate::oauth::claims::validate(v).map_err(|e| anyhow::anyhow!(e))?;
            }
            let password = read_password()?;
            let mut u =
                users::create(store, &pw()?, &s.user_connection, &username, email.as_deref(), &password, t).await?;
            if let Some(v) = extra {
                u = users::set_claims(store, &u.id, &v, t).await?;
            }
            super::audited(store, "user.create", &u.id, Some(users::to_json(&u))).await;
            output(json, &json!({ "user_id": u.id, "username": u.username }), pretty)?;
        }
        UserCmd::Update(c) => {
            let UpdateUser { user, email, claims } = *c;
            let mut v = claims.to_json()?.unwrap_or_else(|| json!({}));
            if let Some(e) = email {
                v["email"] = json!(e);
            }
            let v = users::to_json(&users::set_claims(store, &user, &v, t).await?);
            super::audited(store, "user.update", v["user_id"].as_str().unwrap_or(&user), Some(v.clone())).await;
            pretty(&v)?;
        }
        UserCmd::RevokeSessions { user } => {
            let (u, queued) = users::revoke_sessions(store, &user, t).await?;
            super::audited(store, "user.end_sessions", &u.id, None).await;
            eprintln!(
                "sessions of {} ended ({queued} back-channel logout tokens queued); refresh tokens revoked",
                u.id
            );
        }
        UserCmd::List => {
            pretty(&Value::from(store.list_users().await?.iter().map(users::to_json).collect::<Vec<_>>()))?
        }
        UserCmd::Show { user } => pretty(&users::to_json(&users::find(store, &user).await?))?,
        UserCmd::SetPassword { user, .. } => {
            let u = users::set_password(store, &pw()?, &user, &read_password()?, t).await?;
            super::audited(store, "user.set_password", &u.id, None).await;
            eprintln!("password changed for {}; refresh tokens revoked", u.id);
        }
        UserCmd::Disable { user } => {
            let id = users::set_disabled(store, &user, true, t).await?.id;
            super::audited(store, "user.disable", &id, Some(json!({ "disabled": true }))).await;
            eprintln!("user {id} disabled")
        }
        UserCmd::Enable { user } => {
            let id = users::set_disabled(store, &user, false, t).await?.id;
            super::audited(store, "user.enable", &id, Some(json!({ "disabled": false }))).await;
            eprintln!("user {id} enabled")
        }
        UserCmd::Delete { user } => {
            let id = users::delete(store, &user, t).await?.id;
            super::audited(store, "user.delete", &id, None).await;
            eprintln!("user {id} deleted")
        }
        UserCmd::Link { user, issuer, subject } => {
            let u = users::find(store, &user).await?;
            store.get_issuer(&issuer).await?.ok_or_else(|| anyhow::anyhow!("issuer {issuer} is not trusted"))?;
            store.link_user(&issuer, &subject, &u.id, t).await?;
            let link = json!({ "user_id": u.id, "issuer": issuer, "subject": subject });
            super::audited(store, "user.link", &u.id, Some(link)).await;
            eprintln!("{} linked to {subject} at {issuer}", u.id);
        }
        UserCmd::Import { file, .. } => {
            let text = std::fs::read_to_string(&file)?;
            let report = users::import_auth0(store, &text, t).await;
            let summary = json!({ "imported": report.imported, "skipped": report.skipped, "failed": report.failed });
            super::audited(store, "user.import", "auth0", Some(summary)).await;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}

/// All of stdin, less one trailing newline (`\n` or `\r\n`).
fn read_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s.strip_suffix('\n').map(|x| x.strip_suffix('\r').unwrap_or(x)).unwrap_or(&s).to_string())
}
