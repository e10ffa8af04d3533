//! Clients with no prior relationship (dynamic registration, client ID metadata documents, as MCP
//! clients arrive): no API grants, the API's declared scopes by the user's consent, remembered per
//! user, client and API, and asked again only for the difference.

use oauthd::store::{Client, ClientOrigin};

use crate::browser::*;
use crate::helpers::{Backend, TestApp, API};
use crate::on_both_backends;

/// A public client as dynamic registration or a metadata document creates it. It claims to be
/// first-party, which only the operator may decide.
pub async fn third_party(t: &TestApp, id: &str, origin: ClientOrigin) -> String {
    t.api("read:x write:x admin:x").await;
    let now = oauthd::clock::now();
    let c = Client {
        id: id.into(),
        name: "Assistant".into(),
        secret_hash: None,
        public: true,
        grant_types: "authorization_code refresh_token".into(),
        redirect_uris: REDIRECT.into(),
        allowed_origins: String::new(),
        first_party: true,
        disabled: false,
        created_at: now,
        updated_at: now,
        post_logout_redirect_uris: String::new(),
        auth_method: Default::default(),
        jwks_uri: None,
        jwks_json: None,
        require_pkce: false,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        origin,
        dpop_bound_access_tokens: false,
        require_dpop_nonce: false,
        require_pushed_authorization_requests: false,
    };
    t.app.store.insert_client(&c).await.unwrap();
    c.id
}

/// The parameters of an MCP client: PKCE and `resource`, no OpenID Connect.
pub fn mcp_params<'p>(client_id: &'p str, extra: &[(&'p str, &'p str)]) -> Vec<(&'p str, &'p str)> {
    let mut p = params(client_id, &[("audience", ""), ("nonce", ""), ("scope", "read:x"), ("resource", API)]);
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    p
}

/// Logs in and returns the consent page for `p`.
pub async fn consent_page(br: &Browser<'_>, p: &[(&str, &str)], user: &str) -> String {
    let r = br.authorize(p).await;
    assert_eq!(r.status(), 200);
    let page = text(r).await;
    let r = br.follow(&br.login(&page, p, user, &format!("pw-{user}")).await).await;
    assert_eq!(r.status(), 200, "the consent page");
    text(r).await
}

/// A page's text with the slashes minijinja escapes put back.
pub async fn text(r: reqwest::Response) -> String {
    r.text().await.unwrap().replace("&#x2f;", "/")
}

fn asks_for(page: &str, scope: &str) -> bool {
    page.contains(&format!("Use {API} with the permission “{scope}”"))
}

async fn a_registered_client_gets_declared_api_scopes_only_by_consent(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = third_party(&t, "dyn-1", ClientOrigin::Registered).await;
    t.user("mia", "pw-mia").await;
    let br = Browser::new(&t);
    let p = mcp_params(&id, &[]);
    let page = consent_page(&br, &p, "mia").await;
    assert!(asks_for(&page, "read:x") && page.contains("<strong>https://api.test</strong>"), "{page}");
    assert!(!asks_for(&page, "write:x"));
    let code = query_param(&location(&br.consent(&page, &p, "allow").await), "code").expect("code");
    let (s, body) = exchange(&t, &id, &code, Some(VERIFIER)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["scope"], "read:x");
    let (typ, at) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!((typ.as_str(), at["aud"].as_str(), at["client_id"].as_str()), ("at+jwt", Some(API), Some("dyn-1")));
    // Remembered: the same request goes straight back with a code.
    let r = br.authorize(&p).await;
    assert_eq!(r.status(), 303);
    assert!(query_param(&location(&r), "code").is_some());
}

