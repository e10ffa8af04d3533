//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, RFC 7523 §2.1: a JWT from a trusted
//! issuer is exchanged for our access token. Checks follow RFC 7523 §3, RFC 7521 §5.2, RFC 8725.

use std::net::IpAddr;
use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use super::{issue, resolve_target_or, Ctx, Refresh, Subject, TokenResponse};
use crate::flows::client_auth::AuthedClient;
use crate::jwt::assertion::{self, ClaimRules};
use crate::oauth::Form;
use crate::oauth::TokenError;
use crate::oauth::{scope, subject};
use crate::state::{AppState, ClientEntry};
use crate::store::{AuthMethod, Client, ClientGrant, ClientOrigin, IssuerClientAuth, SubjectMap, TrustedIssuer, User};

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An assertion that passed every check, before its `jti` is consumed.
pub struct Checked {
    pub issuer: Arc<TrustedIssuer>,
    pub claims: Value,
}

/// Runs every check of item 3 on `token`. Does not consume the `jti`.
pub async fn check(app: &AppState, token: &str, now: i64) -> Result<Checked, TokenError> {
    let parsed = assertion::parse(token).map_err(TokenError::grant)?;
    assertion::check_header(&parsed.header).map_err(TokenError::grant)?;
    let issuer = trusted_issuer(app, &parsed.claims).await?;
    let keys = issuer_keys(app, &issuer, parsed.header["kid"].as_str()).await?;
    assertion::verify_signature(token, &parsed.header, &keys).map_err(TokenError::grant)?;
    let token_endpoint = app.settings.token_endpoint();
    let rules = ClaimRules::ours(
        [&app.settings.issuer, &token_endpoint],
        app.settings.jwt_clock_skew,
        now,
        issuer.max_age,
        issuer.require_jti,
    );
    assertion::check_claims(&parsed.claims, &rules).map_err(TokenError::grant)?;
    check_subject(&issuer, &parsed.claims).map_err(TokenError::grant)?;
    Ok(Checked { issuer, claims: parsed.claims })
}

/// The enabled trusted issuer named by the assertion's `iss`.
pub async fn trusted_issuer(app: &AppState, claims: &Value) -> Result<Arc<TrustedIssuer>, TokenError> {
    let iss = claims["iss"].as_str().ok_or_else(|| TokenError::grant("iss is required"))?;
    let issuer = app.issuer(iss).await?.filter(|i| i.enabled);
    issuer.ok_or_else(|| TokenError::grant(format!("issuer '{iss}' is not trusted")))
}

/// `sub` must match the issuer's `--subjects` policy.
pub fn check_subject(issuer: &TrustedIssuer, claims: &Value) -> Result<(), String> {
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !assertion::subject_allowed(&issuer.subjects, sub) {
        return Err(format!("subject '{sub}' is not allowed for this issuer"));
    }
    Ok(())
}

pub async fn issuer_keys(app: &AppState, issuer: &TrustedIssuer, kid: Option<&str>) -> Result<Arc<JwkSet>, TokenError> {
    match (&issuer.jwks_json, &issuer.jwks_uri) {
        (Some(json), _) => crate::jwt::jwk_set::parse(json.as_bytes())
            .map(|(set, _)| Arc::new(set))
            .map_err(|_| TokenError::grant("the issuer's stored key set is invalid")),
        (None, Some(uri)) => app
            .jwks
            .get(uri, kid)
            .await
            .map_err(|e| TokenError::Unavailable(format!("the issuer's key set is unavailable: {e}").into())),
        (None, None) => Err(TokenError::grant("the issuer has no keys configured")),
    }
}

