//! Settings: built-in defaults, then a TOML file, then `OAUTHD_<KEY>` variables, then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The signing algorithm of the access and ID tokens.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
pub enum Alg {
    #[value(name = "RS256")]
    RS256,
    #[value(name = "ES256")]
    ES256,
    #[value(name = "EdDSA")]
    EdDSA,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }
    pub fn parse(s: &str) -> Option<Alg> {
        [Alg::RS256, Alg::ES256, Alg::EdDSA].into_iter().find(|a| a.as_str() == s)
    }
}

/// `dev` warns about unencrypted signing keys; `production` refuses to start without a KEK.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Dev,
    Production,
}

/// Which confidential clients must send PKCE (RFC 9700 §2.1.1); public clients always must.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PkceRequired {
    /// Public clients, and confidential clients registered with `--require-pkce`.
    Public,
    /// Every client.
    All,
}

impl<'de> Deserialize<'de> for PkceRequired {
    /// `"public"` or `"all"`; the booleans of earlier versions still mean `all` (true) and
    /// `public` (false).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(true) => Ok(PkceRequired::All),
            Raw::Flag(false) => Ok(PkceRequired::Public),
            Raw::Name(n) => match n.as_str() {
                "public" | "false" => Ok(PkceRequired::Public),
                "all" | "true" => Ok(PkceRequired::All),
                _ => Err(serde::de::Error::custom(format!("expected \"public\" or \"all\", got {n:?}"))),
            },
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub bind: String,
    /// Empty means "derive from bind": `http://<bind>`.
    pub issuer: String,
    pub database_url: String,
    pub access_token_ttl: u64,
    pub id_token_ttl: u64,
    pub signing_alg: Alg,
    /// Empty means "no default": requests must name an audience.
    pub default_audience: String,
    pub log_format: LogFormat,
    /// Seconds a cached client (with its grants), trusted issuer or CORS origin list is used
    /// before it is read again. On PostgreSQL changes arrive within a second anyway; this is the
    /// backstop there, and the bound on SQLite for changes made by another process (the CLI).
    pub client_cache_ttl: u64,
    /// Most clients kept in memory (least used ones go first); unknown client ids get a tenth of it.
    pub client_cache_capacity: u64,
    pub key_refresh_interval: u64,
    pub user_connection: String,
    pub refresh_token_ttl: u64,
    pub refresh_token_idle_ttl: u64,
    /// Seconds after a rotation during which the rotated refresh token, presented again by its
    /// client, gets a fresh successor instead of revoking the family (a lost response). 0: none.
    pub refresh_reuse_grace: u64,
    pub lockout_threshold: i64,
    pub lockout_window: u64,
    pub ip_failure_limit: u32,
    pub ip_failure_window: u64,
    pub password_grant_public_clients: bool,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub password_hash_concurrency: usize,
    /// Most password checks waiting for a hashing thread; beyond it a login is answered 503 at once.
    pub password_hash_queue: usize,
    pub db_timeout_ms: u64,
    /// Authorization code lifetime in seconds (at most 600).
    pub code_ttl: u64,
    /// SSO session lifetime in seconds.
    pub session_ttl: u64,
    /// Which clients must use PKCE: `public` (and clients created with `--require-pkce`) or `all`.
    pub pkce_required: PkceRequired,
    /// Clock skew allowed on assertion `exp`/`nbf`/`iat`, in seconds.
    pub jwt_clock_skew: u64,
    /// Default cache lifetime of remote key sets without `Cache-Control`, in seconds.
    pub jwks_cache_ttl: u64,
    /// Allow plain-http key sets on loopback addresses (local testing only).
    pub allow_http_loopback_jwks: bool,
    /// `dev` (warns about unencrypted keys) or `production` (refuses to start without a KEK).
    pub profile: Profile,
    /// Base64 of 32 random bytes: encrypts private signing keys in the database.
    pub key_encryption_key: Secret,
    /// A file holding `key_encryption_key`, as an alternative to the setting itself.
    pub key_encryption_key_file: String,
    /// Requests per second per client IP on /token and the login form (0 = off).
    pub rate_limit_per_ip: u32,
    /// Requests per second per client on /token (0 = off).
    pub rate_limit_per_client: u32,
    /// Address of a separate listener serving Prometheus `/metrics` (empty = off).
    pub metrics_bind: String,
    /// Seconds a client has to send a request head (and to start the next one on a kept-alive
    /// connection) before the connection is closed: the slowloris guard.
    pub header_read_timeout: u64,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_grace: u64,
    /// Seconds between SIGTERM and the listener closing, during which readiness fails and every
    /// response says `Connection: close`, so load balancers stop sending first (0 = off).
    pub shutdown_delay: u64,
    /// Most client connections open at once; beyond it a new connection gets a 503 and is closed.
    /// Lowered at start-up to what the open-file limit leaves room for.
    pub max_connections: usize,
    /// Seconds between purges of expired codes, jtis, deny-list entries, sessions and refresh
    /// tokens (the first runs within 5 s of start).
    pub purge_interval: u64,
    /// Seconds a request may take in all: then 503 JSON on the back channel, 408 elsewhere.
    pub request_timeout: u64,
    /// Seconds one back-channel logout delivery may take (connect, send, answer).
    pub backchannel_logout_timeout: u64,
    /// Attempts per back-channel logout delivery before it is dropped (and counted as failed).
    pub backchannel_logout_attempts: u64,
    /// Deliver back-channel logout tokens to http and loopback addresses (local testing only).
    pub allow_http_loopback_backchannel: bool,
    /// `host:port` of a separate listener for the admin API (`/admin/v1`); empty serves it on `bind`.
    pub admin_bind: String,
    /// Days audit events are kept before the purge deletes them.
    pub audit_retention_days: u64,
}

