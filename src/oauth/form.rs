//! Form parameters (RFC 6749 §3.1, §3.2, Appendix B) and the Basic client credentials of §2.3.1.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::percent_decode;

use super::error::TokenError;

pub const MAX_PARAMS: usize = 64;

/// Form parameters. Empty values count as absent (§3.1); repeats are rejected (§3.2).
#[derive(Debug, Default)]
pub struct Form(HashMap<String, String>);

impl Form {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    pub fn require(&self, k: &str) -> Result<&str, TokenError> {
        self.get(k).ok_or_else(|| TokenError::request(format!("missing parameter: {k}")))
    }
}

pub fn parse_form(body: &[u8]) -> Result<Form, TokenError> {
    let mut map = HashMap::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if map.len() >= MAX_PARAMS {
            return Err(TokenError::request("too many parameters"));
        }
        let mut it = pair.splitn(2, |&b| b == b'=');
        let key = decode(it.next().unwrap_or_default())?;
        let value = decode(it.next().unwrap_or_default())?;
        if map.contains_key(&key) && key == "resource" {
            // RFC 8707 §2.2 lets the server refuse several resources: each token has one audience.
            return Err(TokenError::target("name one resource per token request: a token has one audience"));
        }
        if map.contains_key(&key) {
            return Err(TokenError::request(format!("parameter repeated: '{key}'")));
        }
        map.insert(key, value);
    }
    map.retain(|_, v| !v.is_empty());
    Ok(Form(map))
}

fn decode(raw: &[u8]) -> Result<String, TokenError> {
    let plus: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    let bytes: Vec<u8> = percent_decode(&plus).collect();
    // No parameter of ours may hold NUL, and PostgreSQL text cannot store it (SQLSTATE 22021).
    if bytes.contains(&0) {
        return Err(TokenError::request("parameters must not contain NUL characters"));
    }
    String::from_utf8(bytes).map_err(|_| TokenError::request("parameters must be UTF-8"))
}

/// Client credentials from `Authorization: Basic`, each part form-urlencoded (§2.3.1).
/// `Ok(None)` when there is no Authorization header at all.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || TokenError::client("client authentication failed");
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, b64) = value.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
    let (id, secret) = decoded.split_at(decoded.iter().position(|&b| b == b':').ok_or_else(bad)?);
    let id = decode(id).map_err(|_| bad())?;
    let secret = decode(&secret[1..]).map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_rejected_and_empty_ones_ignored() {
        assert!(parse_form(b"a=1&a=2").is_err());
        let f = parse_form(b"a=1&b=&c=x+y%21").unwrap(); // ok: unit test
        assert_eq!(f.get("b"), None);
        assert_eq!(f.get("c"), Some("x y!"));
    }

    #[test]
    fn invalid_utf8_and_nul_are_rejected() {
        assert!(parse_form(b"a=%ff").is_err());
        assert!(parse_form(b"a=x%00").is_err());
        assert!(parse_form(b"a%00=x").is_err());
    }

    #[test]
    fn basic_parts_are_form_decoded() {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode("my%3Aid:s%2Bcret"));
        h.insert(header::AUTHORIZATION, v.parse().unwrap()); // ok: unit test
        assert_eq!(basic_credentials(&h).unwrap(), Some(("my:id".into(), "s+cret".into()))); // ok: unit test
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap()); // ok: unit test
        assert!(basic_credentials(&h).is_err());
        for nul in ["a%00b:s", "a\0b:s", "a:s%00"] {
            h.insert(header::AUTHORIZATION, format!("Basic {}", STANDARD.encode(nul)).parse().unwrap()); // ok: unit test
            assert!(matches!(basic_credentials(&h), Err(TokenError::InvalidClient(_))), "{nul}");
        }
    }
}
