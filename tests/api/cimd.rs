//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): clients whose
//! client_id is the https URL of their metadata, fetched by oauthd from a test host with a test CA.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::browser::{location, query_param, Browser, CHALLENGE, REDIRECT, VERIFIER};
use crate::doc_host::{DocHost, Served};
use crate::helpers::{json, Backend, TestApp};
use crate::on_both_backends;

const DOC: &str = "/oauth/client.json";
const PASSWORD: &str = "correct horse battery staple";

/// A server that trusts the test host's CA and may reach loopback (the test-only settings).
async fn app_and_host(b: Backend, tweak: impl FnOnce(&mut oauthd::Settings)) -> (TestApp, DocHost) {
    let host = DocHost::start().await;
    let ca = host.ca_file.display().to_string();
    let t = TestApp::spawn_with(b, |s| {
        s.allow_loopback_fetch = true;
        s.fetch_ca_file = ca;
        tweak(s);
    })
    .await;
    (t, host)
}

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Friendly MCP Client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

fn authorize_params(client_id: &str) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid offline_access"),
        ("state", "st-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

/// /authorize for `client_id`: the status and the page (or the Location of a redirect).
async fn authorize(t: &TestApp, client_id: &str) -> (u16, String) {
    let br = Browser::new(t);
    let r = br.authorize(&authorize_params(client_id)).await;
    let status = r.status().as_u16();
    let loc = location(&r);
    (status, if loc.is_empty() { r.text().await.unwrap() } else { loc })
}

/// Asserts that /authorize shows an error page (never a redirect) that mentions `needle`.
async fn assert_refused(t: &TestApp, client_id: &str, needle: &str) {
    let (status, page) = authorize(t, client_id).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("metadata document cannot be used"), "{page}");
    assert!(page.contains(needle), "expected {needle:?} in {page}");
}

async fn a_document_client_logs_in_consents_gets_tokens_and_refreshes(b: Backend) {
    let (t, host) = app_and_host(b, |_| {}).await;
    let id = host.url(DOC);
    host.set(DOC, Served::json(document(&id)));
    t.user("alice", PASSWORD).await;
    let br = Browser::new(&t);
    let p = authorize_params(&id);
    let r = br.authorize(&p).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("127.0.0.1"), "the login page names the host: {page}");
    let r = br.login(&page, &p, "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let r = br.follow(&r).await;
    assert_eq!(r.status(), 200, "a document client is always asked for consent");
    let page = r.text().await.unwrap();
    assert!(page.contains("An application from <strong class=\"host\">127.0.0.1</strong>"), "{page}");
    assert!(page.contains("Friendly MCP Client"), "{page}");
    let r = br.consent(&page, &p, "allow").await;
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let code = query_param(&loc, "code").expect("code");

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, _, body) = json(t.post_token(&form).await).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = t.verify(body["access_token"].as_str().unwrap(), &t.app.settings.userinfo_endpoint()).await;
    assert_eq!(claims["client_id"], id.as_str());
    let refresh = body["refresh_token"].as_str().expect("a refresh token").to_string();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("client_id", id.as_str())];
    let (status, _, body) = json(t.post_token(&form).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(host.hits(DOC), 1, "the document was fetched once and then served from the cache");

    let row = t.app.store.get_client(&id).await.unwrap().expect("a clients row");
    assert_eq!(row.origin, oauthd::store::ClientOrigin::MetadataDocument);
    assert!(row.public && !row.first_party);
}

