//! Trusted issuers for the jwt-bearer grant, user links, and the `trust check` dry run.

use serde_json::{json, Value};

use crate::config::Settings;
use crate::flows::grants::jwt_bearer::{self, Mapped};
use crate::jwt::assertion::{self, ClaimRules};
use crate::jwt::jwk_set;
use crate::jwt::remote_jwks::{check_url, JwksCache};
use crate::oauth::TokenError;
use crate::state::AppState;
use crate::store::{IssuerClientAuth, Store, SubjectMap, TrustedIssuer};

/// An issuer to trust; also the flags of `oauthd trust add` and the body of
/// `POST /admin/v1/trusted-issuers`, so the doc comments are its help.
#[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewIssuer {
    /// The issuer to trust, exactly as its assertions' `iss` names it.
    #[arg(long)]
    pub issuer: String,
    /// The URL of the issuer's key set (JWKS).
    #[arg(long)]
    pub jwks_uri: Option<String>,
    /// A file holding the issuer's key set (JWKS).
    #[arg(long)]
    #[serde(skip)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// The issuer's key set itself (the admin API's `jwks`; the CLI reads `--jwks-file`).
    #[arg(skip)]
    #[serde(rename = "jwks", deserialize_with = "json_text")]
    pub jwks_json: Option<String>,
    /// Find the jwks_uri in the issuer's /.well-known/openid-configuration.
    #[arg(long)]
    pub discover: bool,
    /// The prefix of mapped subjects, and the client_id without client auth (default: the issuer's host).
    #[arg(long)]
    pub alias: Option<String>,
    /// `any`, a list (space or comma separated), or globs with `*`.
    #[arg(long)]
    pub subjects: Option<String>,
    /// The scopes that tokens for this issuer's assertions may carry (default: none).
    #[arg(long)]
    pub scope: Option<String>,
    /// The API of tokens whose request names no audience (default: default_audience).
    #[arg(long)]
    pub audience: Option<String>,
    /// How the assertion's `sub` becomes the token's (default: link).
    #[arg(long, value_parser = ["link", "passthrough", "provision"])]
    pub map: Option<String>,
    /// The longest lifetime and age of an assertion, in seconds (default: 3600).
    #[arg(long)]
    pub max_age: Option<i64>,
    /// Whether assertions must carry a single-use `jti` (default: true).
    #[arg(long)]
    pub require_jti: Option<bool>,
    /// Whether a client must authenticate along with the assertion (default: required).
    #[arg(long, value_parser = ["required", "optional"])]
    pub client_auth: Option<String>,
}

