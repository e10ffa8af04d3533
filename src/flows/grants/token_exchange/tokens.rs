//! The tokens of a token exchange (RFC 8693 §2.1): the subject and actor tokens, verified but not
//! yet used up; the `act` chain (§4.1) and the `may_act` rule (§4.4). A token that fails any
//! check is `invalid_request`, as §2.2.2 requires.

use serde_json::{json, Value};

use crate::flows::grants::jwt_bearer::{self, Checked};
use crate::jwt::verify::{self, VerifiedAccess};
use crate::oauth::{subject, TokenError};
use crate::state::AppState;
use crate::store::LOCAL_SOURCE;

pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// Delegation chains deeper than this are refused: nobody needs them, and each level grows
/// every token further down the chain.
pub const MAX_ACT_DEPTH: usize = 8;

/// A subject or actor token that passed every check.
pub enum Presented {
    /// One of our own access tokens: signature, `typ`, issuer, expiry and the deny list.
    Local(VerifiedAccess),
    /// A JWT from a trusted issuer, checked as the jwt-bearer grant checks assertions; its `jti`
    /// is not used yet.
    Foreign(Checked),
}

impl Presented {
    /// The policy source: `local`, or the trusted issuer.
    pub fn source(&self) -> &str {
        match self {
            Presented::Local(_) => LOCAL_SOURCE,
            Presented::Foreign(c) => &c.issuer.issuer,
        }
    }

    /// The `sub` claim as the token has it.
    pub fn raw_sub(&self) -> &str {
        match self {
            Presented::Local(v) => &v.sub,
            Presented::Foreign(c) => c.claims["sub"].as_str().unwrap_or_default(),
        }
    }

    /// The scopes this token allows at most: ours carry them; a foreign token gets the
    /// issuer's `--scope`, as in the jwt-bearer grant.
    pub fn scope_ceiling(&self) -> Vec<&str> {
        match self {
            Presented::Local(v) => v.scope.split(' ').filter(|s| !s.is_empty()).collect(),
            Presented::Foreign(c) => jwt_bearer::issuer_api_scopes(&c.issuer),
        }
    }

    fn claim(&self, name: &str) -> Option<&Value> {
        match (self, name) {
            (Presented::Local(v), "act") => v.act.as_ref(),
            (Presented::Local(v), "may_act") => v.may_act.as_ref(),
            (Presented::Local(_), _) => None,
            (Presented::Foreign(c), _) => c.claims.get(name).filter(|v| !v.is_null()),
        }
    }

    /// (issuer, subject) naming the party this token is about, as `may_act` names parties.
    fn party<'a>(&'a self, our_issuer: &'a str) -> (&'a str, &'a str) {
        match self {
            Presented::Local(v) => (our_issuer, &v.sub),
            Presented::Foreign(c) => (&c.issuer.issuer, self.raw_sub_of(c)),
        }
    }

    fn raw_sub_of<'a>(&self, c: &'a Checked) -> &'a str {
        c.claims["sub"].as_str().unwrap_or_default()
    }

    /// `act.sub` when this token is the actor's.
    pub fn actor_sub(&self) -> String {
        match self {
            Presented::Local(v) => subject::of_local_actor(&v.sub).to_string(),
            Presented::Foreign(c) => subject::of_federated_actor(&c.issuer.alias, self.raw_sub_of(c)),
        }
    }
}

/// Verifies `token` of `token_type`; `what` names the parameter in error descriptions.
pub async fn present(
    app: &AppState,
    token: &str,
    token_type: &str,
    now: i64,
    what: &str,
) -> Result<Presented, TokenError> {
    match token_type {
        ACCESS_TOKEN => local(app, token, now).await.map(Presented::Local).map_err(|e| unacceptable(what, e)),
        JWT | ID_TOKEN => foreign(app, token, now).await.map(Presented::Foreign).map_err(|e| unacceptable(what, e)),
        other => Err(TokenError::request(format!(
            "{what}_type '{other}' is not supported; use {ACCESS_TOKEN} (an access token of this server), {JWT} or {ID_TOKEN} (a JWT from a trusted issuer)"
        ))),
    }
}

async fn local(app: &AppState, token: &str, now: i64) -> Result<VerifiedAccess, TokenError> {
    let v = verify::access_token(&app.keys.load(), &app.settings.issuer, token).map_err(TokenError::request)?;
    if v.exp <= now {
        return Err(TokenError::request("the token has expired"));
    }
    if app.store.is_jti_revoked(&v.jti).await? {
        return Err(TokenError::request("the token was revoked"));
    }
    // A token about a user who was disabled or deleted since must not live on in exchanged ones.
    if subject::client_of(&v.sub).is_none() {
        match app.store.get_user(&v.sub).await? {
            Some(u) if u.disabled => return Err(TokenError::request("the token's user is disabled")),
            // A passthrough subject has no user; a local one always had.
            None if subject::connection_of(&v.sub) == app.settings.user_connection => {
                return Err(TokenError::request("the token's user was deleted"))
            }
            _ => {}
        }
    }
    Ok(v)
}

