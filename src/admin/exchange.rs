//! Token exchange policies (RFC 8693 §2.1, default deny): `client exchange allow|deny|list`, and
//! the `trust check` dry run of an exchange, which decides everything and uses nothing up.

use serde_json::{json, Value};

use crate::flows::client_auth::AuthedClient;
use crate::flows::grants::jwt_bearer::{self, Mapped};
use crate::flows::grants::token_exchange::tokens::{self, Presented, ACCESS_TOKEN, JWT};
use crate::flows::grants::token_exchange::{self, GRANT_TYPE};
use crate::oauth::form::parse_form;
use crate::oauth::subject;
use crate::state::AppState;
use crate::store::{ExchangePolicy, Store, LOCAL_SOURCE};

/// A policy to add; also the flags of `oauthd client exchange allow`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NewPolicy {
    /// The client that may exchange tokens.
    pub client_id: String,
    /// Whose subject tokens: `local` (access tokens of this server) or a trusted issuer's URL.
    #[arg(long = "from")]
    pub source: String,
    /// The API the new tokens are for.
    #[arg(long)]
    pub audience: String,
    /// At most these scopes (default: whatever the client is granted on the API).
    #[arg(long)]
    pub scope: Option<String>,
    /// Also allow impersonation: requests without an actor_token (default: delegation only).
    #[arg(long)]
    pub impersonate: bool,
    /// With --from local: accept only subject tokens for this API (default: any of this server's).
    #[arg(long)]
    pub subject_audience: Option<String>,
}

/// Adds or replaces a policy, after checking that the client, the source and the API exist and
/// that the scopes are the API's. Returns the policy and warnings about what still blocks it.
pub async fn allow(store: &dyn Store, req: NewPolicy, now: i64) -> anyhow::Result<(ExchangePolicy, Vec<String>)> {
    let client = store
        .get_client(&req.client_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no client with id {}", req.client_id))?;
    if client.public {
        anyhow::bail!("client {} is public; token exchange needs a confidential client", client.id);
    }
    if req.source != LOCAL_SOURCE && store.get_issuer(&req.source).await?.is_none() {
        anyhow::bail!(
            "--from must be 'local' or a trusted issuer (see `oauthd trust list`); {} is neither",
            req.source
        );
    }
    let api = store
        .get_api(&req.audience)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no API with identifier {}", req.audience))?;
    let scope = match &req.scope {
        Some(s) => Some(super::defined_scopes(&api, s)?.join(" ")),
        None => None,
    };
    if let Some(a) = &req.subject_audience {
        if req.source != LOCAL_SOURCE {
            anyhow::bail!("--subject-audience applies to --from local only (a trusted issuer's JWTs name this server)");
        }
        store.get_api(a).await?.ok_or_else(|| anyhow::anyhow!("--subject-audience: no API with identifier {a}"))?;
    }
    let mut warnings = Vec::new();
    if !client.allows_grant(GRANT_TYPE) {
        warnings.push(format!("client {} is not allowed the grant {GRANT_TYPE} yet", client.id));
    }
    if !store.client_grants(&client.id).await?.iter().any(|g| g.api == api.identifier) {
        warnings.push(format!(
            "client {} has no scopes granted on {}: exchanges for it get invalid_target until `oauthd api grant`",
            client.id, api.identifier
        ));
    }
    let policy = ExchangePolicy {
        client_id: client.id,
        source: req.source,
        audience: api.identifier,
        scope,
        impersonate: req.impersonate,
        subject_audience: req.subject_audience,
        created_at: now,
    };
    store.upsert_exchange_policy(&policy).await?;
    Ok((policy, warnings))
}

pub async fn deny(store: &dyn Store, client_id: &str, source: &str, audience: &str) -> anyhow::Result<()> {
    if !store.delete_exchange_policy(client_id, source, audience).await? {
        anyhow::bail!("client {client_id} has no exchange policy from {source} for {audience}");
    }
    Ok(())
}

pub fn to_json(p: &ExchangePolicy) -> Value {
    json!({
        "client_id": p.client_id, "from": p.source, "audience": p.audience,
        "scope": p.scope, "impersonate": p.impersonate, "subject_audience": p.subject_audience,
        "created_at": p.created_at,
    })
}

/// What a dry-run exchange is given: the form parameters of the request, and the client.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DryRun {
    /// Dry-run a token exchange of this subject token (instead of checking an --assertion).
    #[arg(long, requires = "client")]
    pub subject_token: Option<String>,
    /// Its type (default: access_token for a token of this server, jwt otherwise).
    #[arg(long)]
    pub subject_token_type: Option<String>,
    /// The client that would send the exchange.
    #[arg(long)]
    pub client: Option<String>,
    /// The actor token of a delegation.
    #[arg(long, requires = "actor_token_type")]
    pub actor_token: Option<String>,
    /// Its type (urn:ietf:params:oauth:token-type:access_token, jwt or id_token).
    #[arg(long)]
    pub actor_token_type: Option<String>,
    /// The API the exchanged token would be for.
    #[arg(long)]
    pub audience: Option<String>,
    /// The scopes the exchange would ask for (default: all that are allowed).
    #[arg(long)]
    pub scope: Option<String>,
    /// urn:ietf:params:oauth:token-type:access_token (default) or jwt.
    #[arg(long)]
    pub requested_token_type: Option<String>,
}

