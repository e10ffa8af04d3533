//! RFC 8707 resource indicators end to end: several resources at /authorize, recorded with the
//! code and shown on the consent page; one audience per token, downscoped to it; refreshes within
//! the original set; canonical MCP URIs; unknown resources are `invalid_target`.

use oauthd::store::ClientOrigin;
use serde_json::Value;

use crate::browser::*;
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;
use crate::third_party::{consent_page, mcp_params, text, third_party};

const MCP: &str = "https://mcp.example.test/mcp";

/// The test API and an MCP server, and a first-party SPA granted `read:x` on the one and both
/// tool scopes on the other.
async fn setup(t: &TestApp) -> String {
    let id = spa(t, true, &[]).await;
    let store = t.app.store.as_ref();
    oauthd::admin::create_api(store, MCP, None, "tools:read tools:call", oauthd::clock::now()).await.unwrap();
    oauthd::admin::grant(store, &id, MCP, "tools:read tools:call").await.unwrap();
    t.user("rex", "pw-rex").await;
    id
}

/// Authorization parameters naming `resources`, in order, with `scope`.
fn with_resources<'p>(id: &'p str, scope: &'p str, resources: &[&'p str]) -> Vec<(&'p str, &'p str)> {
    let mut p = params(id, &[("audience", ""), ("scope", scope)]);
    p.extend(resources.iter().map(|r| ("resource", *r)));
    p
}

async fn redeem(t: &TestApp, id: &str, code: &str, resource: &[&str]) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut form =
        vec![("grant_type", "authorization_code"), ("code", code), ("client_id", id), ("redirect_uri", REDIRECT)];
    form.push(("code_verifier", VERIFIER));
    form.extend(resource.iter().map(|r| ("resource", *r)));
    json(t.post_token(&form).await).await
}

async fn refresh(t: &TestApp, id: &str, rt: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", id)];
    form.extend_from_slice(extra);
    let (s, _, body) = json(t.post_token(&form).await).await;
    (s, body)
}

fn at(body: &Value) -> &str {
    body["access_token"].as_str().unwrap()
}

async fn several_resources_yield_one_audience_per_token_each_downscoped(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = setup(&t).await;
    let br = Browser::new(&t);
    let p = with_resources(&id, "openid offline_access read:x tools:read", &[API, MCP]);
    let code = br.code_for(&p, "rex", "pw-rex").await;
    let (s, _, body) = redeem(&t, &id, &code, &[MCP]).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["scope"], "openid offline_access tools:read");
    let (typ, c) = t.verify(at(&body), MCP).await;
    assert_eq!(
        (typ.as_str(), c["aud"].as_str(), c["scope"].as_str()),
        ("at+jwt", Some(MCP), Some("openid offline_access tools:read"))
    );
    assert!(body["id_token"].is_string());

    // A refresh may switch to another resource of the grant, downscoped to it.
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let (s, body) = refresh(&t, &id, &rt, &[("resource", API)]).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("openid offline_access read:x")), "{body}");
    let (_, c) = t.verify(at(&body), API).await;
    assert_eq!(c["aud"], API);
    // Without a resource, the audience the code was redeemed for.
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let (s, body) = refresh(&t, &id, &rt, &[]).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(t.verify(at(&body), MCP).await.1["aud"], MCP);
}

async fn a_refresh_never_widens_the_original_grant(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = setup(&t).await;
    let br = Browser::new(&t);
    let code = br.code_for(&with_resources(&id, "offline_access tools:read", &[MCP]), "rex", "pw-rex").await;
    let (s, _, body) = redeem(&t, &id, &code, &[]).await;
    assert_eq!(s, 200, "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    for (extra, error) in [
        (vec![("resource", API)], "invalid_target"),
        (vec![("resource", "https://other.test")], "invalid_target"),
        (vec![("scope", "tools:read tools:call")], "invalid_scope"),
        (vec![("resource", MCP), ("scope", "read:x")], "invalid_scope"),
    ] {
        let (s, body) = refresh(&t, &id, &rt, &extra).await;
        assert_eq!((s, body["error"].as_str()), (400, Some(error)), "{extra:?}: {body}");
    }
    let (s, body) = refresh(&t, &id, &rt, &[("resource", MCP), ("scope", "tools:read")]).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("tools:read")), "the refused refreshes kept the token: {body}");
}

async fn a_token_request_for_another_resource_is_invalid_target_and_keeps_the_code(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = setup(&t).await;
    let br = Browser::new(&t);
    let code = br.code_for(&with_resources(&id, "read:x", &[API]), "rex", "pw-rex").await;
    for resources in [vec![MCP], vec!["https://unknown.test"], vec![API, MCP]] {
        let (s, h, body) = redeem(&t, &id, &code, &resources).await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_target")), "{resources:?}: {body}");
        assert_eq!(h["cache-control"], "no-store");
    }
    let (s, _, body) = redeem(&t, &id, &code, &[API]).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("read:x")), "{body}");
    assert_eq!(t.verify(at(&body), API).await.1["aud"], API);
}

