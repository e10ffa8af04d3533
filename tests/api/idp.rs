//! A fake identity provider: signing keys, a JWKS endpoint on a random port whose behaviour
//! tests can change, and a counter of every request it receives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oauthd::jwt::keys::{generate, Alg};
use oauthd::store::KeyRecord;
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Normal,
    Hang,
    Fail,
    Redirect,
    Oversized,
}

pub struct IdpState {
    pub keys: Mutex<Vec<KeyRecord>>,
    pub mode: Mutex<Mode>,
    pub hits: AtomicUsize,
    /// Raw JWKs published after the keys (for keys we cannot or must not use).
    pub extra: Mutex<Vec<Value>>,
    /// The `issuer` its discovery document names.
    pub issuer: Mutex<String>,
}

pub struct Idp {
    pub base: String,
    pub state: Arc<IdpState>,
}

async fn jwks(State(s): State<Arc<IdpState>>) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let mode = *s.mode.lock().unwrap();
    match mode {
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Redirect => (StatusCode::FOUND, [(header::LOCATION, "http://127.0.0.1:1/jwks")]).into_response(),
        Mode::Oversized => {
            let pad = "x".repeat(2 * 1024 * 1024);
            ([(header::CONTENT_TYPE, "application/json")], format!("{{\"keys\":[],\"pad\":\"{pad}\"}}")).into_response()
        }
        Mode::Normal => {
            let mut keys: Vec<Value> =
                s.keys.lock().unwrap().iter().map(|k| serde_json::from_str(&k.public_jwk).unwrap()).collect();
            keys.extend(s.extra.lock().unwrap().iter().cloned());
            ([(header::CACHE_CONTROL, "max-age=600")], axum::Json(json!({ "keys": keys }))).into_response()
        }
    }
}

/// OIDC Discovery: only at `<issuer>/.well-known/openid-configuration`, never at `//.well-known`.
async fn discovery(State(s): State<Arc<IdpState>>) -> axum::Json<Value> {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let issuer = s.issuer.lock().unwrap().clone();
    axum::Json(json!({ "issuer": issuer, "jwks_uri": format!("{}/jwks", issuer.trim_end_matches('/')) }))
}

async fn count(State(s): State<Arc<IdpState>>) -> StatusCode {
    s.hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}

impl Idp {
    pub async fn start() -> Idp {
        let state = Arc::new(IdpState {
            keys: Mutex::new(vec![generate(Alg::ES256, 0).unwrap()]),
            mode: Mutex::new(Mode::Normal),
            hits: AtomicUsize::new(0),
            extra: Mutex::new(Vec::new()),
            issuer: Mutex::new(String::new()),
        });
        let app = axum::Router::new()
            .route("/jwks", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .fallback(count)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        *state.issuer.lock().unwrap() = base.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Idp { base, state }
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.base)
    }

    pub fn key(&self) -> KeyRecord {
        self.state.keys.lock().unwrap()[0].clone()
    }

    pub fn set_mode(&self, m: Mode) {
        *self.state.mode.lock().unwrap() = m;
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Replaces the signing key (the old one stops being published).
    pub fn rotate(&self) -> KeyRecord {
        let k = generate(Alg::ES256, 0).unwrap();
        *self.state.keys.lock().unwrap() = vec![k.clone()];
        k
    }
}

/// Signs `claims` with `key` (ES256 PKCS#8) and the given header tweaks.
pub fn sign(key: &KeyRecord, claims: &Value, tweak: impl FnOnce(&mut Header)) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(key.kid.clone());
    h.typ = Some("JWT".into());
    tweak(&mut h);
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_ec_der(&key.private_der)).unwrap()
}

/// Standard claims for an assertion to `audience`.
pub fn claims(iss: &str, sub: &str, audience: &str) -> Value {
    let now = oauthd::clock::now();
    json!({ "iss": iss, "sub": sub, "aud": audience, "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string() })
}

/// A header-only JWS with arbitrary header and claims, signed with garbage (for shape tests).
pub fn raw(header: &Value, claims: &Value, sig: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    format!("{}.{}.{sig}", B64.encode(header.to_string()), B64.encode(claims.to_string()))
}
