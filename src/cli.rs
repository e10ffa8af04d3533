//! The command line: `serve`, `migrate`, and the admin commands for clients, APIs, keys, users.

use std::io::Read;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use crate::admin::{self, clients::NewClient, users};
use crate::clock::now;
use crate::config::{Overrides, Settings};
use crate::jwt::keys::{self, Alg};
use crate::state::AppState;
use crate::store::Store;

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
}

#[derive(Subcommand, Debug)]
pub enum TrustCmd {
    Add {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        jwks_uri: Option<String>,
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
        /// Find the jwks_uri in the issuer's /.well-known/openid-configuration.
        #[arg(long)]
        discover: bool,
        #[arg(long)]
        alias: Option<String>,
        /// `any`, a list (space or comma separated), or globs with `*`.
        #[arg(long)]
        subjects: Option<String>,
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        audience: Option<String>,
        #[arg(long, value_parser = ["link", "passthrough", "provision"])]
        map: Option<String>,
        #[arg(long)]
        max_age: Option<i64>,
        #[arg(long)]
        require_jti: Option<bool>,
        #[arg(long, value_parser = ["required", "optional"])]
        client_auth: Option<String>,
        #[arg(long)]
        json: bool,
    },
    List,
    Show {
        issuer: String,
    },
    Disable {
        issuer: String,
    },
    Enable {
        issuer: String,
    },
    Remove {
        issuer: String,
    },
    /// Run every check on an assertion without consuming its jti.
    Check {
        #[arg(long)]
        assertion: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Verify a token against this server's keys and explain it.
    Inspect {
        token: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Scopes to grant on --api (or on the default audience).
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        api: Option<String>,
        /// A public client (SPA, native app): no secret, token_endpoint_auth_method=none.
        #[arg(long)]
        public: bool,
        #[arg(long)]
        id: Option<String>,
        /// A registered redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A browser origin allowed to call /token and /userinfo (CORS; repeatable).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        /// Where /logout may send the browser afterwards (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A first-party client: users are not asked for consent.
        #[arg(long)]
        first_party: bool,
        /// `private_key_jwt` to authenticate with signed JWTs instead of a secret.
        #[arg(long, default_value = "")]
        auth_method: String,
        /// The client's public keys, for private_key_jwt.
        #[arg(long)]
        jwks_uri: Option<String>,
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
    },
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    Delete {
        id: String,
    },
    RotateSecret {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiCmd {
    Create {
        #[arg(long)]
        identifier: String,
        #[arg(long, default_value = "")]
        scope: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Allow a client some scopes of an API.
    Grant {
        #[arg(long)]
        client: String,
        #[arg(long)]
        api: String,
        #[arg(long, default_value = "")]
        scope: String,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    List,
    Rotate {
        #[arg(long)]
        alg: Option<Alg>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    List,
    Show {
        user: String,
    },
    SetPassword {
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    Disable {
        user: String,
    },
    Enable {
        user: String,
    },
    Delete {
        user: String,
    },
    /// Link a local user to a subject at a trusted issuer (for --map link).
    Link {
        user: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        subject: String,
    },
    /// Import users from an export file.
    Import {
        #[arg(long, value_parser = ["auth0"])]
        format: String,
        file: std::path::PathBuf,
    },
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn read_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s.strip_suffix('\n').map(|x| x.strip_suffix('\r').unwrap_or(x)).unwrap_or(&s).to_string())
}

async fn open(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    crate::store::open(&settings.database_url, std::time::Duration::from_millis(settings.db_timeout_ms)).await
}

pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            open(&settings).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Client(c) => client(&*open(&settings).await?, &settings, c).await,
        Command::Api(c) => api(&*open(&settings).await?, c).await,
        Command::Keys(c) => keys_cmd(&*open(&settings).await?, &settings, c).await,
        Command::User(c) => user(&*open(&settings).await?, &settings, c).await,
        Command::Trust(c) => trust(&settings, c).await,
        Command::Token(TokenCmd::Inspect { token, json }) => {
            let store = open(&settings).await?;
            let v = admin::inspect::inspect_with_store(&*store, &settings.issuer, &token, now()).await?;
            if json {
                println!("{v}");
            } else {
                println!("{}: {}", v["verdict"].as_str().unwrap_or(""), v["summary"].as_str().unwrap_or(""));
                for line in v["explanation"].as_array().into_iter().flatten() {
                    println!("  - {}", line.as_str().unwrap_or(""));
                }
                println!("claims: {}", serde_json::to_string_pretty(&v["claims"])?);
            }
            if !v["valid"].as_bool().unwrap_or(false) {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", settings.bind))?;
    let app = AppState::init(settings).await?;
    crate::state::spawn_key_refresh(app.clone());
    crate::state::spawn_purge(app.clone());
    if !app.settings.metrics_bind.is_empty() {
        let ml = tokio::net::TcpListener::bind(&app.settings.metrics_bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind metrics_bind {}: {e}", app.settings.metrics_bind))?;
        let router = crate::http::metrics_routes(app.clone());
        let limits = crate::http::server::ConnLimits::from_settings(&app.settings);
        tokio::spawn(crate::http::server::serve(ml, router, limits, std::future::pending()));
        tracing::info!(bind = %app.settings.metrics_bind, "metrics listening");
    }
    tracing::info!(bind = %app.settings.bind, issuer = %app.settings.issuer, "oauthd listening");
    crate::http::serve(listener, app).await
}

async fn client(store: &dyn Store, s: &Settings, cmd: ClientCmd) -> anyhow::Result<()> {
    let t = now();
    match cmd {
        ClientCmd::Create {
            name,
            grants,
            scope,
            api,
            public,
            id,
            redirect_uris,
            allowed_origins,
            post_logout_redirect_uris,
            first_party,
            auth_method,
            jwks_uri,
            jwks_file,
            json,
        } => {
            let jwks_json = jwks_file.map(std::fs::read_to_string).transpose()?;
            let req = NewClient {
                name,
                id,
                grants,
                public,
                scope,
                api,
                redirect_uris,
                allowed_origins,
                post_logout_redirect_uris,
                first_party,
                auth_method,
                jwks_uri,
                jwks_json,
                allow_http_loopback_jwks: s.allow_http_loopback_jwks,
            };
            let (c, secret) = admin::clients::create(store, req, s.default_audience(), t).await?;
            let v = admin::clients::to_json(store, &c, secret.as_deref()).await?;
            if json {
                println!("{v}");
            } else {
                print(&v);
                if secret.is_some() {
                    eprintln!("Store the client_secret now: it is not shown again.");
                }
            }
        }
        ClientCmd::List { json } => {
            let mut all = Vec::new();
            for c in store.list_clients().await? {
                all.push(admin::clients::to_json(store, &c, None).await?);
            }
            if json {
                println!("{}", Value::from(all))
            } else {
                print(&Value::from(all))
            }
        }
        ClientCmd::Show { id } => {
            let c = store.get_client(&id).await?.ok_or_else(|| anyhow::anyhow!("no client with id {id}"))?;
            print(&admin::clients::to_json(store, &c, None).await?);
        }
        ClientCmd::Disable { id } | ClientCmd::Enable { id } if store.get_client(&id).await?.is_none() => {
            anyhow::bail!("no client with id {id}")
        }
        ClientCmd::Disable { id } => {
            store.set_client_disabled(&id, true, t).await?;
            store.revoke_client_refresh_tokens(&id, t).await?;
            eprintln!("client {id} disabled (effective within {} s)", s.client_cache_ttl);
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
            let v = json!({ "client_id": id, "client_secret": secret });
            if json {
                println!("{v}")
            } else {
                print(&v)
            }
        }
    }
    Ok(())
}

async fn api(store: &dyn Store, cmd: ApiCmd) -> anyhow::Result<()> {
    match cmd {
        ApiCmd::Create { identifier, scope, name, json } => {
            let a = admin::create_api(store, &identifier, name.as_deref(), &scope, now()).await?;
            let v = admin::api_json(&a);
            if json {
                println!("{v}")
            } else {
                print(&v)
            }
        }
        ApiCmd::Grant { client, api, scope } => print(&admin::grant(store, &client, &api, &scope).await?),
        ApiCmd::List => print(&Value::from(store.list_apis().await?.iter().map(admin::api_json).collect::<Vec<_>>())),
    }
    Ok(())
}

async fn keys_cmd(store: &dyn Store, s: &Settings, cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::List => {
            for k in store.list_keys().await? {
                let state = match k.retired_at {
                    None => "active".to_string(),
                    Some(r) if r + s.key_publish_window() > now() => {
                        format!("retired {r}, still published")
                    }
                    Some(r) => format!("retired {r}"),
                };
                println!("{}\t{}\tcreated {}\t{}", k.kid, k.alg, k.created_at, state);
            }
        }
        KeysCmd::Rotate { alg } => {
            let kek = crate::state::kek_for(s)?;
            let alg = alg.unwrap_or(s.signing_alg);
            let rec = keys::rotate(store, alg, now(), kek.as_ref()).await?;
            println!("{}\t{}\tactive", rec.kid, rec.alg);
            let every = s.key_refresh_interval;
            match alg {
                a if a == s.signing_alg => eprintln!("Published now; servers sign access tokens with it within {every} s."),
                keys::Alg::RS256 => eprintln!("Published now; servers sign ID tokens with it within {every} s."),
                a => eprintln!(
                    "Published now. Servers sign access tokens with the newest {} key; this {} key is used only where signing_alg = {}.",
                    s.signing_alg.as_str(), a.as_str(), a.as_str()
                ),
            }
            if kek.is_none() {
                eprintln!("warning: no key_encryption_key is set here, so the private key is stored unencrypted; a server that has the KEK encrypts it within {every} s.");
            }
        }
    }
    Ok(())
}

async fn user(store: &dyn Store, s: &Settings, cmd: UserCmd) -> anyhow::Result<()> {
    let t = now();
    let pw = || crate::state::passwords_for(s);
    match cmd {
        UserCmd::Create { username, email, json, .. } => {
            let password = read_password()?;
            let u = users::create(store, &pw()?, &s.user_connection, &username, email.as_deref(), &password, t).await?;
            let v = json!({ "user_id": u.id, "username": u.username });
            if json {
                println!("{v}")
            } else {
                print(&v)
            }
        }
        UserCmd::List => print(&Value::from(store.list_users().await?.iter().map(users::to_json).collect::<Vec<_>>())),
        UserCmd::Show { user } => print(&users::to_json(&users::find(store, &user).await?)),
        UserCmd::SetPassword { user, .. } => {
            let u = users::set_password(store, &pw()?, &user, &read_password()?, t).await?;
            eprintln!("password changed for {}; refresh tokens revoked", u.id);
        }
        UserCmd::Disable { user } => {
            eprintln!("user {} disabled", users::set_disabled(store, &user, true, t).await?.id)
        }
        UserCmd::Enable { user } => eprintln!("user {} enabled", users::set_disabled(store, &user, false, t).await?.id),
        UserCmd::Delete { user } => {
            eprintln!("user {} deleted", users::delete(store, &user, t).await?.id)
        }
        UserCmd::Link { user, issuer, subject } => {
            let u = users::find(store, &user).await?;
            store.get_issuer(&issuer).await?.ok_or_else(|| anyhow::anyhow!("issuer {issuer} is not trusted"))?;
            store.link_user(&issuer, &subject, &u.id, t).await?;
            eprintln!("{} linked to {subject} at {issuer}", u.id);
        }
        UserCmd::Import { file, .. } => {
            let text = std::fs::read_to_string(&file)?;
            let report = users::import_auth0(store, &text, t).await;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}

async fn trust(s: &Settings, cmd: TrustCmd) -> anyhow::Result<()> {
    if let TrustCmd::Check { assertion, json } = cmd {
        let app = AppState::init(s.clone()).await?;
        let steps = admin::trust::check(&app, &assertion, now()).await;
        let ok = steps.iter().all(|v| v["pass"] == true);
        if json {
            println!("{}", json!({ "pass": ok, "checks": steps }));
        } else {
            for v in &steps {
                let mark = if v["pass"] == true { "pass" } else { "FAIL" };
                println!("{mark:4}  {:10} {}", v["check"].as_str().unwrap_or(""), v["detail"].as_str().unwrap_or(""));
            }
        }
        if !ok {
            std::process::exit(1);
        }
        return Ok(());
    }
    let store = open(s).await?;
    let store = store.as_ref();
    match cmd {
        TrustCmd::Add {
            issuer,
            jwks_uri,
            jwks_file,
            discover,
            alias,
            subjects,
            scope,
            audience,
            map,
            max_age,
            require_jti,
            client_auth,
            json,
        } => {
            let http = crate::jwt::remote_jwks::JwksCache::new(
                s.allow_http_loopback_jwks,
                std::time::Duration::from_secs(60),
            )?;
            let req = admin::trust::NewIssuer {
                issuer,
                jwks_uri,
                jwks_file,
                discover,
                alias,
                subjects,
                scope,
                audience,
                map,
                max_age,
                require_jti,
                client_auth,
            };
            let i = admin::trust::add(store, &http, s.allow_http_loopback_jwks, req, now()).await?;
            let v = admin::trust::to_json(&i);
            if json {
                println!("{v}")
            } else {
                print(&v)
            }
        }
        TrustCmd::List => {
            print(&Value::from(store.list_issuers().await?.iter().map(admin::trust::to_json).collect::<Vec<_>>()))
        }
        TrustCmd::Show { issuer } => print(&admin::trust::to_json(
            &store.get_issuer(&issuer).await?.ok_or_else(|| anyhow::anyhow!("issuer {issuer} is not trusted"))?,
        )),
        TrustCmd::Disable { issuer } | TrustCmd::Enable { issuer } if store.get_issuer(&issuer).await?.is_none() => {
            anyhow::bail!("issuer {issuer} is not trusted")
        }
        TrustCmd::Disable { issuer } => {
            store.set_issuer_enabled(&issuer, false).await?;
            eprintln!("issuer {issuer} disabled (effective within {} s)", s.client_cache_ttl);
        }
        TrustCmd::Enable { issuer } => {
            store.set_issuer_enabled(&issuer, true).await?;
            eprintln!("issuer {issuer} enabled");
        }
        TrustCmd::Remove { issuer } => {
            if !store.delete_issuer(&issuer).await? {
                anyhow::bail!("issuer {issuer} is not trusted");
            }
            eprintln!("issuer {issuer} removed");
        }
        TrustCmd::Check { .. } => unreachable!("handled above"),
    }
    Ok(())
}