pub async fn add(
    store: &dyn Store,
    http: &JwksCache,
    allow_loopback: bool,
    req: NewIssuer,
    now: i64,
) -> anyhow::Result<TrustedIssuer> {
    let file = match (&req.jwks_file, &req.jwks_json) {
        (Some(path), None) => Some((std::fs::read_to_string(path)?, path.display().to_string())),
        (None, Some(text)) => Some((text.clone(), "jwks".to_string())),
        (None, None) => None,
        (Some(_), Some(_)) => anyhow::bail!("give exactly one of --jwks-uri, --jwks-file or --discover"),
    };
    let (jwks_uri, jwks_json) = match (&req.jwks_uri, file, req.discover) {
        (Some(uri), None, false) => {
            check_url(uri, allow_loopback).map_err(anyhow::Error::msg)?;
            (Some(uri.clone()), None)
        }
        (None, Some((text, from)), false) => {
            jwk_set::parse_for_config(&text).map_err(|e| anyhow::anyhow!("{from}: {e}"))?;
            let compact: Value = serde_json::from_str(&text)?;
            (None, Some(compact.to_string()))
        }
        (None, None, true) => {
            // OIDC Discovery §4: drop a trailing '/' before appending; `issuer` must still match exactly.
            let url = format!("{}/.well-known/openid-configuration", req.issuer.trim_end_matches('/'));
            let doc = http.fetch_json(&url).await.map_err(anyhow::Error::msg)?;
            if doc["issuer"].as_str() != Some(req.issuer.as_str()) {
                anyhow::bail!("the discovery document names issuer {} rather than {}", doc["issuer"], req.issuer);
            }
            let uri =
                doc["jwks_uri"].as_str().ok_or_else(|| anyhow::anyhow!("the discovery document has no jwks_uri"))?;
            check_url(uri, allow_loopback).map_err(anyhow::Error::msg)?;
            (Some(uri.to_string()), None)
        }
        _ => anyhow::bail!("give exactly one of --jwks-uri, --jwks-file or --discover"),
    };
    let alias = req.alias.clone().unwrap_or_else(|| default_alias(&req.issuer));
    if alias.is_empty() || alias.contains('|') || alias.contains(' ') {
        anyhow::bail!("--alias must be non-empty with no '|' or spaces");
    }
    // Without client authentication the alias is the token's client_id: it must not name a client.
    if store.get_client(&alias).await?.is_some() {
        anyhow::bail!("--alias {alias} is the id of a registered client; pick another alias");
    }
    let issuer = TrustedIssuer {
        issuer: req.issuer.clone(),
        alias,
        jwks_uri,
        jwks_json,
        subjects: req.subjects.clone().unwrap_or_else(|| "any".into()).replace(',', " "),
        scope: crate::oauth::scope::parse(req.scope.as_deref().unwrap_or("")).map_err(anyhow::Error::msg)?.join(" "),
        audience: req.audience.clone(),
        map: pick(&req.map, SubjectMap::parse, "--map")?,
        max_age: req.max_age.unwrap_or(3600).max(1),
        require_jti: req.require_jti.unwrap_or(true),
        client_auth: pick(&req.client_auth, IssuerClientAuth::parse, "--client-auth")?,
        enabled: true,
        created_at: now,
    };
    store.insert_issuer(&issuer).await.map_err(|e| match e {
        crate::store::StoreError::Conflict => {
            super::AdminError::Conflict("issuer or alias already trusted".into()).into()
        }
        e => anyhow::Error::from(e),
    })?;
    Ok(issuer)
}

fn default_alias(issuer: &str) -> String {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| issuer.to_string())
        .replace(['|', ' '], "-")
}

pub fn to_json(i: &TrustedIssuer) -> Value {
    serde_json::to_value(i).unwrap_or(Value::Null)
}

/// Every check of the jwt-bearer grant, each with pass or fail and the reason, without
/// consuming the `jti`. A check that needs an earlier one that failed fails as "not checked".
pub async fn check(app: &AppState, token: &str, now: i64) -> Vec<Value> {
    let mut r = Report::default();
    let parsed = match assertion::parse(token) {
        Ok(p) => p,
        Err(e) => {
            r.step("shape", Err(e));
            return r.0;
        }
    };
    r.step("shape", Ok("compact JWS, within 16 KiB".into()));
    let (header, claims) = (&parsed.header, &parsed.claims);
    r.step("header", assertion::check_header(header).map(|_| format!("alg {}", header["alg"])));
    let issuer = jwt_bearer::trusted_issuer(app, claims).await.map_err(describe);
    r.step("issuer", issuer.as_ref().map(|i| format!("{} (alias {})", i.issuer, i.alias)).map_err(Clone::clone));
    let Ok(issuer) = issuer else {
        r.skip(&["key", "signature"], "a trusted issuer");
        claim_steps(&mut r, claims, None, &app.settings, now);
        r.skip(&["subject", "mapping", "replay"], "a trusted issuer");
        return r.0;
    };
    match jwt_bearer::issuer_keys(app, &issuer, header["kid"].as_str()).await {
        Ok(keys) => {
            r.step("key", Ok(format!("{} key(s) at the issuer", keys.keys.len())));
            let verified = assertion::verify_signature(token, header, &keys);
            r.step("signature", verified.map(|_| "verified with the issuer's key".into()));
        }
        Err(e) => {
            r.step("key", Err(describe(e)));
            r.skip(&["signature"], "the issuer's keys");
        }
    }
    claim_steps(&mut r, claims, Some(&issuer), &app.settings, now);
    let sub = jwt_bearer::check_subject(&issuer, claims);
    r.step("subject", sub.map(|_| format!("{} is allowed", claims["sub"])));
    mapping_step(&mut r, app, &issuer, claims).await;
    replay_step(&mut r, app, &issuer, claims).await;
    r.0
}