async fn foreign(app: &AppState, token: &str, now: i64) -> Result<Checked, TokenError> {
    let checked = jwt_bearer::check(app, token, now).await;
    if checked.is_err() && is_ours(app, token) {
        return Err(TokenError::request(format!(
            "this is a token of this server: send it with token type {ACCESS_TOKEN}"
        )));
    }
    checked
}

fn is_ours(app: &AppState, token: &str) -> bool {
    crate::jwt::assertion::parse(token).is_ok_and(|p| p.claims["iss"].as_str() == Some(app.settings.issuer.as_str()))
}

/// §2.2.2: a subject or actor token that is invalid for any reason is `invalid_request`.
/// Storage and key-set outages stay 503.
fn unacceptable(what: &str, e: TokenError) -> TokenError {
    match e {
        TokenError::InvalidGrant(d) | TokenError::InvalidRequest(d) => TokenError::request(format!("{what}: {d}")),
        other => other,
    }
}

/// §4.4: when the subject token says who may act for it, the party acting now (the actor, or
/// without one the client itself) must be that one. `may_act.iss` defaults to the subject
/// token's issuer.
pub fn check_may_act(
    subject: &Presented,
    actor: Option<&Presented>,
    client_id: &str,
    our_issuer: &str,
) -> Result<(), TokenError> {
    let Some(may) = subject.claim("may_act") else { return Ok(()) };
    let client_sub = subject::of_client(client_id);
    let (iss, sub) = match actor {
        Some(a) => a.party(our_issuer),
        None => (our_issuer, client_sub.as_str()),
    };
    let allowed_iss = may["iss"].as_str().unwrap_or(subject.party(our_issuer).0);
    if may["sub"].as_str() == Some(sub) && allowed_iss == iss {
        return Ok(());
    }
    Err(TokenError::request(format!(
        "subject_token: its may_act claim does not name the acting party '{sub}' of '{iss}'"
    )))
}

/// §4.1: the `act` claim of the new token. With an actor, `{sub: actor}` wrapping the subject
/// token's `act`; without one (impersonation), the subject token's `act`, kept.
pub fn act_chain(subject: &Presented, actor: Option<&Presented>) -> Result<Option<Value>, TokenError> {
    let prior = subject.claim("act").cloned();
    if let Some(p) = &prior {
        check_act(p, 1)?;
    }
    let chain = match (actor, prior) {
        (Some(a), Some(p)) => Some(json!({ "sub": a.actor_sub(), "act": p })),
        (Some(a), None) => Some(json!({ "sub": a.actor_sub() })),
        (None, prior) => prior,
    };
    if let Some(c) = &chain {
        check_act(c, 1)?;
    }
    Ok(chain)
}

/// Every level of an `act` chain is an object with a string `sub`, at most `MAX_ACT_DEPTH` deep.
fn check_act(act: &Value, depth: usize) -> Result<(), TokenError> {
    if depth > MAX_ACT_DEPTH {
        return Err(TokenError::request(format!("the act chain is deeper than {MAX_ACT_DEPTH} actors")));
    }
    if !act.is_object() || !act["sub"].is_string() {
        return Err(TokenError::request("subject_token: its act claim is not an object with a sub"));
    }
    match act.get("act") {
        None => Ok(()),
        Some(inner) => check_act(inner, depth + 1),
    }
}

/// The actors of an `act` chain, the current one first.
pub fn actors(act: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut level = Some(act);
    while let Some(a) = level.filter(|a| a.is_object()) {
        out.push(a["sub"].as_str().unwrap_or("?").to_string());
        level = a.get("act");
        if out.len() > MAX_ACT_DEPTH {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_chains_are_objects_with_a_sub_at_every_level_and_bounded() {
        assert!(check_act(&json!({"sub": "a", "act": {"sub": "b"}}), 1).is_ok());
        assert!(check_act(&json!({"sub": "a", "act": "b"}), 1).is_err());
        assert!(check_act(&json!({"act": {"sub": "b"}}), 1).is_err());
        let mut deep = json!({"sub": "last"});
        for i in 0..MAX_ACT_DEPTH {
            deep = json!({"sub": i.to_string(), "act": deep});
        }
        assert!(check_act(&deep, 1).is_err());
        assert_eq!(actors(&json!({"sub": "a", "act": {"sub": "b"}})), ["a", "b"]);
    }
}