pub async fn handle(
    app: &AppState,
    client: Option<AuthedClient>,
    form: &Form,
    ip: IpAddr,
    now: i64,
) -> Result<TokenResponse, TokenError> {
    let token = form.require("assertion")?;
    let checked = check(app, token, now).await?;
    let issuer = checked.issuer.clone();
    let client = match client {
        Some(c) if !c.authenticated => {
            return Err(TokenError::unauthorized("public clients cannot use the jwt-bearer grant"))
        }
        Some(c) => AuthedClient { entry: Arc::new(within_issuer_scope(&c.entry, &issuer)), authenticated: true },
        None if issuer.client_auth == IssuerClientAuth::Optional => {
            AuthedClient { entry: Arc::new(issuer_as_client(&issuer, app)), authenticated: false }
        }
        None => return Err(TokenError::client("client authentication required for this issuer")),
    };
    let ctx = Ctx { app, client, form, now, ip };
    let oidc = issuer_oidc_scopes(&issuer);
    let (aud, scope) = resolve_target_or(&app.settings, &ctx.client.entry, form, &oidc, issuer.audience.as_deref())?;
    let Redeemed { user, sub: subject_id } = redeem(app, &checked, now).await?;
    let auth_time = checked.claims["iat"].as_i64().unwrap_or(now);
    let subject = Subject {
        sub: &subject_id,
        user: user.as_ref(),
        gty: "jwt-bearer",
        auth_time: Some(auth_time),
        nonce: None,
        idp: Some(&issuer.issuer),
        sid: None,
        requested: None,
    };
    issue(&ctx, subject, &aud, scope, Refresh::None).await
}

/// Whom a checked assertion is about, once its `jti` is used up.
pub struct Redeemed {
    pub user: Option<User>,
    pub sub: String,
}

/// Maps the subject of a checked assertion (provisioning when the issuer says so), then consumes
/// its `jti` (RFC 7523 §3 item 7): the last step, so a refused request does not use it up.
pub async fn redeem(app: &AppState, checked: &Checked, now: i64) -> Result<Redeemed, TokenError> {
    let issuer = &checked.issuer;
    let sub = checked.claims["sub"].as_str().unwrap_or_default();
    let user = map_subject(app, issuer, sub, &checked.claims, now).await?;
    consume_jti(app, checked).await?;
    let sub = match &user {
        Some(u) => subject::of_user(u).to_string(),
        None => subject::federated(&issuer.alias, sub),
    };
    Ok(Redeemed { user, sub })
}

/// Records the assertion's `jti` until it expires; a second use is a replay.
pub async fn consume_jti(app: &AppState, checked: &Checked) -> Result<(), TokenError> {
    let Some(jti) = checked.claims["jti"].as_str() else { return Ok(()) };
    let exp = (checked.claims["exp"].as_f64().unwrap_or(0.0) as i64).saturating_add(app.settings.jwt_clock_skew as i64);
    if !app.store.use_jti(&checked.issuer.issuer, jti, exp).await? {
        return Err(TokenError::grant("jti has already been used (replay)"));
    }
    Ok(())
}

/// The OIDC scopes the issuer's `--scope` lists. Never `offline_access`: this grant issues no
/// refresh token.
fn issuer_oidc_scopes(issuer: &TrustedIssuer) -> Vec<&str> {
    issuer.scope.split(' ').filter(|s| matches!(*s, "openid" | "profile" | "email")).collect()
}

/// The issuer's `--scope` without the OIDC scopes, which are not API scopes.
pub fn issuer_api_scopes(issuer: &TrustedIssuer) -> Vec<&str> {
    issuer.scope.split(' ').filter(|s| !s.is_empty() && !scope::OIDC_SCOPES.contains(s)).collect()
}

/// The client's grants, narrowed to the scopes the issuer may grant.
fn within_issuer_scope(entry: &ClientEntry, issuer: &TrustedIssuer) -> ClientEntry {
    let allowed = issuer_api_scopes(issuer);
    let grants = entry
        .grants
        .iter()
        .map(|g| ClientGrant {
            api: g.api.clone(),
            scopes: g.scopes.split(' ').filter(|s| allowed.contains(s)).collect::<Vec<_>>().join(" "),
        })
        .collect();
    ClientEntry { client: entry.client.clone(), grants }
}

