//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, RFC 8693 §2: an authenticated
//! client trades a subject token (and, for delegation, an actor token) for an RFC 9068 access
//! token to another API, with no wider scopes, under an exchange policy that denies by default.

pub mod tokens;

use serde_json::Value;

use super::issue::{mint_acting, response};
use super::{requested_audience, Ctx, Subject, TokenResponse};
use crate::flows::client_auth::AuthedClient;
use crate::flows::grants::jwt_bearer;
use crate::oauth::{scope, subject, Form, TokenError};
use crate::state::AppState;
use crate::store::{ExchangePolicy, User};
use tokens::{Presented, ACCESS_TOKEN, JWT};

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Everything an exchange would issue, decided without using anything up (the dry run stops here).
pub struct Plan {
    pub subject: Presented,
    pub actor: Option<Presented>,
    pub policy: ExchangePolicy,
    pub aud: String,
    pub scope: String,
    pub act: Option<Value>,
    /// §2.2.1 `issued_token_type`: what `requested_token_type` asked for.
    pub issued_token_type: &'static str,
}

pub async fn handle(ctx: &Ctx<'_>) -> Result<TokenResponse, TokenError> {
    let plan = plan(ctx.app, &ctx.client, ctx.form, ctx.now).await?;
    let (user, sub) = redeem(ctx.app, &plan, ctx.now).await?;
    let auth_time = match &plan.subject {
        Presented::Local(v) => v.auth_time,
        Presented::Foreign(c) => c.claims["iat"].as_i64(),
    };
    let idp = match &plan.subject {
        Presented::Local(_) => None,
        Presented::Foreign(c) => Some(c.issuer.issuer.as_str()),
    };
    let s = Subject {
        sub: &sub,
        // No ID token comes out of an exchange: the user is not logging in to this client.
        user: None,
        gty: "token-exchange",
        auth_time,
        nonce: None,
        idp,
        sid: None,
        requested: None,
    };
    let minted = mint_acting(ctx, &s, &plan.aud, &plan.scope, None, plan.act.as_ref())?;
    tracing::info!(
        event = "token_exchange",
        client_id = ctx.client.id(),
        sub = %sub,
        aud = %plan.aud,
        source = %plan.policy.source,
        actors = ?plan.act.as_ref().map(tokens::actors),
        user = ?user.map(|u| u.id),
        "token exchanged"
    );
    let mut r = response(ctx, minted, plan.scope, None);
    r.issued_token_type = Some(plan.issued_token_type);
    Ok(r)
}

/// Checks the request, both tokens, `may_act` and the policy, and picks the audience and scope.
pub async fn plan(app: &AppState, client: &AuthedClient, form: &Form, now: i64) -> Result<Plan, TokenError> {
    if !client.authenticated {
        return Err(TokenError::unauthorized("token exchange needs client authentication"));
    }
    let issued_token_type = requested_token_type(form)?;
    let subject_token = form.require("subject_token")?;
    let subject_type = form.require("subject_token_type")?;
    let actor_pair = match (form.get("actor_token"), form.get("actor_token_type")) {
        (Some(t), Some(ty)) => Some((t, ty)),
        (None, None) => None,
        (Some(_), None) => return Err(TokenError::request("actor_token_type is required with actor_token")),
        (None, Some(_)) => return Err(TokenError::request("actor_token_type must not be sent without actor_token")),
    };
    let subject = tokens::present(app, subject_token, subject_type, now, "subject_token").await?;
    let actor = match actor_pair {
        Some((t, ty)) => Some(tokens::present(app, t, ty, now, "actor_token").await?),
        None => None,
    };
    if let Some(Presented::Local(a)) = &actor {
        // Else any client holding another's token could claim that one acted.
        if a.client_id != client.id() {
            return Err(TokenError::request("actor_token: it was issued to another client"));
        }
    }
    tokens::check_may_act(&subject, actor.as_ref(), client.id(), &app.settings.issuer)?;
    let policies = app.store.exchange_policies(client.id()).await?;
    let policy = pick_policy(app, policies, subject.source(), form)?;
    if let (Some(want), Presented::Local(v)) = (&policy.subject_audience, &subject) {
        if !audience_contains(&v.aud, want) {
            return Err(TokenError::request(format!(
                "subject_token: the exchange policy accepts only tokens for '{want}'"
            )));
        }
    }
    if actor.is_none() && !policy.impersonate {
        return Err(TokenError::unauthorized(format!(
            "the exchange policy for audience '{}' allows delegation only: send an actor_token",
            policy.audience
        )));
    }
    let scope = narrow_scope(client, &policy, &subject, form)?;
    let act = tokens::act_chain(&subject, actor.as_ref())?;
    let aud = policy.audience.clone();
    Ok(Plan { subject, actor, policy, aud, scope, act, issued_token_type })
}

