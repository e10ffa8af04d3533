//! RFC 7591 §2 client metadata as oauthd registers it: redirect URIs by OIDC Registration 1.0 §2
//! `application_type` and RFC 8252 §7, grant and response types (§2.1), authentication methods,
//! and the §3.2.2 error codes. Pure: the caller says which grants the registration may have.

use serde_json::{json, Map, Value};
use url::{Host, Url};

use super::redirect_uri;
use crate::store::StoreError;

/// Registration endpoint errors, RFC 7591 §3.2.2, and RFC 6750 §3.1 for the bearer tokens
/// (initial and registration access tokens) that guard it.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The value of one or more redirection URIs is invalid.
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    /// The value of one of the client metadata fields is invalid and the server has rejected
    /// this request.
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(String),
    /// The `registration` setting is `off`: 404, as for any unknown endpoint.
    #[error("registration is off")]
    Disabled,
    /// No bearer token where one is required: 401 with a bare `Bearer` challenge.
    #[error("missing token")]
    MissingToken(&'static str),
    /// The access token provided is expired, revoked, malformed, or invalid: 401.
    #[error("invalid_token: {0}")]
    InvalidToken(&'static str),
    /// The body is larger than the endpoint accepts: 413.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Too many registrations from this address: 429 with `Retry-After`.
    #[error("too many registrations")]
    TooManyRequests { retry_after: u64 },
    /// Storage is unreachable: 503.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable,
    /// Anything unexpected: logged, answered as a bare 500.
    #[error("server_error: {0}")]
    Internal(anyhow::Error),
}

impl From<StoreError> for RegistrationError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "storage unavailable");
                RegistrationError::TemporarilyUnavailable
            }
            StoreError::InvalidInput(_) => meta("a value contains characters that are not allowed"),
            other => RegistrationError::Internal(other.into()),
        }
    }
}

fn meta(d: impl Into<String>) -> RegistrationError {
    RegistrationError::InvalidClientMetadata(d.into())
}

fn redirect(d: impl Into<String>) -> RegistrationError {
    RegistrationError::InvalidRedirectUri(d.into())
}

/// Limits on what one registration may hold.
const MAX_REDIRECT_URIS: usize = 20;
const MAX_URI_LEN: usize = 2000;
const MAX_TEXT_LEN: usize = 200;
const MAX_CONTACTS: usize = 10;

/// The optional descriptive fields, echoed as registered.
const URI_FIELDS: [&str; 4] = ["client_uri", "logo_uri", "tos_uri", "policy_uri"];
const TEXT_FIELDS: [&str; 3] = ["client_name", "software_id", "software_version"];

/// OIDC Registration 1.0 §2: `web` (the default) or `native`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplicationType {
    Web,
    Native,
}

/// `token_endpoint_auth_method` values a registered client may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointAuth {
    None,
    ClientSecretBasic,
    ClientSecretPost,
}

impl EndpointAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointAuth::None => "none",
            EndpointAuth::ClientSecretBasic => "client_secret_basic",
            EndpointAuth::ClientSecretPost => "client_secret_post",
        }
    }
}

/// Validated metadata of one registration.
#[derive(Clone, Debug)]
pub struct Metadata {
    pub application_type: ApplicationType,
    pub auth: EndpointAuth,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    /// `client_name`, the URIs, `software_id`/`_version`, `contacts`, as registered.
    pub descriptive: Map<String, Value>,
}

impl Metadata {
    pub fn client_name(&self) -> Option<&str> {
        self.descriptive.get("client_name").and_then(Value::as_str)
    }

    /// The registered metadata, as the registration and read responses return it (§3.2.1).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = self.descriptive.clone();
        m.insert(
            "application_type".into(),
            json!(match self.application_type {
                ApplicationType::Web => "web",
                ApplicationType::Native => "native",
            }),
        );
        m.insert("token_endpoint_auth_method".into(), json!(self.auth.as_str()));
        m.insert("redirect_uris".into(), json!(self.redirect_uris));
        m.insert("grant_types".into(), json!(self.grant_types));
        m.insert("response_types".into(), json!(self.response_types));
        m
    }
}

