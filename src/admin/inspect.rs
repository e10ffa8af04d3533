//! `oauthd token inspect`: verify a token against this server's keys (RFC 9068 §4, OIDC Core
//! §3.1.3.7) and explain it in words; refresh tokens are looked up by their hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::flows::grants::token_exchange::tokens;
use crate::oauth::refresh::{self, Presented, Standing};
use crate::oauth::subject;
use crate::store::{KeyRecord, RefreshFamily, Store, StoreError};

/// Inspects `token`: a JWT of ours is verified and checked against the deny list; anything else
/// is looked up as a refresh token.
pub async fn inspect_with_store(store: &dyn Store, issuer: &str, token: &str, now: i64) -> Result<Value, StoreError> {
    let token = token.trim();
    if decode_header(token).is_err() {
        let explained = match refresh::parse(token) {
            Some(p) => store.get_refresh_family(&p.family_id).await?.and_then(|f| refresh_verdict(&f, &p, now)),
            None => None,
        };
        return Ok(explained.unwrap_or_else(|| inspect(&[], issuer, token, now)));
    }
    let mut v = inspect(&store.list_keys().await?, issuer, token, now);
    let jti = v["claims"]["jti"].as_str().unwrap_or_default().to_string();
    if v["verdict"] == "valid" && !jti.is_empty() && store.is_jti_revoked(&jti).await? {
        v["verdict"] = "revoked".into();
        v["valid"] = false.into();
        v["summary"] = "The signature is valid, but the token was revoked (its jti is on the deny list, or names a revoked refresh family).".into();
    }
    Ok(v)
}

pub fn inspect(keys: &[KeyRecord], issuer: &str, token: &str, now: i64) -> Value {
    let token = token.trim();
    let claims: Option<Value> = token
        .split('.')
        .nth(1)
        .and_then(|p| B64.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object);
    let (Ok(header), Some(claims)) = (decode_header(token), claims) else {
        return verdict(
            "malformed",
            "This is neither a JWT (header.payload.signature) nor a refresh token this server knows.",
            Value::Null,
            Value::Null,
            vec![],
        );
    };
    let header_json = serde_json::to_value(&header).unwrap_or(Value::Null);
    let explanation = explain(&header_json, &claims, now);
    let iss = claims["iss"].as_str().unwrap_or("");
    if iss != issuer {
        let msg = format!("Issued by '{iss}', not by this server ({issuer}). Verify it with that issuer's keys.");
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
        Some(_) if claims["iat"].as_i64().is_some_and(|iat| iat > now + 60) => {
            verdict("invalid", "The token was issued in the future (iat).", header_json, claims, explanation)
        }
        Some(_) => {
            verdict("valid", "The signature is valid and the token has not expired.", header_json, claims, explanation)
        }
        None => verdict("invalid", "The token has no numeric exp claim.", header_json, claims, explanation),
    }
}

/// `None` for a token that names a family but is none of its tokens.
fn refresh_verdict(r: &RefreshFamily, p: &Presented, now: i64) -> Option<Value> {
    let (code, summary) = match refresh::standing(r, p, now, 0) {
        Standing::Revoked => ("revoked", "A refresh token of this server whose family was revoked."),
        Standing::Reused | Standing::Grace => {
            ("used", "A refresh token of this server that was already rotated; presenting it again revokes its family.")
        }
        Standing::Expired => ("expired", "A refresh token of this server that has expired."),
        Standing::Current => ("valid", "A live refresh token of this server."),
        Standing::Forged => return None,
    };
    let explanation = vec![
        "This is an opaque refresh token (RFC 6749 §6); it is stored only as a hash and rotates on every use.".into(),
        format!("It was first issued by the {} grant to client '{}' for the user '{}'.", r.gty, r.client_id, r.user_id),
        format!("Audience: {}. Scopes: {}.", r.audience, r.scope),
        format!(
            "It is generation {} of its family (one more per rotation), which is at generation {} and started {}.",
            p.generation,
            r.generation,
            when(r.created_at, now)
        ),
        if code == "valid" {
            format!(
                "Usable until {} (idle limit), at most until {} (absolute limit).",
                when(r.idle_expires_at, now),
                when(r.expires_at, now)
            )
        } else {
            format!("No longer usable: {summary}")
        },
    ];
    let claims = json!({ "client_id": r.client_id, "sub": r.user_id, "aud": r.audience, "scope": r.scope,
        "gty": r.gty, "iat": r.issued_at, "exp": r.idle_expires_at, "family_exp": r.expires_at,
        "generation": p.generation });
    Some(verdict(code, summary, Value::Null, claims, explanation))
}