/// With `--client-auth optional` and no client, the issuer's alias stands in as the client.
fn issuer_as_client(issuer: &TrustedIssuer, app: &AppState) -> ClientEntry {
    let api = issuer.audience.clone().or(app.settings.default_audience().map(str::to_string)).unwrap_or_default();
    let client = Client {
        id: issuer.alias.clone(),
        name: issuer.alias.clone(),
        secret_hash: None,
        public: true,
        grant_types: GRANT_TYPE.into(),
        redirect_uris: String::new(),
        allowed_origins: String::new(),
        first_party: false,
        disabled: false,
        created_at: issuer.created_at,
        updated_at: issuer.created_at,
        post_logout_redirect_uris: String::new(),
        auth_method: AuthMethod::ClientSecret,
        jwks_uri: None,
        jwks_json: None,
        require_pkce: false,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        origin: ClientOrigin::Operator,
    };
    ClientEntry { client, grants: vec![ClientGrant { api, scopes: issuer_api_scopes(issuer).join(" ") }] }
}

/// Who the subject maps to, found without writing anything (the dry run uses it too).
pub enum Mapped {
    /// `passthrough`: `<alias>|<sub>`, no local user.
    Passthrough(String),
    User(User),
    /// `provision`: the user does not exist yet and is created on first use.
    Provision(String),
}

pub async fn lookup_subject(app: &AppState, issuer: &TrustedIssuer, sub: &str) -> Result<Mapped, TokenError> {
    let id = subject::federated(&issuer.alias, sub);
    if issuer.map != SubjectMap::Link && subject::looks_like_client_subject(&id) {
        return Err(TokenError::grant("sub must not end in @clients, which marks client subjects"));
    }
    match issuer.map {
        SubjectMap::Passthrough => Ok(Mapped::Passthrough(id)),
        SubjectMap::Provision => match app.store.get_user(&id).await? {
            Some(u) if u.disabled => Err(TokenError::grant("the provisioned user is disabled")),
            Some(u) => Ok(Mapped::User(u)),
            None => Ok(Mapped::Provision(id)),
        },
        SubjectMap::Link => {
            let linked = app.store.linked_user(&issuer.issuer, sub).await?;
            let id = linked.ok_or_else(|| TokenError::grant("no local user is linked to this issuer and subject"))?;
            let user = app.store.get_user(&id).await?.filter(|u| !u.disabled);
            user.map(Mapped::User).ok_or_else(|| TokenError::grant("the linked user is disabled or deleted"))
        }
    }
}

async fn map_subject(
    app: &AppState,
    issuer: &TrustedIssuer,
    sub: &str,
    claims: &Value,
    now: i64,
) -> Result<Option<User>, TokenError> {
    match lookup_subject(app, issuer, sub).await? {
        Mapped::Passthrough(_) => Ok(None),
        Mapped::User(u) => Ok(Some(u)),
        Mapped::Provision(id) => provision(app, &id, claims, now).await.map(Some),
    }
}

async fn provision(app: &AppState, id: &str, claims: &Value, now: i64) -> Result<User, TokenError> {
    let user = User {
        id: id.to_string(),
        username: id.to_string(),
        username_lower: id.to_lowercase(),
        email: claims["email"].as_str().map(str::to_string),
        email_verified: claims["email_verified"].as_bool().unwrap_or(false),
        password_hash: None,
        disabled: false,
        failed_count: 0,
        failed_window_start: 0,
        locked_until: 0,
        created_at: now,
        updated_at: now,
        claims: "{}".into(),
    };
    match app.store.insert_user(&user).await {
        Ok(()) => Ok(user),
        // Two first requests at once: the other one created it.
        Err(crate::store::StoreError::Conflict) => {
            app.store.get_user(id).await?.ok_or_else(|| TokenError::grant("could not provision the user"))
        }
        Err(e) => Err(e.into()),
    }
}