async fn without_a_resource_the_token_is_for_the_first_one_named(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = setup(&t).await;
    let br = Browser::new(&t);
    let code = br.code_for(&with_resources(&id, "read:x tools:call", &[MCP, API]), "rex", "pw-rex").await;
    let (s, _, body) = redeem(&t, &id, &code, &[]).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("tools:call")), "{body}");
    assert_eq!(t.verify(at(&body), MCP).await.1["aud"], MCP);
}

async fn resources_match_by_canonical_uri_and_tokens_carry_the_registered_one(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = setup(&t).await;
    let br = Browser::new(&t);
    let code =
        br.code_for(&with_resources(&id, "tools:read", &["HTTPS://MCP.Example.test/mcp/"]), "rex", "pw-rex").await;
    let (s, _, body) = redeem(&t, &id, &code, &["https://mcp.example.test:443/mcp"]).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(t.verify(at(&body), MCP).await.1["aud"], MCP);
    // A path keeps its case, and a fragment is never part of a resource (RFC 8707 §2).
    for bad in ["https://mcp.example.test/MCP", "https://mcp.example.test/mcp#x", "mcp.example.test/mcp"] {
        let r = br.authorize(&with_resources(&id, "tools:read", &[bad])).await;
        assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_target"), "{bad}");
    }
    // Two APIs with one canonical URI would be ambiguous.
    let again = oauthd::admin::create_api(t.app.store.as_ref(), "https://MCP.example.test/mcp/", None, "", 0).await;
    assert!(again.unwrap_err().to_string().contains("same canonical URI"));
    // At the token endpoint too: `resource` canonically, `audience` exactly (as Auth0 does).
    let (m2m, secret) = t.m2m().await;
    let cc = |k: &'static str, v: &'static str| vec![("grant_type", "client_credentials"), (k, v)];
    let (s, _, body) = json(t.post_token_basic(&m2m, &secret, &cc("resource", "https://API.test/")).await).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(t.verify(at(&body), API).await.1["aud"], API);
    let (s, _, body) = json(t.post_token_basic(&m2m, &secret, &cc("audience", "https://API.test/")).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_target")));
}

async fn an_unknown_resource_is_invalid_target_at_both_endpoints(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = setup(&t).await;
    let br = Browser::new(&t);
    for resources in [vec!["https://unknown.test"], vec![API, "https://unknown.test"]] {
        let r = br.authorize(&with_resources(&id, "read:x", &resources)).await;
        assert_eq!(r.status(), 303);
        let loc = location(&r);
        assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_target"), "{resources:?}");
        assert_eq!(query_param(&loc, "state").as_deref(), Some("st-123"));
    }
    let (m2m, secret) = t.m2m().await;
    let form = [("grant_type", "client_credentials"), ("resource", "https://unknown.test")];
    let (s, h, body) = json(t.post_token_basic(&m2m, &secret, &form).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    assert_eq!(h["cache-control"], "no-store");
}

async fn the_consent_page_shows_every_resource_and_remembers_each(b: Backend) {
    let t = TestApp::spawn(b).await;
    setup(&t).await;
    let id = third_party(&t, "dyn-mcp", ClientOrigin::Registered).await;
    let br = Browser::new(&t);
    let mut p = mcp_params(&id, &[("scope", "read:x tools:read")]);
    p.push(("resource", MCP));
    let page = consent_page(&br, &p, "rex").await;
    for shown in [
        format!("<strong>{API}</strong>"),
        format!("<strong>{MCP}</strong>"),
        format!("Use {MCP} with the permission “tools:read”"),
    ] {
        assert!(page.contains(&shown), "{shown}: {page}");
    }
    let code = query_param(&location(&br.consent(&page, &p, "allow").await), "code").expect("code");
    let (s, _, body) = redeem(&t, &id, &code, &[MCP]).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("tools:read")), "{body}");

    // Each resource's consent stands alone: more on the MCP server asks only for that.
    let r = br.authorize(&mcp_params(&id, &[("scope", "tools:read"), ("resource", MCP)])).await;
    assert_eq!(r.status(), 303, "remembered for {MCP}");
    let more = mcp_params(&id, &[("scope", "tools:read tools:call"), ("resource", MCP)]);
    let page = text(br.authorize(&more).await).await;
    assert!(page.contains("“tools:call”") && !page.contains("“tools:read”"), "{page}");
    assert!(!page.contains(&format!("<strong>{API}</strong>")), "{page}");
}

on_both_backends!(
    several_resources_yield_one_audience_per_token_each_downscoped,
    a_refresh_never_widens_the_original_grant,
    a_token_request_for_another_resource_is_invalid_target_and_keeps_the_code,
    without_a_resource_the_token_is_for_the_first_one_named,
    resources_match_by_canonical_uri_and_tokens_carry_the_registered_one,
    an_unknown_resource_is_invalid_target_at_both_endpoints,
    the_consent_page_shows_every_resource_and_remembers_each,
);
