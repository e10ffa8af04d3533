//! OIDC Core §5: the standard claims a user may hold (§5.1), which of them each scope releases
//! (§5.4), the `claims` request parameter (§5.5, with `essential`, `value` and `values`), and
//! the authentication context oauthd achieves (`acr`, and RFC 8176 `amr`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::store::User;

/// The `acr` of a password login: the one authentication context oauthd has today.
pub const ACR_PASSWORD: &str = "urn:oauthd:pwd";
/// RFC 8176 §2: "pwd", password-based authentication.
pub const AMR_PASSWORD: &str = "pwd";

pub const PROFILE: [&str; 14] = [
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];
pub const EMAIL: [&str; 2] = ["email", "email_verified"];
pub const ADDRESS: [&str; 1] = ["address"];
pub const PHONE: [&str; 2] = ["phone_number", "phone_number_verified"];

/// The claims stored in a user's JSON column; `preferred_username` is the username, `email` and
/// `email_verified` have columns of their own, and `updated_at` is kept by the server.
pub const SETTABLE: [&str; 15] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
];
const ADDRESS_FIELDS: [&str; 6] = ["formatted", "street_address", "locality", "region", "postal_code", "country"];
const URL_CLAIMS: [&str; 3] = ["profile", "picture", "website"];
const MAX_LEN: usize = 2048;

/// Every claim discovery lists in `claims_supported`.
pub fn supported() -> Vec<&'static str> {
    let mut all = vec!["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "sid"];
    all.extend(PROFILE.iter().chain(&EMAIL).chain(&ADDRESS).chain(&PHONE));
    all
}

/// The claims the scopes of `scope` release (§5.4).
pub fn of_scope(scope: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    for s in scope.split(' ') {
        match s {
            "profile" => out.extend(PROFILE),
            "email" => out.extend(EMAIL),
            "address" => out.extend(ADDRESS),
            "phone" => out.extend(PHONE),
            _ => {}
        }
    }
    out
}

/// Every claim `user` has, except `sub`. Without a `name` of its own, the username stands in.
pub fn of_user(user: &User) -> Map<String, Value> {
    let mut m: Map<String, Value> = serde_json::from_str(&user.claims).unwrap_or_default();
    m.retain(|k, v| SETTABLE.contains(&k.as_str()) && !v.is_null());
    m.entry("name").or_insert_with(|| json!(user.username));
    m.insert("preferred_username".into(), json!(user.username));
    m.insert("updated_at".into(), json!(user.updated_at));
    if let Some(email) = &user.email {
        m.insert("email".into(), json!(email));
        m.insert("email_verified".into(), json!(user.email_verified));
    }
    m
}

/// The claims of `user` that `scope` or an explicit request (`extra`) releases.
pub fn release(user: &User, scope: &str, extra: &[String]) -> Map<String, Value> {
    let names = of_scope(scope);
    let mut m = of_user(user);
    m.retain(|k, _| names.contains(&k.as_str()) || extra.iter().any(|e| e == k));
    m
}

/// Claims checked for storing: the JSON-column claims (`null` means remove), and the email
/// columns when they were given (`Some(None)` removes the email).
pub struct Validated {
    pub claims: Map<String, Value>,
    pub email: Option<Option<String>>,
    pub email_verified: Option<bool>,
}

/// Checks claims to store on a user: known names, the right types, URLs where URLs belong.
/// A `null` value removes the claim. `email` and `email_verified` are returned apart.
pub fn validate(input: &Value) -> Result<Validated, String> {
    let obj = input.as_object().ok_or("claims must be a JSON object")?;
    let (mut out, mut email, mut verified) = (Map::new(), None, None);
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("email", Value::Null) => email = Some(None),
            ("email", Value::String(s)) if !s.is_empty() && s.len() <= MAX_LEN => email = Some(Some(s.clone())),
            ("email_verified", Value::Bool(b)) => verified = Some(*b),
            (name, Value::Null) if SETTABLE.contains(&name) => {
                out.insert(name.into(), Value::Null);
            }
            (name, v) if SETTABLE.contains(&name) => {
                check_value(name, v)?;
                out.insert(name.into(), v.clone());
            }
            ("sub" | "preferred_username" | "updated_at", _) => {
                return Err(format!("{k} is set by the server, not as a claim"));
            }
            (name, _) if SETTABLE.contains(&name) || EMAIL.contains(&name) => {
                return Err(format!("claim {k} has the wrong type"));
            }
            _ => return Err(format!("{k} is not an OIDC Core §5.1 standard claim")),
        }
    }
    Ok(Validated { claims: out, email, email_verified: verified })
}

fn check_value(name: &str, v: &Value) -> Result<(), String> {
    let bad = |why: &str| Err(format!("claim {name}: {why}"));
    match (name, v) {
        ("phone_number_verified", Value::Bool(_)) => Ok(()),
        ("phone_number_verified", _) => bad("must be true or false"),
        ("address", Value::Object(a)) => {
            for (k, v) in a {
                match v.as_str() {
                    Some(s) if ADDRESS_FIELDS.contains(&k.as_str()) && !s.is_empty() && s.len() <= MAX_LEN => {}
                    _ => return bad(&format!("{k} must be one of {} with a string value", ADDRESS_FIELDS.join(", "))),
                }
            }
            if a.is_empty() {
                return bad("must not be empty");
            }
            Ok(())
        }
        ("address", _) => bad("must be an object (OIDC Core §5.1.1)"),
        (_, Value::String(s)) if s.is_empty() || s.len() > MAX_LEN => bad("must be 1 to 2048 characters"),
        ("birthdate", Value::String(s)) if !is_birthdate(s) => bad("must be YYYY-MM-DD, 0000-MM-DD or YYYY"),
        (n, Value::String(s)) if URL_CLAIMS.contains(&n) && !is_web_url(s) => bad("must be an http(s) URL"),
        (_, Value::String(_)) => Ok(()),
        _ => bad("must be a string"),
    }
}

