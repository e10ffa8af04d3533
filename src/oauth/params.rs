//! Front-channel parameters (RFC 6749 §3.1, §4.1.2.1; OIDC Core §3.1.2.1): unknown parameters are
//! ignored, while a known one that is repeated, not UTF-8 or holds a NUL byte is recorded, so that
//! the request check can redirect with `invalid_request` once the client and redirect URI are known.
//! `resource` may be repeated (RFC 8707 §2.1): every value is kept, in order.

use percent_encoding::percent_decode;

use super::form::{parse_form, Form};

/// Pairs read before giving up, known or not.
pub const MAX_PAIRS: usize = 256;

/// The known parameters, and those of them that were repeated or malformed, with why.
pub struct Params {
    pub form: Form,
    pub bad: Vec<(String, &'static str)>,
    /// Every `resource` value, in order, without repeats; the form holds the first.
    pub resources: Vec<String>,
}

/// The one parameter that may be given several times.
const MULTI: &str = "resource";

impl Params {
    /// The first problem, as a sentence fragment: "scope is repeated".
    pub fn problem(&self) -> Option<String> {
        self.bad.first().map(|(k, why)| format!("{k} {why}"))
    }

    /// A problem with a parameter that decides where errors may be sent.
    pub fn problem_with(&self, keys: &[&str]) -> Option<String> {
        self.bad.iter().find(|(k, _)| keys.contains(&k.as_str())).map(|(k, why)| format!("{k} {why}"))
    }
}

/// Parses `a=1&b=2`, keeping only `known` keys.
pub fn parse(raw: &[u8], known: &[&str]) -> Result<Params, &'static str> {
    let mut kept: Vec<(String, String)> = Vec::new();
    let mut bad: Vec<(String, &'static str)> = Vec::new();
    let mut resources: Vec<String> = Vec::new();
    for (i, pair) in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()).enumerate() {
        if i >= MAX_PAIRS {
            return Err("The request has too many parameters.");
        }
        let mut it = pair.splitn(2, |&b| b == b'=');
        let Some(key) = decode(it.next().unwrap_or_default()).filter(|k| known.contains(&k.as_str())) else {
            continue;
        };
        if bad.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let value = decode(it.next().unwrap_or_default());
        if key == MULTI {
            match value {
                Some(v) if v.contains('\0') => bad.push((key, "contains a NUL byte")),
                Some(v) if v.is_empty() || resources.contains(&v) => {}
                Some(v) => {
                    if resources.is_empty() {
                        kept.push((key, v.clone()));
                    }
                    resources.push(v);
                }
                None => bad.push((key, "is not UTF-8")),
            }
            continue;
        }
        let problem = match value {
            _ if kept.iter().any(|(k, _)| *k == key) => "is repeated",
            None => "is not UTF-8",
            Some(v) if v.contains('\0') => "contains a NUL byte",
            Some(v) => {
                kept.push((key, v));
                continue;
            }
        };
        kept.retain(|(k, _)| *k != key);
        bad.push((key, problem));
    }
    // `Form` is built only by the shared parser; the kept pairs are few, unique and UTF-8, so
    // re-encoding them for it cannot fail.
    let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&kept).finish();
    let form = parse_form(encoded.as_bytes()).map_err(|_| "The request parameters are malformed.")?;
    if bad.iter().any(|(k, _)| k == MULTI) {
        resources.clear();
    }
    Ok(Params { form, bad, resources })
}

fn decode(raw: &[u8]) -> Option<String> {
    let plus: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    String::from_utf8(percent_decode(&plus).collect()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [&str; 3] = ["scope", "state", "client_id"];

    #[test]
    fn unknown_parameters_are_ignored_even_when_repeated_or_malformed() {
        let p = parse(b"x=1&x=2&y=%ff&%ff=1&scope=a+b&z=%00", &KNOWN).unwrap(); // ok: unit test
        assert!(p.bad.is_empty());
        assert_eq!(p.form.get("scope"), Some("a b"));
        assert_eq!(p.form.get("x"), None);
    }

    #[test]
    fn repeated_or_malformed_known_parameters_are_recorded_and_dropped() {
        let p = parse(b"scope=a&scope=b&scope=c&state=%ff&client_id=a%00b", &KNOWN).unwrap(); // ok: unit test
        assert_eq!(
            p.bad,
            [
                ("scope".into(), "is repeated"),
                ("state".into(), "is not UTF-8"),
                ("client_id".into(), "contains a NUL byte")
            ]
        );
        assert_eq!(p.form.get("scope"), None);
        assert_eq!(p.problem_with(&["client_id"]).as_deref(), Some("client_id contains a NUL byte"));
    }

    #[test]
    fn resource_may_be_repeated_and_keeps_its_order() {
        let known = ["resource", "scope"];
        let p =
            parse(b"resource=https%3A%2F%2Fb.test&resource=https%3A%2F%2Fa.test&resource=https%3A%2F%2Fb.test", &known)
                .unwrap(); // ok: unit test
        assert!(p.bad.is_empty());
        assert_eq!(p.resources, ["https://b.test", "https://a.test"]);
        assert_eq!(p.form.get("resource"), Some("https://b.test"));
        let p = parse(b"resource=a&resource=%ff", &known).unwrap(); // ok: unit test
        assert_eq!(p.problem().as_deref(), Some("resource is not UTF-8"));
        assert!(p.resources.is_empty());
    }

    #[test]
    fn pairs_are_capped_but_generously() {
        let many = vec!["u=1"; MAX_PAIRS].join("&");
        assert!(parse(many.as_bytes(), &KNOWN).is_ok());
        assert!(parse(format!("{many}&u=2").as_bytes(), &KNOWN).is_err());
    }
}