/// A setting that must never be printed.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"<redacted>\"" })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            issuer: String::new(),
            database_url: "sqlite://data/oauthd.db".into(),
            access_token_ttl: 3600,
            id_token_ttl: 3600,
            signing_alg: Alg::RS256,
            default_audience: String::new(),
            log_format: LogFormat::Text,
            client_cache_ttl: 300,
            client_cache_capacity: 100_000,
            key_refresh_interval: 10,
            user_connection: "local".into(),
            refresh_token_ttl: 30 * 86400,
            refresh_token_idle_ttl: 7 * 86400,
            refresh_reuse_grace: 5,
            lockout_threshold: 5,
            lockout_window: 900,
            ip_failure_limit: 100,
            ip_failure_window: 60,
            password_grant_public_clients: false,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            password_hash_concurrency: 2,
            password_hash_queue: 64,
            db_timeout_ms: 3000,
            code_ttl: 60,
            session_ttl: 8 * 3600,
            pkce_required: PkceRequired::Public,
            jwt_clock_skew: 60,
            jwks_cache_ttl: 600,
            allow_http_loopback_jwks: false,
            profile: Profile::Dev,
            key_encryption_key: Secret::default(),
            key_encryption_key_file: String::new(),
            rate_limit_per_ip: 0,
            rate_limit_per_client: 0,
            metrics_bind: String::new(),
            header_read_timeout: 10,
            shutdown_grace: 30,
            shutdown_delay: 5,
            max_connections: 10_000,
            purge_interval: 300,
            request_timeout: 20,
            backchannel_logout_timeout: 5,
            backchannel_logout_attempts: 5,
            allow_http_loopback_backchannel: false,
            admin_bind: String::new(),
            audit_retention_days: 90,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Overrides {
    /// Path of the TOML settings file (default: config/oauthd.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Database URL (sqlite://… or postgres://…).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Address to listen on, host:port.
    #[arg(long, global = true)]
    pub bind: Option<String>,
    /// The issuer URL (`iss` in tokens).
    #[arg(long, global = true)]
    pub issuer: Option<String>,
    /// Log lines as text or JSON.
    #[arg(long, global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

impl Settings {
    /// Loads settings from the default file, the process environment and `flags`.
    pub fn load(flags: &Overrides) -> anyhow::Result<Settings> {
        let file = match &flags.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("config/oauthd.toml")).filter(|p| p.exists()),
        };
        Self::layered(file.as_deref(), std::env::vars(), flags)
    }

    pub fn layered(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> anyhow::Result<Settings> {
        let defaults = toml::Table::try_from(Settings::default())?;
        let mut table = defaults.clone();
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
            let parsed: toml::Table = text.parse().map_err(|e| anyhow!("config file {}: {e}", path.display()))?;
            table.extend(parsed);
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix("OAUTHD_").map(str::to_ascii_lowercase) else {
                continue;
            };
            if let Some(default) = defaults.get(&key) {
                table.insert(key.clone(), env_value(&key, default, value)?);
            }
        }
        let flag_pairs = [
            ("bind", &flags.bind),
            ("issuer", &flags.issuer),
            ("database_url", &flags.database_url),
            ("log_format", &flags.log_format),
        ];
        for (key, value) in flag_pairs {
            if let Some(v) = value {
                table.insert(key.into(), toml::Value::String(v.clone()));
            }
        }
        let mut s: Settings = serde_path_to_error::deserialize(table)
            .map_err(|e| anyhow!("invalid setting `{}`: {}", e.path(), e.inner().message()))?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&mut self) -> anyhow::Result<()> {
        let addr: SocketAddr = self
            .bind
            .parse()
            .map_err(|_| anyhow!("invalid setting `bind`: expected host:port, got {:?}", self.bind))?;
        if !self.admin_bind.is_empty() && self.admin_bind.parse::<SocketAddr>().is_err() {
            bail!("invalid setting `admin_bind`: expected host:port");
        }
        if !self.metrics_bind.is_empty() && self.metrics_bind.parse::<SocketAddr>().is_err() {
            bail!("invalid setting `metrics_bind`: expected host:port");
        }
        if self.issuer.is_empty() {
            self.issuer = format!("http://{addr}");
        }
        let iss = &self.issuer;
        if !(iss.starts_with("https://") || iss.starts_with("http://"))
            || iss.ends_with('/')
            || iss.contains(['?', '#'])
        {
            bail!("invalid setting `issuer`: must be an http(s) URL with no trailing slash, query or fragment");
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            bail!("invalid setting `database_url`: use sqlite://PATH or postgres://…");
        }
        for (key, v, min, max, unit) in self.bounds() {
            if v < min || v > max {
                bail!("invalid setting `{key}`: must be between {min} and {max} {unit}, got {v}");
            }
        }
        if self.shutdown_grace <= self.request_timeout {
            // Not fatal: a short grace is a legitimate choice where the orchestrator kills early.
            tracing::warn!(
                "shutdown_grace ({} s) is not above request_timeout ({} s): at shutdown a slow request may be cut off without an answer",
                self.shutdown_grace,
                self.request_timeout
            );
        }
        if self.lockout_threshold < 1 {
            bail!("invalid setting `lockout_threshold`: must be at least 1");
        }
        if self.user_connection.is_empty() || self.user_connection.contains('|') {
            bail!("invalid setting `user_connection`: must be non-empty and contain no '|'");
        }
        let kek = self.key_encryption_key()?;
        if kek.is_none() && self.profile == Profile::Production {
            bail!("invalid setting `key_encryption_key`: profile = production requires key_encryption_key or key_encryption_key_file");
        }
        // Argon2's own limits (RFC 9106 §3.1): memory of at least 8 KiB per lane.
        if u64::from(self.argon2_memory_kib) < 8 * u64::from(self.argon2_parallelism) {
            bail!("invalid setting `argon2_memory_kib`: must be at least 8 × argon2_parallelism");
        }
        Ok(())
    }

    /// Every numeric setting with its allowed range, so that no lifetime can overflow a
    /// timestamp and no timeout can outlast the requests it guards.
    fn bounds(&self) -> Vec<(&'static str, u64, u64, u64, &'static str)> {
        const DAY: u64 = 86400;
        vec![
            ("access_token_ttl", self.access_token_ttl, 1, DAY, "seconds"),
            ("id_token_ttl", self.id_token_ttl, 1, DAY, "seconds"),
            ("refresh_token_ttl", self.refresh_token_ttl, 1, 365 * DAY, "seconds"),
            ("refresh_token_idle_ttl", self.refresh_token_idle_ttl, 1, 365 * DAY, "seconds"),
            ("refresh_reuse_grace", self.refresh_reuse_grace, 0, 300, "seconds"),
            // RFC 6749 §4.1.2: a maximum code lifetime of 10 minutes is recommended.
            ("code_ttl", self.code_ttl, 1, 600, "seconds"),
            ("session_ttl", self.session_ttl, 1, 30 * DAY, "seconds"),
            ("client_cache_ttl", self.client_cache_ttl, 0, 3600, "seconds"),
            ("client_cache_capacity", self.client_cache_capacity, 1, 100_000_000, "entries"),
            ("key_refresh_interval", self.key_refresh_interval, 1, 3600, "seconds"),
            ("lockout_window", self.lockout_window, 1, DAY, "seconds"),
            ("ip_failure_window", self.ip_failure_window, 1, DAY, "seconds"),
            ("jwt_clock_skew", self.jwt_clock_skew, 0, 600, "seconds"),
            ("jwks_cache_ttl", self.jwks_cache_ttl, 1, DAY, "seconds"),
            ("db_timeout_ms", self.db_timeout_ms, 1, 30_000, "milliseconds"),
            ("header_read_timeout", self.header_read_timeout, 1, 300, "seconds"),
            ("shutdown_grace", self.shutdown_grace, 0, 3600, "seconds"),
            ("shutdown_delay", self.shutdown_delay, 0, 600, "seconds"),
            ("max_connections", self.max_connections as u64, 1, 1_000_000, "connections"),
            ("request_timeout", self.request_timeout, 1, 300, "seconds"),
            ("purge_interval", self.purge_interval, 1, DAY, "seconds"),
            ("password_hash_concurrency", self.password_hash_concurrency as u64, 1, 1024, "hashes"),
            ("password_hash_queue", self.password_hash_queue as u64, 1, 100_000, "jobs"),
            ("argon2_memory_kib", u64::from(self.argon2_memory_kib), 8, 4 * 1024 * 1024, "KiB"),
            ("argon2_iterations", u64::from(self.argon2_iterations), 1, 100, "passes"),
            ("argon2_parallelism", u64::from(self.argon2_parallelism), 1, 64, "lanes"),
            ("backchannel_logout_timeout", self.backchannel_logout_timeout, 1, 60, "seconds"),
            ("backchannel_logout_attempts", self.backchannel_logout_attempts, 1, 20, "attempts"),
            ("audit_retention_days", self.audit_retention_days, 1, 3650, "days"),
        ]
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// The userinfo endpoint: also the audience of identity-only access tokens.
    pub fn userinfo_endpoint(&self) -> String {
        format!("{}/userinfo", self.issuer)
    }

    pub fn default_audience(&self) -> Option<&str> {
        Some(self.default_audience.as_str()).filter(|a| !a.is_empty())
    }

    /// How long a retired signing key stays published: the longest a token it signed may live.
    pub fn key_publish_window(&self) -> i64 {
        crate::clock::later(300, self.access_token_ttl.max(self.id_token_ttl))
    }

    /// The key-encryption key's 32 bytes, from `key_encryption_key` (base64) or its file.
    pub fn key_encryption_key(&self) -> anyhow::Result<Option<[u8; 32]>> {
        let b64 = if !self.key_encryption_key.0.is_empty() {
            self.key_encryption_key.0.trim().to_string()
        } else if !self.key_encryption_key_file.is_empty() {
            std::fs::read_to_string(&self.key_encryption_key_file)
                .map_err(|e| anyhow!("invalid setting `key_encryption_key_file`: {e}"))?
                .trim()
                .to_string()
        } else {
            return Ok(None);
        };
        let bytes = STANDARD.decode(b64).map_err(|_| anyhow!("invalid setting `key_encryption_key`: not base64"))?;
        let key = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| anyhow!("invalid setting `key_encryption_key`: must be 32 bytes (base64)"))?;
        Ok(Some(key))
    }
}

/// Environment values are strings; read them with the type the default has.
fn env_value(key: &str, default: &toml::Value, raw: String) -> anyhow::Result<toml::Value> {
    let bad = |what: &str| {
        anyhow!("invalid setting `{key}` (from OAUTHD_{}): expected {what}, got {raw:?}", key.to_ascii_uppercase())
    };
    Ok(match default {
        toml::Value::Integer(_) => toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        toml::Value::Boolean(_) => toml::Value::Boolean(raw.trim().parse().map_err(|_| bad("true or false"))?),
        _ => toml::Value::String(raw),
    })
}