/// Parses and checks a registration (or RFC 7592 update) request. Fields oauthd does not
/// register (`scope`, `jwks`, `software_statement`, …) are ignored, as §2 and §3.1.1 allow: the
/// response lists what was registered. `client_credentials` is allowed only when the caller says so.
pub fn parse(body: &Value, allow_client_credentials: bool) -> Result<Metadata, RegistrationError> {
    let obj = body.as_object().ok_or_else(|| meta("the request body must be a JSON object"))?;
    let application_type = match obj.get("application_type") {
        None | Some(Value::Null) => ApplicationType::Web,
        Some(v) if v == "web" => ApplicationType::Web,
        Some(v) if v == "native" => ApplicationType::Native,
        Some(_) => return Err(meta("application_type must be web or native")),
    };
    let auth = match obj.get("token_endpoint_auth_method") {
        // §2: the default is client_secret_basic.
        None | Some(Value::Null) => EndpointAuth::ClientSecretBasic,
        Some(v) if v == "none" => EndpointAuth::None,
        Some(v) if v == "client_secret_basic" => EndpointAuth::ClientSecretBasic,
        Some(v) if v == "client_secret_post" => EndpointAuth::ClientSecretPost,
        Some(_) => {
            return Err(meta("token_endpoint_auth_method must be none, client_secret_basic or client_secret_post"))
        }
    };
    let grant_types = grant_types(obj, auth, allow_client_credentials)?;
    let code_flow = grant_types.iter().any(|g| g == "authorization_code");
    let response_types = match strings(obj, "response_types", 4)? {
        None => {
            if code_flow {
                vec!["code".to_string()]
            } else {
                vec![]
            }
        }
        Some(r) => r,
    };
    if response_types.iter().any(|r| r != "code") {
        return Err(meta("response_types may only contain code"));
    }
    // §2.1: authorization_code goes with the code response type, and the other way round.
    if code_flow != response_types.iter().any(|r| r == "code") {
        return Err(meta("grant_types authorization_code and response_types code go together"));
    }
    let redirect_uris = redirect_uris(obj, application_type, code_flow)?;
    Ok(Metadata { application_type, auth, redirect_uris, grant_types, response_types, descriptive: descriptive(obj)? })
}

/// §2 `grant_types` (default `authorization_code`): only the code flow and refresh tokens, plus
/// `client_credentials` for a confidential client when allowed; never `password`.
fn grant_types(
    obj: &Map<String, Value>,
    auth: EndpointAuth,
    allow_client_credentials: bool,
) -> Result<Vec<String>, RegistrationError> {
    let mut grants = strings(obj, "grant_types", 8)?.unwrap_or_else(|| vec!["authorization_code".into()]);
    let mut seen: Vec<String> = Vec::new();
    grants.retain(|g| {
        !seen.contains(g) && {
            seen.push(g.clone());
            true
        }
    });
    if grants.is_empty() {
        return Err(meta("grant_types must not be empty"));
    }
    for g in &grants {
        match g.as_str() {
            "authorization_code" | "refresh_token" => {}
            "client_credentials" if !allow_client_credentials => {
                return Err(meta("client_credentials needs a registration with an initial access token"))
            }
            "client_credentials" if auth == EndpointAuth::None => {
                return Err(meta("client_credentials needs a client secret (token_endpoint_auth_method none has none)"))
            }
            "client_credentials" => {}
            "password" => return Err(meta("the password grant is never available to registered clients")),
            other => return Err(meta(format!("grant type {other} is not available to registered clients"))),
        }
    }
    if grants.iter().any(|g| g == "refresh_token") && !grants.iter().any(|g| g == "authorization_code") {
        return Err(meta("refresh_token needs authorization_code"));
    }
    Ok(grants)
}

/// `redirect_uris`: required for the code flow; each is in the canonical form /authorize compares,
/// and of a kind the application type allows.
fn redirect_uris(
    obj: &Map<String, Value>,
    app: ApplicationType,
    code_flow: bool,
) -> Result<Vec<String>, RegistrationError> {
    let uris = match obj.get("redirect_uris") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) if a.len() <= MAX_REDIRECT_URIS => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| redirect("redirect_uris must be strings")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) => return Err(redirect(format!("at most {MAX_REDIRECT_URIS} redirect_uris"))),
        Some(_) => return Err(redirect("redirect_uris must be an array of strings")),
    };
    if code_flow && uris.is_empty() {
        return Err(redirect("redirect_uris are required for the authorization_code grant"));
    }
    for uri in &uris {
        if uri.len() > MAX_URI_LEN {
            return Err(redirect(format!("a redirect URI is longer than {MAX_URI_LEN} characters")));
        }
        redirect_uri::validate(uri).map_err(redirect)?;
        allowed_for(uri, app).map_err(redirect)?;
    }
    let mut unique = uris.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != uris.len() {
        return Err(redirect("redirect_uris lists a URI twice"));
    }
    Ok(uris)
}

