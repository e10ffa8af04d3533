//! Resource indicators, RFC 8707 §2: a `resource` is an absolute URI without a fragment, compared
//! in the canonical form of the MCP authorization spec (lowercase scheme and host, no default
//! port, a trailing slash not significant). A code or refresh token records its targets: every
//! audience it may mint for, each with the scope granted there; a token names one of them.

use serde::{Deserialize, Serialize};

/// The canonical form of `uri`, or `None` when it is not an absolute URI or has a fragment.
pub fn canonical(uri: &str) -> Option<String> {
    if uri.contains('#') || uri.trim() != uri {
        return None;
    }
    let u = url::Url::parse(uri).ok()?;
    let mut s = u.to_string();
    if u.query().is_none() && s.ends_with('/') {
        s.pop();
    }
    Some(s)
}

/// Whether the requested `resource` names the API registered as `identifier`.
pub fn names(resource: &str, identifier: &str) -> bool {
    canonical(resource).is_some_and(|c| Some(c) == canonical(identifier))
}

/// One audience a grant may mint access tokens for, with the scope granted on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub aud: String,
    pub scope: String,
}

/// The stored form of a grant's targets.
pub fn encode(targets: &[Target]) -> String {
    serde_json::to_string(targets).unwrap_or_default()
}

/// The targets stored with a code or refresh family; one made before they were recorded (or
/// unreadable) has its one audience and scope.
pub fn decode(stored: &str, aud: &str, scope: &str) -> Vec<Target> {
    match serde_json::from_str::<Vec<Target>>(stored) {
        Ok(t) if !t.is_empty() => t,
        _ => vec![Target { aud: aud.into(), scope: scope.into() }],
    }
}

/// The target a token request names: by `resource` (canonically) or `audience` (exactly), else
/// the one whose audience is `default`. `None` when the request names none of them.
pub fn select<'t>(
    targets: &'t [Target],
    resource: Option<&str>,
    audience: Option<&str>,
    default: &str,
) -> Option<&'t Target> {
    match (resource, audience) {
        (Some(r), _) => targets.iter().find(|t| names(r, &t.aud)),
        (None, Some(a)) => targets.iter().find(|t| t.aud == a),
        (None, None) => targets.iter().find(|t| t.aud == default).or(targets.first()),
    }
}

/// The audiences of `targets`, for an error message.
pub fn list(targets: &[Target]) -> String {
    targets.iter().map(|t| format!("'{}'", t.aud)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uris_lowercase_scheme_and_host_and_drop_the_trailing_slash() {
        for same in ["https://mcp.example.com/mcp", "HTTPS://MCP.Example.com/mcp/", "https://mcp.example.com:443/mcp"] {
            assert_eq!(canonical(same).as_deref(), Some("https://mcp.example.com/mcp"), "{same}");
        }
        assert_eq!(canonical("https://mcp.example.com/").as_deref(), Some("https://mcp.example.com"));
        assert_eq!(canonical("https://mcp.example.com").as_deref(), Some("https://mcp.example.com"));
        assert_ne!(
            canonical("https://mcp.example.com/MCP"),
            canonical("https://mcp.example.com/mcp"),
            "paths keep case"
        );
        assert_eq!(canonical("https://x.test/a/?q=1").as_deref(), Some("https://x.test/a/?q=1"));
    }

    #[test]
    fn fragments_relative_references_and_padding_are_not_resources() {
        for bad in ["https://mcp.example.com/mcp#frag", "mcp.example.com", "/mcp", "x", "", " https://a.test"] {
            assert_eq!(canonical(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_request_selects_a_recorded_target_or_the_default() {
        let t = |aud: &str| Target { aud: aud.into(), scope: String::new() };
        let targets = [t("https://a.test"), t("https://b.test/mcp"), t("orders")];
        assert_eq!(select(&targets, Some("https://B.test/mcp/"), None, "").unwrap().aud, "https://b.test/mcp");
        assert_eq!(select(&targets, None, Some("orders"), "").unwrap().aud, "orders");
        assert!(select(&targets, None, Some("https://b.test/mcp/"), "").is_none(), "audience is exact");
        assert!(select(&targets, Some("https://c.test"), None, "").is_none());
        assert_eq!(select(&targets, None, None, "https://b.test/mcp").unwrap().aud, "https://b.test/mcp");
        assert_eq!(decode("", "aud", "s"), vec![Target { aud: "aud".into(), scope: "s".into() }]);
        assert_eq!(decode(&encode(&targets), "", ""), targets);
    }
}
