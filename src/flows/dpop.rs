//! DPoP at our endpoints, RFC 9449: the proof of a token request (§5), the server nonce (§8)
//! and the proof that goes with a DPoP-bound access token at a resource (§7). The proof's checks
//! are `jwt::dpop`; here its `jti` is consumed (§11.1) in the store every instance shares.

use axum::http::HeaderMap;

use crate::jwt::dpop::{self, Expect, Proof};
use crate::oauth::TokenError;
use crate::state::AppState;
use crate::store::{Client, StoreError};

/// Why a proof was refused: its own fault, a nonce the client must fetch first, or storage.
#[derive(Debug)]
pub enum Refused {
    Proof(String),
    /// The nonce the proof must carry.
    Nonce(String),
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

impl From<Refused> for TokenError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Proof(d) => TokenError::dpop(d),
            Refused::Nonce(n) => TokenError::UseDpopNonce(n),
            Refused::Store(e) => e.into(),
        }
    }
}

/// The request's one `DPoP` header (§4.3 item 1), if it has one.
pub fn header(headers: &HeaderMap) -> Result<Option<&str>, Refused> {
    let mut all = headers.get_all("dpop").iter();
    match (all.next(), all.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(Refused::Proof("more than one DPoP header".into())),
        (Some(v), None) => v.to_str().map(Some).map_err(|_| Refused::Proof("the DPoP header is not a JWT".into())),
    }
}

/// Whether `client`'s proofs must carry a server nonce (`None`: a jwt-bearer request that names
/// no client).
pub fn nonce_required(app: &AppState, client: Option<&Client>) -> bool {
    app.settings.require_dpop_nonce || client.is_some_and(|c| c.require_dpop_nonce)
}

/// The nonce to send in `DPoP-Nonce` with a successful answer, when the client needs one.
pub async fn next_nonce(app: &AppState, client: Option<&Client>, now: i64) -> Result<Option<String>, StoreError> {
    if !nonce_required(app, client) {
        return Ok(None);
    }
    Ok(Some(app.dpop_nonces().await?.current(now)))
}

/// §5: checks the proof of a token request by `client` and consumes its `jti`. Returns the key
/// thumbprint the tokens are bound to; `None` when there is no proof, which a client registered
/// with `dpop_bound_access_tokens` (§5.2) may not send.
pub async fn token_request(
    app: &AppState,
    headers: &HeaderMap,
    client: Option<&Client>,
    now: i64,
) -> Result<Option<String>, TokenError> {
    let Some(raw) = header(headers)? else {
        if client.is_some_and(|c| c.dpop_bound_access_tokens) {
            return Err(TokenError::request("this client must send a DPoP proof (dpop_bound_access_tokens)"));
        }
        return Ok(None);
    };
    let endpoint = app.settings.token_endpoint();
    let want = Expect { htm: "POST", htu: &endpoint, now, window: window(app), access_token: None };
    Ok(Some(accept(app, raw, &want, nonce_required(app, client)).await?.jkt))
}

/// Runs every check on `raw`, then the nonce when `need_nonce`, then consumes the `jti`.
pub async fn accept(app: &AppState, raw: &str, want: &Expect<'_>, need_nonce: bool) -> Result<Proof, Refused> {
    let proof = dpop::verify(raw, want).map_err(Refused::Proof)?;
    if need_nonce {
        let nonces = app.dpop_nonces().await?;
        if !proof.nonce.as_deref().is_some_and(|n| nonces.accepts(n, want.now)) {
            return Err(Refused::Nonce(nonces.current(want.now)));
        }
    }
    if !app.store.use_dpop_jti(&proof.replay_key(), proof.remember_until).await? {
        return Err(Refused::Proof("the proof was already used (jti replay)".into()));
    }
    Ok(proof)
}

/// `dpop_proof_window` as the signed seconds the checks compare with.
pub fn window(app: &AppState) -> i64 {
    i64::try_from(app.settings.dpop_proof_window).unwrap_or(60)
}

/// §10 and §5: a code or refresh token bound to `bound` needs a proof with that very key.
pub fn check_binding(bound: Option<&str>, proof: Option<&str>, what: &str) -> Result<(), TokenError> {
    match (bound, proof) {
        (None, _) => Ok(()),
        (Some(b), Some(p)) if b == p => Ok(()),
        (Some(_), Some(_)) => Err(TokenError::grant(format!("the {what} is bound to another DPoP key"))),
        (Some(_), None) => Err(TokenError::dpop(format!("the {what} is bound to a DPoP key: send a proof with it"))),
    }
}