/// OIDC Registration §2 and RFC 8252 §7: a web client redirects to https only; a native client to
/// loopback http on any port (§7.3), a private-use scheme (§7.1) or a claimed https URI (§7.2).
fn allowed_for(uri: &str, app: ApplicationType) -> Result<(), String> {
    let u = Url::parse(uri).map_err(|e| format!("{uri}: {e}"))?;
    let loopback = match u.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match (app, u.scheme()) {
        (ApplicationType::Web, "https") if !loopback => Ok(()),
        (ApplicationType::Web, _) => Err(format!(
            "{uri}: a web client's redirect URIs must be https on a non-loopback host; register with application_type native for loopback or private-use scheme redirects (RFC 8252)"
        )),
        (ApplicationType::Native, "https") => Ok(()),
        (ApplicationType::Native, "http") if loopback => Ok(()),
        (ApplicationType::Native, "http") => Err(format!("{uri}: a native client may use http only on loopback")),
        // `validate` let it through: a reverse-domain private-use scheme.
        (ApplicationType::Native, _) => Ok(()),
    }
}

/// The descriptive fields: short printable text, http(s) URLs, and a few contacts.
fn descriptive(obj: &Map<String, Value>) -> Result<Map<String, Value>, RegistrationError> {
    let mut out = Map::new();
    for key in TEXT_FIELDS {
        if let Some(s) = string(obj, key)? {
            if s.is_empty() || s.chars().count() > MAX_TEXT_LEN || s.chars().any(char::is_control) {
                return Err(meta(format!("{key} must be 1 to {MAX_TEXT_LEN} printable characters")));
            }
            out.insert(key.into(), json!(s));
        }
    }
    for key in URI_FIELDS {
        if let Some(s) = string(obj, key)? {
            let ok = s.len() <= MAX_URI_LEN
                && Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
            if !ok {
                return Err(meta(format!("{key} must be an http or https URL")));
            }
            out.insert(key.into(), json!(s));
        }
    }
    if let Some(contacts) = strings(obj, "contacts", MAX_CONTACTS)? {
        if contacts.iter().any(|c| c.is_empty() || c.len() > 320 || c.chars().any(char::is_control)) {
            return Err(meta("contacts must be short printable strings"));
        }
        out.insert("contacts".into(), json!(contacts));
    }
    Ok(out)
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, RegistrationError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(meta(format!("{key} must be a string"))),
    }
}

/// An array of at most `max` strings, if present.
fn strings(obj: &Map<String, Value>, key: &str, max: usize) -> Result<Option<Vec<String>>, RegistrationError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() <= max => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| meta(format!("{key} must be an array of strings"))))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(meta(format!("{key} must be an array of at most {max} strings"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: Value) -> Result<Metadata, RegistrationError> {
        parse(&body, false)
    }

    #[test]
    fn defaults_follow_rfc7591_and_oidc_registration() {
        let m = check(json!({"redirect_uris": ["https://app.example/cb"]})).unwrap(); // ok: unit test
        assert_eq!(m.application_type, ApplicationType::Web);
        assert_eq!(m.auth, EndpointAuth::ClientSecretBasic);
        assert_eq!(m.grant_types, ["authorization_code"]);
        assert_eq!(m.response_types, ["code"]);
    }

    #[test]
    fn redirect_uris_follow_the_application_type() {
        for (app, uri, ok) in [
            ("web", "https://app.example/cb", true),
            ("web", "http://127.0.0.1:8080/cb", false),
            ("web", "https://localhost/cb", false),
            ("web", "com.example.app:/cb", false),
            ("native", "http://127.0.0.1/cb", true),
            ("native", "http://[::1]:9000/cb", true),
            ("native", "http://localhost:3000/cb", true),
            ("native", "com.example.app:/cb", true),
            ("native", "https://app.example/cb", true),
            ("native", "http://app.example/cb", false),
            ("native", "myapp:/cb", false),
        ] {
            let r = check(json!({"application_type": app, "redirect_uris": [uri]}));
            assert_eq!(r.is_ok(), ok, "{app} {uri}");
            if let Err(e) = r {
                assert!(matches!(e, RegistrationError::InvalidRedirectUri(_)), "{app} {uri}: {e}");
            }
        }
    }

    #[test]
    fn grants_are_limited_and_consistent() {
        let cb = json!(["https://app.example/cb"]);
        for grants in [json!(["password"]), json!(["implicit"]), json!(["refresh_token"]), json!([])] {
            let r = check(json!({"redirect_uris": cb, "grant_types": grants}));
            assert!(matches!(r, Err(RegistrationError::InvalidClientMetadata(_))), "{grants}");
        }
        let cc = json!({"grant_types": ["client_credentials"]});
        assert!(parse(&cc, false).is_err());
        assert!(parse(&cc, true).is_ok());
        let public_cc = json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"});
        assert!(parse(&public_cc, true).is_err());
        let mismatch = json!({"redirect_uris": cb, "response_types": []});
        assert!(check(mismatch).is_err());
    }
}
