//! The ceiling oauthd's client_credentials path is measured against (bench/ratios.sh): a minimal
//! axum POST /token that parses the form, checks HTTP Basic against a SHA-256 digest of the
//! secret in constant time, and returns an RFC 9068 access token with the claims oauthd issues,
//! signed ES256 with an aws-lc-rs key parsed once at startup. No database, no cache, no limits.
//!
//! Environment: BENCH_REF_BIND (127.0.0.1:8099), BENCH_CLIENT_ID, BENCH_CLIENT_SECRET_SHA256 (hex),
//! BENCH_AUDIENCE, BENCH_SCOPE, BENCH_ISSUER (http://<bind>), BENCH_TTL (3600).

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{routing::post, Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

struct Ref {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    header_b64: String,
    client_id: String,
    digest: Vec<u8>,
    iss: String,
    aud: String,
    scope: String,
    ttl: i64,
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    audience: Option<String>,
    scope: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    client_id: &'a str,
    azp: &'a str,
    scope: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    gty: &'static str,
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(json!({ "error": code }))).into_response()
}

fn authenticated(r: &Ref, headers: &HeaderMap) -> bool {
    let Some(b64) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(raw) = STANDARD.decode(b64.trim()) else { return false };
    let Some(i) = raw.iter().position(|&b| b == b':') else { return false };
    let dec = |b: &[u8]| percent_encoding::percent_decode(b).decode_utf8().map(|s| s.into_owned());
    let (Ok(id), Ok(secret)) = (dec(&raw[..i]), dec(&raw[i + 1..])) else { return false };
    let ok: bool = Sha256::digest(secret.as_bytes()).as_slice().ct_eq(&r.digest).into();
    ok && id == r.client_id
}

async fn token(State(r): State<Arc<Ref>>, headers: HeaderMap, Form(f): Form<TokenForm>) -> Response {
    if f.grant_type != "client_credentials" {
        return error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if !authenticated(&r, &headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if f.audience.as_deref() != Some(r.aud.as_str()) {
        return error(StatusCode::BAD_REQUEST, "invalid_target");
    }
    let scope = match f.scope.as_deref() {
        None => r.scope.clone(),
        Some(s) if s.split(' ').all(|x| r.scope.split(' ').any(|y| x == y)) => s.to_string(),
        Some(_) => return error(StatusCode::BAD_REQUEST, "invalid_scope"),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = Claims {
        iss: &r.iss,
        sub: format!("{}@clients", r.client_id),
        aud: &r.aud,
        client_id: &r.client_id,
        azp: &r.client_id,
        scope: &scope,
        iat: now,
        exp: now + r.ttl,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        gty: "client-credentials",
    };
    let mut jwt = r.header_b64.clone();
    jwt.push('.');
    B64.encode_string(serde_json::to_vec(&claims).unwrap(), &mut jwt);
    let Ok(sig) = r.key.sign(&r.rng, jwt.as_bytes()) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    };
    jwt.push('.');
    B64.encode_string(sig.as_ref(), &mut jwt);
    let body = json!({"access_token": jwt, "token_type": "Bearer", "expires_in": r.ttl, "scope": scope});
    ([(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], Json(body)).into_response()
}

#[tokio::main]
async fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let bind = env("BENCH_REF_BIND", "127.0.0.1:8099");
    let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap().to_pkcs8v1().unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let (x, y) = key.public_key().as_ref()[1..].split_at(32);
    // RFC 7638 thumbprint, as oauthd's kids.
    let jwk = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, B64.encode(x), B64.encode(y));
    let kid = B64.encode(Sha256::digest(jwk.as_bytes()));
    let state = Arc::new(Ref {
        key,
        rng: SystemRandom::new(),
        header_b64: B64.encode(format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}"}}"#)),
        client_id: std::env::var("BENCH_CLIENT_ID").expect("BENCH_CLIENT_ID"),
        digest: hex::decode(std::env::var("BENCH_CLIENT_SECRET_SHA256").expect("BENCH_CLIENT_SECRET_SHA256")).unwrap(),
        iss: env("BENCH_ISSUER", &format!("http://{bind}")),
        aud: env("BENCH_AUDIENCE", "https://bench.example"),
        scope: env("BENCH_SCOPE", "read:bench"),
        ttl: env("BENCH_TTL", "3600").parse().unwrap(),
    });
    let app = Router::new().route("/token", post(token)).with_state(state);
    let listener = tokio::net::TcpListener::bind(&bind).await.unwrap();
    eprintln!("bench_reference listening on {bind}");
    axum::serve(listener, app).await.unwrap();
}
