//! RFC 8414 authorization server metadata at both well-known paths, the path-inserted form of §3.1
//! for an issuer with a path, and the PKCE methods MCP clients insist on.

use crate::helpers::{json, Backend, TestApp};
use crate::on_both_backends;

async fn metadata_is_served_at_both_well_known_paths_with_s256(b: Backend) {
    let t = TestApp::spawn(b).await;
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let (s, h, body) = json(t.http.get(t.url(path)).send().await.unwrap()).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(h["access-control-allow-origin"], "*", "{path}");
        assert_eq!(body["issuer"], t.base, "{path}");
        assert_eq!(body["code_challenge_methods_supported"], serde_json::json!(["S256"]), "{path}");
        assert_eq!(body["authorization_endpoint"], format!("{}/authorize", t.base));
        assert!(body["token_endpoint_auth_methods_supported"].as_array().unwrap().iter().any(|m| m == "none"));
    }
    let r = t.http.get(t.url("/.well-known/oauth-authorization-server/tenant")).send().await.unwrap();
    assert_eq!(r.status(), 404, "an issuer without a path has no path-inserted document");
}

async fn an_issuer_with_a_path_publishes_the_path_inserted_form(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.issuer = format!("{}/tenant/one", s.issuer)).await;
    let issuer = format!("{}/tenant/one", t.base);
    let (s, _, body) =
        json(t.http.get(t.url("/.well-known/oauth-authorization-server/tenant/one")).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(body["issuer"], issuer, "RFC 8414 §3.3: the issuer the document was fetched for");
    assert_eq!(body["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(body["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    for other in ["/.well-known/oauth-authorization-server/tenant", "/.well-known/oauth-authorization-server/other"] {
        let (s, h, body) = json(t.http.get(t.url(other)).send().await.unwrap()).await;
        assert_eq!(s, 404, "{other}: {body}");
        assert!(h["content-type"].to_str().unwrap().starts_with("application/json"));
    }
}

on_both_backends!(
    metadata_is_served_at_both_well_known_paths_with_s256,
    an_issuer_with_a_path_publishes_the_path_inserted_form
);