async fn asking_again_with_more_scopes_shows_only_the_difference(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = third_party(&t, "doc-client-1", ClientOrigin::MetadataDocument).await;
    t.user("noa", "pw-noa").await;
    let br = Browser::new(&t);
    let first = mcp_params(&id, &[]);
    let page = consent_page(&br, &first, "noa").await;
    assert!(query_param(&location(&br.consent(&page, &first, "allow").await), "code").is_some());

    // The resource server answered insufficient_scope: the client asks for write:x as well.
    let more = mcp_params(&id, &[("scope", "read:x write:x")]);
    let r = br.authorize(&more).await;
    assert_eq!(r.status(), 200, "write:x was never allowed");
    let page = text(r).await;
    assert!(asks_for(&page, "write:x"), "{page}");
    assert!(!asks_for(&page, "read:x"), "read:x was allowed before and is not asked again: {page}");
    let code = query_param(&location(&br.consent(&page, &more, "allow").await), "code").expect("code");
    let (s, body) = exchange(&t, &id, &code, Some(VERIFIER)).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("read:x write:x")), "{body}");

    for scope in ["read:x", "write:x", "read:x write:x"] {
        let r = br.authorize(&mcp_params(&id, &[("scope", scope)])).await;
        assert_eq!(r.status(), 303, "{scope} is remembered");
    }
    // prompt=consent shows everything again.
    let r = br.authorize(&mcp_params(&id, &[("scope", "read:x write:x"), ("prompt", "consent")])).await;
    let page = text(r).await;
    assert!(asks_for(&page, "read:x") && asks_for(&page, "write:x"), "{page}");
}

async fn consent_is_per_user_and_per_client(b: Backend) {
    let t = TestApp::spawn(b).await;
    let one = third_party(&t, "dyn-one", ClientOrigin::Registered).await;
    let two = third_party(&t, "dyn-two", ClientOrigin::Registered).await;
    t.user("oli", "pw-oli").await;
    t.user("pia", "pw-pia").await;
    let br = Browser::new(&t);
    let page = consent_page(&br, &mcp_params(&one, &[]), "oli").await;
    br.consent(&page, &mcp_params(&one, &[]), "allow").await;
    let r = br.authorize(&mcp_params(&two, &[])).await;
    assert_eq!(r.status(), 200, "another client is asked");
    assert!(asks_for(&text(r).await, "read:x"));

    let other = Browser::new(&t);
    let page = consent_page(&other, &mcp_params(&one, &[]), "pia").await;
    assert!(asks_for(&page, "read:x"), "another user is asked");
    let r = other.authorize(&mcp_params(&one, &[("prompt", "none")])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("consent_required"));
}

async fn a_third_party_client_cannot_ask_beyond_what_the_api_declares(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = third_party(&t, "dyn-3", ClientOrigin::Registered).await;
    let br = Browser::new(&t);
    let r = br.authorize(&mcp_params(&id, &[("scope", "read:x delete:x")])).await;
    assert_eq!(r.status(), 303);
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_scope"));
    let r = br.authorize(&mcp_params(&id, &[("resource", "https://unknown.test")])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_target"));
}

async fn operator_clients_keep_their_grants(b: Backend) {
    let t = TestApp::spawn(b).await;
    // An operator client without a grant on the API cannot reach it, consent or not.
    let (web, _) = web_client(&t, |c| c.first_party = false).await;
    t.api("read:x write:x admin:x").await;
    let br = Browser::new(&t);
    let r = br.authorize(&mcp_params(&web, &[])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_target"));
    // A first-party operator client is not asked.
    let spa = spa(&t, true, &[]).await;
    t.user("quy", "pw-quy").await;
    let code = br.code_for(&mcp_params(&spa, &[]), "quy", "pw-quy").await;
    let (s, body) = exchange(&t, &spa, &code, Some(VERIFIER)).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("read:x")), "{body}");
}

on_both_backends!(
    a_registered_client_gets_declared_api_scopes_only_by_consent,
    asking_again_with_more_scopes_shows_only_the_difference,
    consent_is_per_user_and_per_client,
    a_third_party_client_cannot_ask_beyond_what_the_api_declares,
    operator_clients_keep_their_grants,
);
