//! Scope syntax and narrowing, RFC 6749 §3.3.

/// OIDC scopes that user flows may request on top of an API's scopes (OIDC Core §5.4, §11).
pub const OIDC_SCOPES: [&str; 6] = ["openid", "profile", "email", "address", "phone", "offline_access"];

/// Checks the RFC 6749 §3.3 scope-token grammar: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_valid_token(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Splits a space-delimited scope string, rejecting malformed tokens.
pub fn parse(s: &str) -> Result<Vec<&str>, String> {
    let mut out: Vec<&str> = Vec::new();
    for t in s.split(' ').filter(|t| !t.is_empty()) {
        if !is_valid_token(t) {
            return Err("scope contains invalid characters".into());
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// The scope to grant: the requested scopes if all are allowed, or everything allowed when none
/// was requested. Returns the offending scope on failure.
pub fn narrow(requested: Option<&str>, allowed: &[&str]) -> Result<String, String> {
    match requested {
        None => Ok(allowed.join(" ")),
        Some(req) => {
            let req = parse(req)?;
            if let Some(bad) = req.iter().find(|t| !allowed.contains(t)) {
                return Err(format!("scope '{bad}' is not allowed"));
            }
            Ok(req.join(" "))
        }
    }
}

pub fn contains(scope: &str, token: &str) -> bool {
    scope.split(' ').any(|t| t == token)
}

/// `scope` without `token`.
pub fn without(scope: &str, token: &str) -> String {
    scope.split(' ').filter(|t| !t.is_empty() && *t != token).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_request_grants_everything_allowed() {
        assert_eq!(narrow(None, &["a", "b"]).unwrap(), "a b");
    }

    #[test]
    fn a_subset_is_granted_and_a_superset_is_refused() {
        assert_eq!(narrow(Some("b"), &["a", "b"]).unwrap(), "b");
        assert!(narrow(Some("a c"), &["a", "b"]).is_err());
    }

    #[test]
    fn quotes_and_backslashes_are_not_scope_characters() {
        assert!(parse("a\"b").is_err());
        assert!(parse("a\\b").is_err());
        assert!(parse("é").is_err());
        assert_eq!(parse("read:x  write:x").unwrap(), vec!["read:x", "write:x"]);
    }
}
