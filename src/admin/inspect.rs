//! `oauthd token inspect`: verify a token against this server's keys and explain it in words.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::store::KeyRecord;

pub fn inspect(keys: &[KeyRecord], issuer: &str, token: &str, now: i64) -> Value {
    let token = token.trim();
    let Ok(header) = decode_header(token) else {
        return verdict(
            "malformed",
            "This is not a compact JWT (header.payload.signature). Refresh tokens are opaque and cannot be inspected.",
            Value::Null,
            Value::Null,
            vec![],
        );
    };
    let claims: Value = token
        .split('.')
        .nth(1)
        .and_then(|p| B64.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let header_json = serde_json::to_value(&header).unwrap_or(Value::Null);
    let explanation = explain(&header_json, &claims, now);
    let iss = claims["iss"].as_str().unwrap_or("");
    if iss != issuer {
        let msg = format!("Issued by {iss:?}, not by this server ({issuer}). Verify it with that issuer's keys.");
        return verdict("foreign_issuer", &msg, header_json, claims, explanation);
    }
    let Some(rec) = header.kid.as_deref().and_then(|kid| keys.iter().find(|k| k.kid == kid)) else {
        return verdict("unknown_key", "Signed with a key id this server never had.", header_json, claims, explanation);
    };
    let (Ok(jwk), Ok(alg)) = (serde_json::from_str::<Jwk>(&rec.public_jwk), rec.alg.parse::<Algorithm>()) else {
        return verdict("unknown_key", "The stored key could not be read.", header_json, claims, explanation);
    };
    let Ok(key) = DecodingKey::from_jwk(&jwk) else {
        return verdict("unknown_key", "The stored key could not be read.", header_json, claims, explanation);
    };
    // The algorithm comes from our key; a header naming another one fails here.
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    if decode::<Value>(token, &key, &v).is_err() {
        return verdict(
            "bad_signature",
            "The signature does not verify with this server's key: the token was altered or forged.",
            header_json,
            claims,
            explanation,
        );
    }
    match claims["exp"].as_i64() {
        Some(exp) if exp <= now => {
            let msg = format!("The signature is valid, but the token expired {} s ago.", now - exp);
            verdict("expired", &msg, header_json, claims, explanation)
        }
        Some(_) => {
            verdict("valid", "The signature is valid and the token has not expired.", header_json, claims, explanation)
        }
        None => verdict("invalid", "The token has no numeric exp claim.", header_json, claims, explanation),
    }
}

fn verdict(code: &str, summary: &str, header: Value, claims: Value, explanation: Vec<String>) -> Value {
    json!({ "verdict": code, "valid": code == "valid", "summary": summary, "header": header, "claims": claims, "explanation": explanation })
}

fn explain(header: &Value, c: &Value, now: i64) -> Vec<String> {
    let mut out = Vec::new();
    let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
    match header["typ"].as_str() {
        Some(t) if t.eq_ignore_ascii_case("at+jwt") => {
            out.push("This is an access token (RFC 9068, typ at+jwt).".into())
        }
        Some("JWT") => out.push(format!("This is an ID token for client {:?} (OIDC).", s("aud"))),
        other => out.push(format!("Token type {other:?}.")),
    }
    let gty = s("gty");
    if !gty.is_empty() {
        out.push(format!("It was minted by the {gty} grant (gty = {gty:?})."));
    }
    let sub = s("sub");
    if let Some(client) = sub.strip_suffix("@clients") {
        out.push(format!(
            "The subject is the client {client:?} itself, not a user: client_credentials tokens are about the client, so sub = <client_id>@clients. To get a token about a user, use a user flow (authorization code, password, or jwt-bearer)."
        ));
    } else if !sub.is_empty() {
        let conn = sub.split('|').next().unwrap_or("");
        out.push(format!(
            "The subject is the user {sub:?} (connection {conn:?}); the client was {:?}.",
            s("client_id").max(s("azp"))
        ));
    }
    if !c["aud"].is_null() {
        out.push(format!("Audience: {}.", c["aud"]));
    }
    let scope = s("scope");
    out.push(if scope.is_empty() { "No scopes.".into() } else { format!("Scopes: {scope}.") });
    if let Some(exp) = c["exp"].as_i64() {
        out.push(if exp > now {
            format!("Expires at {exp} (in {} s).", exp - now)
        } else {
            format!("Expired at {exp} ({} s ago).", now - exp)
        });
    }
    out
}
