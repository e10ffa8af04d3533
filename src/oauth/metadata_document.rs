//! Client ID Metadata Documents, draft-ietf-oauth-client-id-metadata-document §3–4 and §8: which
//! client IDs are document URLs, and what a fetched document must say before its client may
//! use the authorization code flow. Pure: the fetch is `net::fetch`, the row is made by `state`.

use serde::Deserialize;
use serde_json::Value;

use super::redirect_uri;

/// §8.7: documents are small; 5 KB is the size the draft suggests as a limit.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// Longest client ID URL accepted.
const MAX_URL_LEN: usize = 2048;
/// Longest `client_name` shown; longer ones are cut.
const MAX_NAME_CHARS: usize = 80;

/// Whether `client_id` names a metadata document rather than a registered client: only those
/// start with `https://` (registered client IDs cannot contain ':').
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// §3: an https URL with a host and a path, no fragment, no user info, no dot segments. It must
/// be in the form the URL parser gives it, since the document's `client_id` is compared as a
/// string. Returns the host, lowercase, as the consent page shows it.
pub fn check_url(client_id: &str) -> Result<String, String> {
    if client_id.len() > MAX_URL_LEN {
        return Err("the client_id URL is too long".into());
    }
    let u = url::Url::parse(client_id).map_err(|_| "the client_id is not a URL".to_string())?;
    if u.scheme() != "https" {
        return Err("a client_id URL must use https".into());
    }
    if u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err("a client_id URL must not contain a fragment or user info".into());
    }
    if u.path() == "/" || u.path().is_empty() {
        return Err("a client_id URL must have a path".into());
    }
    if u.as_str() != client_id {
        return Err(format!("the client_id URL is not in canonical form (dot segments, case, default port): {u}"));
    }
    let host = u.host_str().ok_or("a client_id URL must have a host")?;
    Ok(host.to_ascii_lowercase())
}

/// Whether `host` may publish documents: any host when `allowed` is empty.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    allowed.is_empty() || allowed.iter().any(|a| a == host)
}

/// How a document's client authenticates at the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentAuth {
    /// A public client (`none`): PKCE is its protection.
    None,
    /// RFC 7523 client assertions checked against the key set at `jwks_uri`.
    PrivateKeyJwt { jwks_uri: String },
}

/// A document that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub client_id: String,
    /// The host of `client_id`: what the user can trust, unlike the name.
    pub host: String,
    /// The self-asserted `client_name`, or the host when there is none.
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// `authorization_code`, and `refresh_token` when the document lists it.
    pub grant_types: Vec<String>,
    pub auth: DocumentAuth,
}

#[derive(Deserialize)]
struct Raw {
    client_id: String,
    client_name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    jwks_uri: Option<String>,
}

/// Checks the document fetched from `url` (whose host is `host`).
pub fn parse(url: &str, host: &str, body: &[u8]) -> Result<Document, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the document is not JSON: {e}"))?;
    let Some(obj) = v.as_object() else { return Err("the document is not a JSON object".into()) };
    // §4.1: a document is public, so it can hold no shared secret.
    if obj.contains_key("client_secret") || obj.contains_key("client_secret_expires_at") {
        return Err("the document must not contain client_secret".into());
    }
    let raw: Raw = serde_json::from_value(v).map_err(|e| format!("the document is malformed: {e}"))?;
    if raw.client_id != url {
        return Err(format!("the document's client_id ({}) is not its URL", raw.client_id));
    }
    let redirect_uris = raw.redirect_uris.filter(|r| !r.is_empty()).ok_or("the document lists no redirect_uris")?;
    for uri in &redirect_uris {
        redirect_uri::validate(uri).map_err(|e| format!("redirect_uris: {e}"))?;
    }
    let grant_types = raw.grant_types.unwrap_or_else(|| vec!["authorization_code".into()]);
    if let Some(g) = grant_types.iter().find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token")) {
        return Err(format!("grant type {g} is not allowed (only authorization_code and refresh_token)"));
    }
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err("grant_types must include authorization_code".into());
    }
    if raw.response_types.is_some_and(|r| r.iter().any(|t| t != "code")) {
        return Err("only response_type code is allowed".into());
    }
    let auth = auth_of(raw.token_endpoint_auth_method.as_deref(), raw.jwks_uri)?;
    Ok(Document {
        client_id: raw.client_id,
        host: host.to_string(),
        name: display_name(raw.client_name.as_deref()).unwrap_or_else(|| host.to_string()),
        redirect_uris,
        grant_types,
        auth,
    })
}