fn audience_contains(aud: &Value, want: &str) -> bool {
    match aud {
        Value::String(a) => a == want,
        Value::Array(list) => list.iter().any(|a| a == want),
        _ => false,
    }
}

/// §2.1: `access_token` (the default) or `jwt`; either way an RFC 9068 JWT access token.
fn requested_token_type(form: &Form) -> Result<&'static str, TokenError> {
    match form.get("requested_token_type") {
        None | Some(ACCESS_TOKEN) => Ok(ACCESS_TOKEN),
        Some(JWT) => Ok(JWT),
        Some(other) => Err(TokenError::request(format!(
            "requested_token_type '{other}' is not supported; use {ACCESS_TOKEN} or {JWT}"
        ))),
    }
}

/// The policy of this client for tokens from `source` and the requested audience. Without an
/// audience, the only one the policies allow from `source`, else `default_audience`.
fn pick_policy(
    app: &AppState,
    policies: Vec<ExchangePolicy>,
    source: &str,
    form: &Form,
) -> Result<ExchangePolicy, TokenError> {
    let mut from: Vec<ExchangePolicy> = policies.into_iter().filter(|p| p.source == source).collect();
    if from.is_empty() {
        return Err(TokenError::unauthorized(format!(
            "no exchange policy lets this client exchange tokens from '{source}'"
        )));
    }
    let aud = match requested_audience(form)? {
        Some(a) => a.to_string(),
        None if from.len() == 1 => from[0].audience.clone(),
        None => app.settings.default_audience().map(str::to_string).ok_or_else(|| {
            TokenError::target("several audiences are allowed for these tokens: name one with audience or resource")
        })?,
    };
    let at = from.iter().position(|p| p.audience == aud).ok_or_else(|| {
        TokenError::target(format!("the exchange policy does not allow audience '{aud}' for tokens from '{source}'"))
    })?;
    Ok(from.swap_remove(at))
}

/// The requested scope (all that is allowed when none is asked for) within the client's grant on
/// the audience, the subject token's scopes and the policy's cap; never wider (§5 of RFC 8693
/// leaves this to the server; a wider request is `invalid_scope`).
fn narrow_scope(
    client: &AuthedClient,
    policy: &ExchangePolicy,
    subject: &Presented,
    form: &Form,
) -> Result<String, TokenError> {
    let grant = client.entry.grant_for(&policy.audience).ok_or_else(|| {
        TokenError::target(format!("audience '{}' is unknown or not granted to this client", policy.audience))
    })?;
    let ceiling = subject.scope_ceiling();
    let cap: Option<Vec<&str>> = policy.scope.as_deref().map(|s| s.split(' ').collect());
    let allowed: Vec<&str> = grant
        .scopes
        .split(' ')
        .filter(|s| !s.is_empty() && ceiling.contains(s) && cap.as_ref().is_none_or(|c| c.contains(s)))
        .collect();
    let granted = scope::narrow(form.get("scope"), &allowed).map_err(|e| {
        TokenError::scope(format!(
            "{e}: an exchange grants at most the subject token's scopes that the client is granted on '{}' and the policy allows",
            policy.audience
        ))
    })?;
    // No refresh token comes out of an exchange.
    Ok(scope::without(&granted, "offline_access"))
}

/// Uses up what is single-use (the `jti`s of foreign tokens) and decides the new token's `sub`:
/// the last step, so that a refused request consumes nothing.
async fn redeem(app: &AppState, plan: &Plan, now: i64) -> Result<(Option<User>, String), TokenError> {
    if let Some(Presented::Foreign(c)) = &plan.actor {
        jwt_bearer::consume_jti(app, c).await.map_err(|e| replayed("actor_token", e))?;
    }
    match &plan.subject {
        Presented::Local(v) => Ok((None, subject::of_exchanged(&v.sub).to_string())),
        Presented::Foreign(c) => {
            let r = jwt_bearer::redeem(app, c, now).await.map_err(|e| replayed("subject_token", e))?;
            Ok((r.user, r.sub))
        }
    }
}

fn replayed(what: &str, e: TokenError) -> TokenError {
    match e {
        TokenError::InvalidGrant(d) => TokenError::request(format!("{what}: {d}")),
        other => other,
    }
}