/// Every step of an exchange, without using up a `jti`, provisioning a user or issuing a token.
/// A JWT subject token gets every check of `trust check` first.
pub async fn dry_run(app: &AppState, req: &DryRun, now: i64) -> Vec<Value> {
    let (Some(token), Some(client_id)) = (req.subject_token.as_deref(), req.client.as_deref()) else {
        return vec![step("request", Err("--subject-token and --client are required".into()))];
    };
    let subject_type = req.subject_token_type.clone().unwrap_or_else(|| guess_type(app, token).into());
    let mut steps = if subject_type == ACCESS_TOKEN { Vec::new() } else { super::trust::check(app, token, now).await };
    let client = match app.client(client_id).await {
        Ok(Some(entry)) if !entry.client.disabled => entry,
        Ok(_) => {
            steps.push(step("client", Err(format!("no enabled client {client_id}"))));
            return steps;
        }
        Err(e) => {
            steps.push(step("client", Err(format!("storage error: {e}"))));
            return steps;
        }
    };
    let grant_ok = client.client.allows_grant(GRANT_TYPE);
    steps.push(step("client", if grant_ok { Ok(client_id.into()) } else { Err(format!("not allowed {GRANT_TYPE}")) }));
    let form = form_of(req, token, &subject_type);
    let client = AuthedClient { entry: client, authenticated: true };
    match token_exchange::plan(app, &client, &form, now).await {
        Ok(plan) => steps.extend(plan_steps(app, &plan).await),
        Err(e) => steps.push(step("exchange", Err(e.to_string()))),
    }
    steps
}

fn guess_type(app: &AppState, token: &str) -> &'static str {
    let ours = crate::jwt::assertion::parse(token).is_ok_and(|p| p.claims["iss"] == app.settings.issuer.as_str());
    if ours {
        ACCESS_TOKEN
    } else {
        JWT
    }
}

fn form_of(req: &DryRun, token: &str, subject_type: &str) -> crate::oauth::Form {
    let mut f = url::form_urlencoded::Serializer::new(String::new());
    f.append_pair("subject_token", token).append_pair("subject_token_type", subject_type);
    let optional = [
        ("actor_token", &req.actor_token),
        ("actor_token_type", &req.actor_token_type),
        ("audience", &req.audience),
        ("scope", &req.scope),
        ("requested_token_type", &req.requested_token_type),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            f.append_pair(k, v);
        }
    }
    parse_form(f.finish().as_bytes()).unwrap_or_default()
}

async fn plan_steps(app: &AppState, plan: &token_exchange::Plan) -> Vec<Value> {
    let p = &plan.policy;
    let kind = if plan.actor.is_some() { "delegation" } else { "impersonation" };
    let sub = match &plan.subject {
        Presented::Local(v) => Ok(format!("{} (kept from the subject token)", subject::of_exchanged(&v.sub))),
        Presented::Foreign(c) => match jwt_bearer::lookup_subject(app, &c.issuer, plan.subject.raw_sub()).await {
            Ok(Mapped::Passthrough(id)) => Ok(format!("{id} (passthrough)")),
            Ok(Mapped::User(u)) => Ok(format!("{} (local user)", u.id)),
            Ok(Mapped::Provision(id)) => Ok(format!("{id} (would be provisioned)")),
            Err(e) => Err(e.to_string()),
        },
    };
    let act = match &plan.act {
        Some(a) => format!("{a} (actors, current first: {})", tokens::actors(a).join(" <- ")),
        None => "none".into(),
    };
    vec![
        step("policy", Ok(format!("from {} for {}{}", p.source, p.audience, cap(p)))),
        step("mode", Ok(kind.into())),
        step("new-sub", sub),
        step("act", Ok(act)),
        step("scope", Ok(if plan.scope.is_empty() { "none".into() } else { plan.scope.clone() })),
        step("result", Ok(format!("would issue {} for {}; nothing was used up", plan.issued_token_type, plan.aud))),
    ]
}

fn cap(p: &ExchangePolicy) -> String {
    let imp = if p.impersonate { ", impersonation allowed" } else { ", delegation only" };
    match &p.scope {
        Some(s) => format!("{imp}, scopes at most {s}"),
        None => imp.to_string(),
    }
}

fn step(name: &str, r: Result<String, String>) -> Value {
    let (pass, detail) = match r {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    json!({ "check": name, "pass": pass, "detail": detail })
}