/// The claim checks the grant runs, one step each. Without an issuer, those that depend on its
/// policy (max-age, jti) are not checked.
fn claim_steps(r: &mut Report, claims: &Value, issuer: Option<&TrustedIssuer>, s: &Settings, now: i64) {
    let token_endpoint = s.token_endpoint();
    let (max_age, require_jti) = issuer.map_or((0, true), |i| (i.max_age, i.require_jti));
    let rules = ClaimRules::ours([&s.issuer, &token_endpoint], s.jwt_clock_skew, now, max_age, require_jti);
    for (name, check) in assertion::CLAIM_CHECKS {
        if issuer.is_none() && matches!(name, "max-age" | "jti") {
            r.skip(&[name], "a trusted issuer");
            continue;
        }
        let detail = match name {
            "max-age" => format!("within {} s", rules.max_age),
            "jti" if claims["jti"].is_null() => "absent, not required by this issuer".into(),
            _ => claims[name].to_string(),
        };
        r.step(name, check(claims, &rules).map(|_| detail));
    }
}

async fn mapping_step(r: &mut Report, app: &AppState, issuer: &TrustedIssuer, claims: &Value) {
    let Some(sub) = claims["sub"].as_str() else {
        return r.skip(&["mapping"], "a sub");
    };
    let mapped = jwt_bearer::lookup_subject(app, issuer, sub).await.map_err(describe);
    r.step(
        "mapping",
        mapped.map(|m| match m {
            Mapped::Passthrough(id) => format!("passthrough: sub {id:?}, no local user"),
            Mapped::User(u) => format!("{}: local user {:?}, enabled", issuer.map, u.id),
            Mapped::Provision(id) => format!("provision: user {id:?} would be created"),
        }),
    );
}

async fn replay_step(r: &mut Report, app: &AppState, issuer: &TrustedIssuer, claims: &Value) {
    let Some(jti) = claims["jti"].as_str() else {
        return r.step("replay", Ok("no jti to record".into()));
    };
    let seen = match app.store.jti_seen(&issuer.issuer, jti).await {
        Ok(true) => Err("jti has already been used (replay)".into()),
        Ok(false) => Ok("jti not used yet (the dry run did not record it)".into()),
        Err(e) => Err(format!("storage error: {e}")),
    };
    r.step("replay", seen);
}

/// The steps of a dry run, as `{check, pass, detail}` objects.
#[derive(Default)]
struct Report(Vec<Value>);

impl Report {
    fn step(&mut self, name: &str, r: Result<String, String>) {
        let (pass, detail) = match r {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.0.push(json!({ "check": name, "pass": pass, "detail": detail }));
    }

    fn skip(&mut self, names: &[&str], needs: &str) {
        for name in names {
            self.step(name, Err(format!("not checked: needs {needs}")));
        }
    }
}

fn describe(e: TokenError) -> String {
    e.to_string()
}

/// A JSON value given as such (a key set object) kept as its text.
fn json_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<Value> = serde::Deserialize::deserialize(d)?;
    Ok(v.map(|v| v.to_string()))
}

/// The named value of an optional flag, or the type's default.
fn pick<T: Default>(v: &Option<String>, parse: fn(&str) -> Option<T>, flag: &str) -> anyhow::Result<T> {
    match v.as_deref() {
        None => Ok(T::default()),
        Some(v) => parse(v).ok_or_else(|| anyhow::anyhow!("{flag}: unknown value {v:?}")),
    }
}