/// An omitted method reads as `none`: RFC 7591's default (`client_secret_basic`) is impossible for
/// a document (§4.1), and `none` is what a client without a credential is.
fn auth_of(method: Option<&str>, jwks_uri: Option<String>) -> Result<DocumentAuth, String> {
    match method.unwrap_or("none") {
        "none" => Ok(DocumentAuth::None),
        "private_key_jwt" => {
            let uri = jwks_uri.ok_or("private_key_jwt needs a jwks_uri")?;
            if !uri.starts_with("https://") {
                return Err("jwks_uri must be an https URL".into());
            }
            Ok(DocumentAuth::PrivateKeyJwt { jwks_uri: uri })
        }
        m => Err(format!("token_endpoint_auth_method {m} is not allowed (only none or private_key_jwt)")),
    }
}

/// The name without control or bidirectional-override characters (which could make it read as
/// another name), trimmed and cut to a length a page can show.
fn display_name(name: Option<&str>) -> Option<String> {
    let hidden = |c: &char| {
        c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    let clean: String = name?.chars().filter(|c| !hidden(c)).take(MAX_NAME_CHARS).collect();
    Some(clean.trim().to_string()).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "https://app.example.com/oauth/client.json";

    fn doc(v: Value) -> Result<Document, String> {
        parse(URL, "app.example.com", v.to_string().as_bytes())
    }

    #[test]
    fn client_id_urls_need_https_a_path_and_canonical_form() {
        assert_eq!(check_url(URL).as_deref(), Ok("app.example.com"));
        assert!(check_url("https://app.example.com:8443/c?x=1").is_ok());
        for bad in [
            "http://app.example.com/c",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/a/../c",
            "https://app.example.com/./c",
            "https://APP.example.com/c",
            "https://app.example.com:443/c",
            "https://u:p@app.example.com/c",
            "https://app.example.com/c#f",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_minimal_public_document_is_accepted_with_its_host_as_a_fallback_name() {
        let d = doc(json!({"client_id": URL, "redirect_uris": ["https://app.example.com/cb"]})).unwrap(); // ok: unit test
        assert_eq!(d.auth, DocumentAuth::None);
        assert_eq!(d.name, "app.example.com");
        assert_eq!(d.grant_types, ["authorization_code"]);
    }

    #[test]
    fn documents_breaking_a_rule_are_refused() {
        let cb = json!(["https://app.example.com/cb"]);
        for bad in [
            json!({"client_id": "https://other.example.com/c", "redirect_uris": cb}),
            json!({"client_id": URL}),
            json!({"client_id": URL, "redirect_uris": []}),
            json!({"client_id": URL, "redirect_uris": ["http://app.example.com/cb"]}),
            json!({"client_id": URL, "redirect_uris": cb, "grant_types": ["authorization_code", "client_credentials"]}),
            json!({"client_id": URL, "redirect_uris": cb, "grant_types": ["refresh_token"]}),
            json!({"client_id": URL, "redirect_uris": cb, "response_types": ["token"]}),
            json!({"client_id": URL, "redirect_uris": cb, "token_endpoint_auth_method": "client_secret_basic"}),
            json!({"client_id": URL, "redirect_uris": cb, "token_endpoint_auth_method": "private_key_jwt"}),
            json!({"client_id": URL, "redirect_uris": cb, "client_secret": "s"}),
            json!([URL]),
        ] {
            assert!(doc(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_lose_control_characters_and_are_cut() {
        let long = "x".repeat(500);
        let d = doc(json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"], "client_name": long})).unwrap(); // ok: unit test
        assert_eq!(d.name.chars().count(), MAX_NAME_CHARS);
        assert_eq!(display_name(Some("A\u{202e}B\n")).as_deref(), Some("AB"));
        assert_eq!(display_name(Some("  ")), None);
    }
}