fn is_web_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// OIDC Core §5.1: ISO 8601 `YYYY-MM-DD`, with `0000` for an undisclosed year, or `YYYY` alone.
fn is_birthdate(s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y] => y.len() == 4 && digits(y),
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 && digits(y) && digits(m) && digits(d) => {
            let (m, d): (u32, u32) = (m.parse().unwrap_or(0), d.parse().unwrap_or(0));
            (1..=12).contains(&m) && (1..=31).contains(&d)
        }
        _ => false,
    }
}

/// What a `claims` request parameter (§5.5) asks for, reduced to what oauthd acts on.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Requested {
    /// Claims to return from /userinfo besides those of the scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    /// Claims to put in the ID token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    /// `acr` as an essential claim with the values it must have (§5.5.1.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub essential_acr: Vec<String>,
    /// `sub` with a `value`: only that user may be signed in (§5.5.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

impl Requested {
    /// Parses the parameter. Unknown claim names are ignored; a malformed document is not.
    pub fn parse(raw: &str) -> Result<Requested, &'static str> {
        let v: Value = serde_json::from_str(raw).map_err(|_| "claims must be a JSON object")?;
        let obj = v.as_object().ok_or("claims must be a JSON object")?;
        let mut out = Requested::default();
        for (member, list) in [("userinfo", &mut out.userinfo), ("id_token", &mut out.id_token)] {
            let Some(m) = obj.get(member) else { continue };
            let m = m.as_object().ok_or("claims.userinfo and claims.id_token must be objects")?;
            for (name, spec) in m {
                if !(spec.is_null() || spec.is_object()) {
                    return Err("each requested claim must be null or an object");
                }
                if spec.get("essential").is_some_and(|e| !e.is_boolean()) {
                    return Err("essential must be true or false");
                }
                match name.as_str() {
                    "acr" => out.essential_acr.extend(essential_values(spec)),
                    "sub" => out.sub = spec.get("value").and_then(Value::as_str).map(str::to_string),
                    n if supported().contains(&n) && !list.iter().any(|x| x == n) => list.push(n.to_string()),
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// Whether oauthd's authentication satisfies an essential `acr` request.
    pub fn acr_met(&self, achieved: &str) -> bool {
        self.essential_acr.is_empty() || self.essential_acr.iter().any(|a| a == achieved)
    }
}

/// The `value`/`values` of an essential request (a voluntary one never fails a login).
fn essential_values(spec: &Value) -> Vec<String> {
    if spec.get("essential") != Some(&Value::Bool(true)) {
        return Vec::new();
    }
    let mut out: Vec<String> = spec
        .get("values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    out.extend(spec.get("value").and_then(Value::as_str).map(str::to_string));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_parameter_keeps_known_names_and_essential_acr() {
        let r = Requested::parse(
            r#"{"userinfo":{"name":{"essential":true},"x-custom":null},
                "id_token":{"email":null,"acr":{"essential":true,"values":["a","b"]},"sub":{"value":"local|1"}}}"#,
        )
        .unwrap(); // ok: unit test
        assert_eq!(r.userinfo, ["name"]);
        assert_eq!(r.id_token, ["email"]);
        assert_eq!(r.essential_acr, ["a", "b"]);
        assert_eq!(r.sub.as_deref(), Some("local|1"));
        assert!(!r.acr_met(ACR_PASSWORD));
        let voluntary = Requested::parse(r#"{"id_token":{"acr":{"values":["x"]}}}"#).unwrap(); // ok: unit test
        assert!(voluntary.acr_met(ACR_PASSWORD));
    }

    #[test]
    fn malformed_claims_parameters_are_refused() {
        for bad in [
            "",
            "[]",
            "1",
            r#"{"userinfo":[]}"#,
            r#"{"userinfo":{"name":1}}"#,
            r#"{"id_token":{"name":{"essential":"yes"}}}"#,
        ] {
            assert!(Requested::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_claims_are_checked_by_type() {
        let ok = json!({"given_name": "Ada", "birthdate": "0000-12-10", "picture": "https://x.test/a.png",
                        "phone_number_verified": true, "address": {"country": "UK"}, "email": "a@x.test"});
        let v = validate(&ok).unwrap(); // ok: unit test
        assert_eq!(v.claims.len(), 5);
        assert_eq!(v.email, Some(Some("a@x.test".into())));
        for bad in [
            json!({"birthdate": "10/12/1815"}),
            json!({"picture": "javascript:alert(1)"}),
            json!({"nickname": ""}),
            json!({"address": "London"}),
            json!({"address": {"planet": "Earth"}}),
            json!({"sub": "x"}),
            json!({"favourite_colour": "blue"}),
            json!({"phone_number_verified": "yes"}),
            json!(["name"]),
        ] {
            assert!(validate(&bad).is_err(), "{bad}");
        }
    }
}