/// A unix time in words: "Sun, 29 Nov 2026 19:00:00 GMT (in 3600 s)".
fn when(t: i64, now: i64) -> String {
    let date = u64::try_from(t)
        .ok()
        .and_then(|s| std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(s)))
        .map_or_else(|| t.to_string(), httpdate::fmt_http_date);
    if t > now {
        format!("{date} (in {} s)", t - now)
    } else {
        format!("{date} ({} s ago)", now.saturating_sub(t))
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
        Some("JWT") => out.push(format!("This is an ID token for client '{}' (OIDC).", s("aud"))),
        other => out.push(format!("Token type '{}'.", other.unwrap_or("none"))),
    }
    let gty = s("gty");
    if !gty.is_empty() {
        out.push(format!("It was minted by the {gty} grant (gty = '{gty}')."));
    }
    let idp = s("idp");
    if !idp.is_empty() {
        out.push(format!("It was exchanged for an assertion from the trusted issuer '{idp}' (RFC 7523)."));
    }
    let sub = s("sub");
    if let Some(client) = subject::client_of(&sub) {
        out.push(format!(
            "The subject is the client '{client}' itself, not a user: client_credentials tokens are about the client, so sub = <client_id>@clients. To get a token about a user, use a user flow (authorization code, password, or jwt-bearer)."
        ));
    } else if !sub.is_empty() {
        let conn = subject::connection_of(&sub);
        out.push(format!(
            "The subject is the user '{sub}' (connection '{conn}'); the client was '{}'.",
            s("client_id").max(s("azp"))
        ));
    }
    out.extend(explain_act(c, &gty));
    match &c["aud"] {
        Value::String(a) => out.push(format!("Audience: {a}.")),
        Value::Null => {}
        many => out.push(format!("Audiences: {many}.")),
    }
    let scope = s("scope");
    out.push(if scope.is_empty() { "No scopes.".into() } else { format!("Scopes: {scope}.") });
    if let Some(exp) = c["exp"].as_i64() {
        out.push(format!("{} {}.", if exp > now { "Expires" } else { "Expired" }, when(exp, now)));
    }
    out
}

/// RFC 8693 §4.1: who acts for the subject, the current actor first, each on behalf of the next.
fn explain_act(c: &Value, gty: &str) -> Vec<String> {
    let sub = c["sub"].as_str().unwrap_or("");
    let Some(act) = c.get("act").filter(|a| a.is_object()) else {
        return match gty {
            "token-exchange" => vec![format!(
                "No act claim: this is an impersonation token (RFC 8693 §1.1); to the API it is '{sub}' itself."
            )],
            _ => vec![],
        };
    };
    let chain = tokens::actors(act);
    let mut out = vec![format!(
        "Delegation (RFC 8693 §4.1): '{}' acts on behalf of '{sub}'; the API should authorize both.",
        chain[0]
    )];
    for pair in chain.windows(2) {
        out.push(format!("'{}' got the token it exchanged from '{}', who acted before it.", pair[0], pair[1]));
    }
    if chain.len() > 1 {
        out.push(format!("The chain, current actor first: {} -> {sub}.", chain.join(" -> ")));
    }
    out
}