async fn discovery_says_documents_are_supported_and_lists_none(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, _, d) = json(t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(d["client_id_metadata_document_supported"], true);
    assert!(d["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("none")));
}

async fn switched_off_documents_are_neither_fetched_nor_advertised(b: Backend) {
    let (t, host) = app_and_host(b, |s| s.client_metadata_documents = false).await;
    let id = host.url(DOC);
    host.set(DOC, Served::json(document(&id)));
    assert_refused(&t, &id, "does not accept client ID metadata documents").await;
    assert_eq!(host.hits(DOC), 0);
    let (_, _, d) = json(t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(d["client_id_metadata_document_supported"], false);
}

async fn private_and_loopback_addresses_are_refused_before_any_request(b: Backend) {
    // Default settings: loopback is not allowed.
    let host = DocHost::start().await;
    let t = TestApp::spawn(b).await;
    let id = host.url(DOC);
    host.set(DOC, Served::json(document(&id)));
    assert_refused(&t, &id, "not a public address").await;
    let port = id.split(':').nth(2).unwrap().split('/').next().unwrap().to_string();
    let by_name = format!("https://localhost:{port}{DOC}");
    assert_refused(&t, &by_name, "resolves to").await;
    for private in ["https://10.0.0.1/c.json", "https://169.254.169.254/latest/c.json", "https://[fd00::1]/c.json"] {
        assert_refused(&t, private, "not a public address").await;
    }
    assert_eq!(host.hits(DOC), 0, "nothing reached the loopback host");
}

async fn a_redirecting_document_is_refused_and_not_followed(b: Backend) {
    let (t, host) = app_and_host(b, |_| {}).await;
    let id = host.url(DOC);
    host.set("/elsewhere.json", Served::json(document(&id)));
    let mut moved = Served::json(json!({}));
    (moved.status, moved.location) = (302, Some(host.url("/elsewhere.json")));
    host.set(DOC, moved);
    assert_refused(&t, &id, "redirect").await;
    assert_eq!(host.hits("/elsewhere.json"), 0);
}

async fn an_oversized_document_is_refused(b: Backend) {
    let (t, host) = app_and_host(b, |_| {}).await;
    let id = host.url(DOC);
    let mut doc = document(&id);
    doc["logo_uri"] = json!(format!("https://x.example/{}", "a".repeat(6000)));
    host.set(DOC, Served::json(doc));
    assert_refused(&t, &id, "larger than 5120 bytes").await;
}

async fn a_slow_document_times_out_quickly(b: Backend) {
    let (t, host) = app_and_host(b, |s| s.fetch_timeout = 1).await;
    let id = host.url(DOC);
    let mut slow = Served::json(document(&id));
    slow.delay = Duration::from_secs(10);
    host.set(DOC, slow);
    let started = Instant::now();
    assert_refused(&t, &id, "timed out").await;
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

async fn a_document_naming_another_client_id_is_refused(b: Backend) {
    let (t, host) = app_and_host(b, |_| {}).await;
    let id = host.url(DOC);
    host.set(DOC, Served::json(document(&host.url("/other.json"))));
    assert_refused(&t, &id, "is not its URL").await;
}

async fn an_unlisted_redirect_uri_is_an_error_page_not_a_redirect(b: Backend) {
    let (t, host) = app_and_host(b, |_| {}).await;
    let id = host.url(DOC);
    host.set(DOC, Served::json(document(&id)));
    let br = Browser::new(&t);
    let mut p = authorize_params(&id);
    p.retain(|(k, _)| *k != "redirect_uri");
    p.push(("redirect_uri", "https://attacker.example/cb"));
    let r = br.authorize(&p).await;
    assert_eq!(r.status(), 400);
    assert!(location(&r).is_empty());
    assert!(r.text().await.unwrap().contains("redirect_uri is not registered"));
}

async fn documents_with_other_grants_or_secrets_are_refused(b: Backend) {
    let (t, host) = app_and_host(b, |_| {}).await;
    let cases: [(&str, Value, &str); 4] = [
        (
            "/cc.json",
            json!({"grant_types": ["authorization_code", "client_credentials"]}),
            "client_credentials is not allowed",
        ),
        ("/pw.json", json!({"grant_types": ["password"]}), "password is not allowed"),
        (
            "/basic.json",
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            "client_secret_basic is not allowed",
        ),
        ("/key.json", json!({"token_endpoint_auth_method": "private_key_jwt"}), "needs a jwks_uri"),
    ];
    for (path, change, needle) in cases {
        let id = host.url(path);
        let mut doc = document(&id);
        for (k, v) in change.as_object().unwrap() {
            doc[k] = v.clone();
        }
        host.set(path, Served::json(doc));
        assert_refused(&t, &id, needle).await;
    }
    // The token endpoint refuses such a client as well, whatever the grant.
    let id = host.url("/cc.json");
    let form = [("grant_type", "client_credentials"), ("client_id", id.as_str())];
    let (status, _, body) = json(t.post_token(&form).await).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
}

async fn the_host_allowlist_admits_only_listed_hosts(b: Backend) {
    let (t, host) = app_and_host(b, |s| s.client_metadata_hosts = "mcp.example.com, tools.example.org".into()).await;
    let id = host.url(DOC);
    host.set(DOC, Served::json(document(&id)));
    assert_refused(&t, &id, "does not accept metadata documents from 127.0.0.1").await;
    assert_eq!(host.hits(DOC), 0);

    let (t, host) = app_and_host(b, |s| s.client_metadata_hosts = "mcp.example.com 127.0.0.1".into()).await;
    let id = host.url(DOC);
    host.set(DOC, Served::json(document(&id)));
    let (status, page) = authorize(&t, &id).await;
    assert_eq!(status, 200, "{page}");
}

async fn refused_documents_are_remembered_and_good_ones_cached_within_bounds(b: Backend) {
    let (t, host) = app_and_host(b, |s| s.client_metadata_cache_min = 1).await;
    let id = host.url(DOC);
    host.set(DOC, Served::json(json!({"client_id": id})));
    assert_refused(&t, &id, "no redirect_uris").await;
    host.set(DOC, Served::json(document(&id)));
    assert_refused(&t, &id, "no redirect_uris").await;
    assert_eq!(host.hits(DOC), 1, "the refusal is remembered: no second fetch");

    let good = "/good.json";
    let gid = host.url(good);
    let mut served = Served::json(document(&gid));
    served.cache_control = Some("max-age=1".into());
    host.set(good, served.clone());
    let (a, b2) = tokio::join!(authorize(&t, &gid), authorize(&t, &gid));
    assert_eq!((a.0, b2.0), (200, 200));
    assert_eq!(host.hits(good), 1, "concurrent first uses fetch once");
    // After max-age the document is fetched again, and its changes apply.
    let mut doc = document(&gid);
    doc["client_name"] = json!("Renamed Client");
    served.body = doc.to_string();
    host.set(good, served);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, page) = authorize(&t, &gid).await;
    assert_eq!(status, 200);
    assert!(page.contains("Renamed Client"), "{page}");
    assert_eq!(host.hits(good), 2);
    assert_eq!(t.app.store.get_client(&gid).await.unwrap().unwrap().name, "Renamed Client");
}

async fn a_disabled_document_client_is_refused(b: Backend) {
    let (t, host) = app_and_host(b, |_| {}).await;
    let id = host.url(DOC);
    host.set(DOC, Served::json(document(&id)));
    assert_eq!(authorize(&t, &id).await.0, 200);
    assert!(t.app.store.set_client_disabled(&id, true, oauthd::clock::now()).await.unwrap());
    t.app.invalidate(oauthd::store::Change::Client(id.clone())).await;
    assert_refused(&t, &id, "disabled").await;
}

async fn client_id_urls_that_are_not_canonical_are_refused(b: Backend) {
    let t = TestApp::spawn(b).await;
    for (bad, needle) in [
        ("https://mcp.example.com", "must have a path"),
        ("https://mcp.example.com/a/../c.json", "canonical"),
        ("https://MCP.example.com/c.json", "canonical"),
        ("https://u:p@mcp.example.com/c.json", "user info"),
    ] {
        assert_refused(&t, bad, needle).await;
    }
}

on_both_backends!(
    a_document_client_logs_in_consents_gets_tokens_and_refreshes,
    discovery_says_documents_are_supported_and_lists_none,
    switched_off_documents_are_neither_fetched_nor_advertised,
    private_and_loopback_addresses_are_refused_before_any_request,
    a_redirecting_document_is_refused_and_not_followed,
    an_oversized_document_is_refused,
    a_slow_document_times_out_quickly,
    a_document_naming_another_client_id_is_refused,
    an_unlisted_redirect_uri_is_an_error_page_not_a_redirect,
    documents_with_other_grants_or_secrets_are_refused,
    the_host_allowlist_admits_only_listed_hosts,
    refused_documents_are_remembered_and_good_ones_cached_within_bounds,
    a_disabled_document_client_is_refused,
    client_id_urls_that_are_not_canonical_are_refused,
);
