//! Trusted issuers for the jwt-bearer grant, user links, and the `trust check` dry run.

use serde_json::{json, Value};

use crate::app::AppState;
use crate::error::TokenError;
use crate::jwt::assertion::{self, ClaimRules};
use crate::jwt::remote_jwks::{check_url, JwksCache};
use crate::store::{Store, TrustedIssuer};

#[derive(Debug, Clone, Default)]
pub struct NewIssuer {
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub jwks_file: Option<std::path::PathBuf>,
    pub discover: bool,
    pub alias: Option<String>,
    pub subjects: Option<String>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub map: Option<String>,
    pub max_age: Option<i64>,
    pub require_jti: Option<bool>,
    pub client_auth: Option<String>,
}

pub async fn add(
    store: &dyn Store,
    http: &JwksCache,
    allow_loopback: bool,
    req: NewIssuer,
    now: i64,
) -> anyhow::Result<TrustedIssuer> {
    let (jwks_uri, jwks_json) = match (&req.jwks_uri, &req.jwks_file, req.discover) {
        (Some(uri), None, false) => {
            check_url(uri, allow_loopback).map_err(anyhow::Error::msg)?;
            (Some(uri.clone()), None)
        }
        (None, Some(path), false) => {
            let text = std::fs::read_to_string(path)?;
            let set: jsonwebtoken::jwk::JwkSet =
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not a JWK set: {e}", path.display()))?;
            (None, Some(serde_json::to_string(&set)?))
        }
        (None, None, true) => {
            let doc = http
                .fetch_json(&format!("{}/.well-known/openid-configuration", req.issuer))
                .await
                .map_err(anyhow::Error::msg)?;
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
    let pick = |v: &Option<String>, allowed: &[&str], default: &str, flag: &str| -> anyhow::Result<String> {
        let v = v.clone().unwrap_or_else(|| default.to_string());
        if !allowed.contains(&v.as_str()) {
            anyhow::bail!("{flag} must be one of {}", allowed.join(", "));
        }
        Ok(v)
    };
    let issuer = TrustedIssuer {
        issuer: req.issuer.clone(),
        alias,
        jwks_uri,
        jwks_json,
        subjects: req.subjects.clone().unwrap_or_else(|| "any".into()).replace(',', " "),
        scope: crate::oauth::scope::parse(req.scope.as_deref().unwrap_or("")).map_err(anyhow::Error::msg)?.join(" "),
        audience: req.audience.clone(),
        map: pick(&req.map, &["link", "passthrough", "provision"], "link", "--map")?,
        max_age: req.max_age.unwrap_or(3600).max(1),
        require_jti: req.require_jti.unwrap_or(true),
        client_auth: pick(&req.client_auth, &["required", "optional"], "required", "--client-auth")?,
        enabled: true,
        created_at: now,
    };
    store.insert_issuer(&issuer).await.map_err(|e| match e {
        crate::store::StoreError::Conflict => anyhow::anyhow!("issuer or alias already trusted"),
        e => e.into(),
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

/// Every check of the jwt-bearer grant, each with pass or fail, without consuming the `jti`.
pub async fn check(app: &AppState, token: &str, now: i64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut step = |name: &str, r: Result<String, String>| {
        let ok = r.is_ok();
        out.push(match r {
            Ok(detail) => json!({ "check": name, "pass": true, "detail": detail }),
            Err(reason) => json!({ "check": name, "pass": false, "detail": reason }),
        });
        ok
    };
    let parsed = match assertion::parse(token) {
        Ok(p) => p,
        Err(e) => {
            step("shape", Err(e));
            return out;
        }
    };
    step("shape", Ok("compact JWS, within 16 KiB".into()));
    if !step("header", assertion::check_header(&parsed.header).map(|_| format!("alg {}", parsed.header["alg"]))) {
        return out;
    }
    let iss = parsed.claims["iss"].as_str().unwrap_or("");
    let issuer = match app.issuer(iss).await {
        Ok(Some(i)) if i.enabled => i,
        Ok(_) => {
            step("issuer", Err(format!("issuer {iss:?} is not trusted")));
            return out;
        }
        Err(e) => {
            step("issuer", Err(format!("storage error: {e}")));
            return out;
        }
    };
    step("issuer", Ok(format!("{iss} (alias {})", issuer.alias)));
    let keys = match crate::grants::jwt_bearer_keys(app, &issuer, parsed.header["kid"].as_str()).await {
        Ok(k) => k,
        Err(e) => {
            step("key", Err(describe(e)));
            return out;
        }
    };
    if !step(
        "signature",
        assertion::verify_signature(token, &parsed.header, &keys).map(|_| "verified with the issuer's key".into()),
    ) {
        return out;
    }
    let token_endpoint = app.settings.token_endpoint();
    let rules = ClaimRules {
        audiences: [&app.settings.issuer, &token_endpoint],
        now,
        skew: app.settings.jwt_clock_skew as i64,
        max_age: issuer.max_age,
        require_jti: issuer.require_jti,
    };
    step(
        "claims",
        assertion::check_claims(&parsed.claims, &rules)
            .map(|_| "sub, aud, exp, nbf, iat, age and jti are valid".into()),
    );
    let sub = parsed.claims["sub"].as_str().unwrap_or("");
    step(
        "subject",
        if assertion::subject_allowed(&issuer.subjects, sub) {
            Ok(format!("{sub:?} is allowed"))
        } else {
            Err(format!("subject {sub:?} is not allowed for this issuer"))
        },
    );
    step("replay", Ok("dry run: the jti was not consumed".into()));
    out
}

fn describe(e: TokenError) -> String {
    e.to_string()
}
