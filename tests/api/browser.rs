//! A scripted browser for the front channel: a cookie jar, no automatic redirects.

use reqwest::redirect::Policy;
use reqwest::Response;

use crate::helpers::{TestApp, API};

pub const REDIRECT: &str = "http://127.0.0.1:9999/cb";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub struct Browser<'a> {
    pub t: &'a TestApp,
    pub http: reqwest::Client,
}

impl<'a> Browser<'a> {
    pub fn new(t: &'a TestApp) -> Self {
        let http = reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap();
        Browser { t, http }
    }

    pub async fn get(&self, path_and_query: &str) -> Response {
        self.http.get(self.t.url(path_and_query)).send().await.unwrap()
    }

    pub async fn authorize(&self, params: &[(&str, &str)]) -> Response {
        let q = serde_urlencoded(params);
        self.get(&format!("/authorize?{q}")).await
    }

    /// Fills the login form on `page` (its CSRF token) and posts it with `params`.
    pub async fn login(&self, page: &str, params: &[(&str, &str)], username: &str, password: &str) -> Response {
        let csrf = csrf_of(page);
        let mut form: Vec<(&str, &str)> = params.to_vec();
        form.extend([("csrf", csrf.as_str()), ("username", username), ("password", password)]);
        self.http.post(self.t.url("/login")).form(&form).send().await.unwrap()
    }

    pub async fn consent(&self, page: &str, params: &[(&str, &str)], decision: &str) -> Response {
        let csrf = csrf_of(page);
        let mut form: Vec<(&str, &str)> = params.to_vec();
        form.extend([("csrf", csrf.as_str()), ("decision", decision)]);
        self.http.post(self.t.url("/consent")).form(&form).send().await.unwrap()
    }

    /// Follows one 303 from the login POST back to /authorize.
    pub async fn follow(&self, r: &Response) -> Response {
        let loc = location(r);
        assert!(loc.starts_with("/authorize?"), "{loc}");
        self.get(&loc).await
    }

    /// Logs in (unless the SSO session already did) and returns the code the client receives.
    pub async fn code_for(&self, params: &[(&str, &str)], username: &str, password: &str) -> String {
        let r = self.authorize(params).await;
        if r.status() == 303 {
            return query_param(&location(&r), "code").expect("code");
        }
        let page = r.text().await.unwrap();
        let r = self.login(&page, params, username, password).await;
        assert_eq!(r.status(), 303);
        let r = self.follow(&r).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        query_param(&location(&r), "code").expect("code")
    }
}

pub fn serde_urlencoded(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
}

pub fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    page[i..].split('"').next().unwrap().to_string()
}

pub fn location(r: &Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

pub fn query_param(uri: &str, key: &str) -> Option<String> {
    let u = url::Url::parse(uri).or_else(|_| url::Url::parse(&format!("http://x{uri}"))).ok()?;
    u.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// A public SPA client. Returns its id.
pub async fn spa(t: &TestApp, first_party: bool, extra_redirects: &[&str]) -> String {
    t.api("read:x write:x admin:x").await;
    let mut redirect_uris = vec![REDIRECT.to_string()];
    redirect_uris.extend(extra_redirects.iter().map(|s| s.to_string()));
    let req = oauthd::admin::clients::NewClient {
        name: "Test SPA".into(),
        public: true,
        first_party,
        grants: vec!["authorization_code".into(), "refresh_token".into()],
        redirect_uris,
        allowed_origins: vec!["http://127.0.0.1:9999".into()],
        post_logout_redirect_uris: vec!["http://127.0.0.1:9999/bye".into()],
        scope: Some("read:x".into()),
        api: Some(API.into()),
        ..Default::default()
    };
    oauthd::admin::clients::create(t.app.store.as_ref(), req, None, oauthd::clock::now()).await.unwrap().0.id
}

pub fn params<'p>(client_id: &'p str, extra: &[(&'p str, &'p str)]) -> Vec<(&'p str, &'p str)> {
    let mut p = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile offline_access read:x"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("audience", API),
    ];
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    p
}

pub async fn exchange(t: &TestApp, client_id: &str, code: &str, verifier: Option<&str>) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let (s, _, body) = crate::helpers::json(t.post_token(&form).await).await;
    (s, body)
}

/// The headers every front-channel page must send: no framing, a restrictive CSP, no referrer,
/// no caching.
pub fn assert_page_headers(h: &reqwest::header::HeaderMap) {
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
}

/// A confidential web client with only the authorization-code grant and no API grant, as an
/// off-the-shelf OIDC relying party is set up. `tweak` changes its registration. Returns (id, secret).
pub async fn web_client(t: &TestApp, tweak: impl FnOnce(&mut oauthd::admin::clients::NewClient)) -> (String, String) {
    let mut req = oauthd::admin::clients::NewClient {
        name: "Web RP".into(),
        grants: vec!["authorization_code".into(), "refresh_token".into()],
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec!["http://127.0.0.1:9999/bye".into()],
        first_party: true,
        allow_http_loopback_backchannel: t.app.settings.allow_http_loopback_backchannel,
        ..Default::default()
    };
    tweak(&mut req);
    let (c, secret) =
        oauthd::admin::clients::create(t.app.store.as_ref(), req, None, oauthd::clock::now()).await.unwrap();
    (c.id, secret.unwrap_or_default())
}

/// The parameters an OIDC library sends for an identity-only login: no audience, no PKCE.
pub fn rp_params<'p>(client_id: &'p str, extra: &[(&'p str, &'p str)]) -> Vec<(&'p str, &'p str)> {
    let mut p = params(client_id, &[("code_challenge", ""), ("code_challenge_method", ""), ("audience", "")]);
    p.retain(|(k, _)| *k != "scope");
    p.push(("scope", "openid profile email"));
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    p
}

/// The code exchange of a confidential client (client_secret_basic).
pub async fn exchange_basic(
    t: &TestApp,
    id: &str,
    secret: &str,
    code: &str,
    verifier: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let (s, _, body) = crate::helpers::json(t.post_token_basic(id, secret, &form).await).await;
    (s, body)
}
