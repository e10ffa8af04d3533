//! `grant_type=authorization_code` with PKCE (RFC 6749 §4.1.3, RFC 7636, RFC 9700 §4.8.2).

use futures_util::future::join_all;

use crate::browser::*;
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

async fn the_code_flow_issues_user_tokens_with_id_token_and_refresh(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let user = t.user("pat", "pw-pat").await;
    let br = Browser::new(&t);
    let code = br.code_for(&params(&id, &[]), "pat", "pw-pat").await;
    assert!(code.len() >= 22, "at least 128 bits");
    let (s, body) = exchange(&t, &id, &code, Some(VERIFIER)).await;
    assert_eq!(s, 200, "{body}");
    let (typ, at) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(typ, "at+jwt");
    assert_eq!(at["sub"], user.id);
    assert_eq!(at["gty"], "authorization-code");
    assert_eq!(at["client_id"], id);
    let (_, idt) = t.verify(body["id_token"].as_str().unwrap(), &id).await;
    assert_eq!(idt["nonce"], "n-456");
    assert_eq!(idt["at_hash"], oauthd::jwt::mint::at_hash(body["access_token"].as_str().unwrap()));
    assert_eq!(idt["sub"], user.id);
    assert_eq!(idt["preferred_username"], "pat");

    // The refresh token rotates and keeps the subject and gty.
    let rt = body["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", id.as_str())];
    let (s, _, refreshed) = json(t.post_token(&form).await).await;
    assert_eq!(s, 200, "{refreshed}");
    assert_ne!(refreshed["refresh_token"], body["refresh_token"]);
    let (_, at2) = t.verify(refreshed["access_token"].as_str().unwrap(), API).await;
    assert_eq!((at2["sub"].clone(), at2["gty"].clone()), (at["sub"].clone(), at["gty"].clone()));
}

async fn pkce_failures_are_invalid_grant_and_a_malformed_verifier_is_invalid_request(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("quin", "pw-quin").await;
    let br = Browser::new(&t);
    let wrong = "A".repeat(43);
    for (verifier, status, error) in [
        (Some(wrong.as_str()), 400, "invalid_grant"),
        (None, 400, "invalid_grant"),
        (Some("short"), 400, "invalid_request"),
    ] {
        let code = br.code_for(&params(&id, &[]), "quin", "pw-quin").await;
        let (s, body) = exchange(&t, &id, &code, verifier).await;
        assert_eq!((s, body["error"].as_str()), (status, Some(error)), "{verifier:?}");
    }
}

async fn a_verifier_without_a_challenge_is_a_pkce_downgrade(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["authorization_code"], "read:x").await;
    let req_uri = REDIRECT;
    // A confidential client registered with our redirect URI.
    let req = oauthd::admin::clients::NewClient {
        name: "web".into(),
        grants: vec!["authorization_code".into()],
        redirect_uris: vec![req_uri.into()],
        first_party: true,
        scope: Some("read:x".into()),
        api: Some(API.into()),
        ..Default::default()
    };
    let (web, web_secret) = oauthd::admin::clients::create(t.app.store.as_ref(), req, None, 0).await.unwrap();
    let _ = (id, secret);
    t.user("rae", "pw-rae").await;
    let br = Browser::new(&t);
    let p = params(&web.id, &[("code_challenge", ""), ("code_challenge_method", "")]);
    let code = br.code_for(&p, "rae", "pw-rae").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (s, _, body) = json(t.post_token_basic(&web.id, web_secret.as_deref().unwrap(), &form).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let code = br.code_for(&p, "rae", "pw-rae").await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
    let (s, _, body) = json(t.post_token_basic(&web.id, web_secret.as_deref().unwrap(), &form).await).await;
    assert_eq!(s, 200, "a confidential client without PKCE when relaxed: {body}");
}

async fn a_reused_code_fails_and_revokes_the_tokens_it_issued(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("sam", "pw-sam").await;
    let br = Browser::new(&t);
    let code = br.code_for(&params(&id, &[]), "sam", "pw-sam").await;
    let (s, first) = exchange(&t, &id, &code, Some(VERIFIER)).await;
    assert_eq!(s, 200);
    // A refresh in between: its tokens derive from the code too.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ("client_id", id.as_str()),
    ];
    let (s, _, refreshed) = json(t.post_token(&form).await).await;
    assert_eq!(s, 200, "{refreshed}");
    let (s, body) = exchange(&t, &id, &code, Some(VERIFIER)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refreshed["refresh_token"].as_str().unwrap()),
        ("client_id", id.as_str()),
    ];
    let (s, _, body) = json(t.post_token(&form).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "the refresh family is revoked");
    for at in [&first, &refreshed] {
        let r = t.http.get(t.url("/userinfo")).bearer_auth(at["access_token"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), 401, "every access token issued from the code is revoked");
    }
}

async fn of_twenty_parallel_redemptions_exactly_one_succeeds(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("tia", "pw-tia").await;
    let br = Browser::new(&t);
    let code = br.code_for(&params(&id, &[]), "tia", "pw-tia").await;
    let results = join_all((0..20).map(|_| exchange(&t, &id, &code, Some(VERIFIER)))).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    assert!(results.iter().all(|(s, b)| *s == 200 || b["error"] == "invalid_grant"));
}

async fn a_code_is_bound_to_its_client_and_redirect_uri(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let other = spa(&t, true, &[]).await;
    t.user("uma", "pw-uma").await;
    let br = Browser::new(&t);
    let code = br.code_for(&params(&id, &[]), "uma", "pw-uma").await;
    let (s, body) = exchange(&t, &other, &code, Some(VERIFIER)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    let code = br.code_for(&params(&id, &[]), "uma", "pw-uma").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", id.as_str()),
        ("redirect_uri", "http://127.0.0.1:9999/other"),
        ("code_verifier", VERIFIER),
    ];
    let (s, _, body) = json(t.post_token(&form).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
}

async fn codes_expire(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.code_ttl = 1).await;
    let id = spa(&t, true, &[]).await;
    t.user("val", "pw-val").await;
    let br = Browser::new(&t);
    let code = br.code_for(&params(&id, &[]), "val", "pw-val").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, body) = exchange(&t, &id, &code, Some(VERIFIER)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
}

async fn spa_origins_get_cors_on_token_and_others_do_not(b: Backend) {
    let t = TestApp::spawn(b).await;
    spa(&t, true, &[]).await;
    for (origin, allowed) in [("http://127.0.0.1:9999", true), ("https://evil.test", false)] {
        let r = t
            .http
            .request(reqwest::Method::OPTIONS, t.url("/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        let acao = r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string());
        assert_eq!(acao.as_deref() == Some(origin), allowed, "{origin}");
    }
    let r = t.http.get(t.url("/userinfo")).header("origin", "http://127.0.0.1:9999").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "http://127.0.0.1:9999");
    // Introspection is server-to-server: no CORS even for an allowed origin.
    let r = t
        .http
        .request(reqwest::Method::OPTIONS, t.url("/introspect"))
        .header("origin", "http://127.0.0.1:9999")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = t.http.post(t.url("/introspect")).header("origin", "http://127.0.0.1:9999").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

async fn discovery_lists_the_authorization_endpoint_and_pkce(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, _, d) = json(t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(d["authorization_endpoint"], format!("{}/authorize", t.base));
    assert_eq!(d["end_session_endpoint"], format!("{}/logout", t.base));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(d["request_parameter_supported"], false);
    assert_eq!(d["request_uri_parameter_supported"], false);
}

on_both_backends!(
    the_code_flow_issues_user_tokens_with_id_token_and_refresh,
    pkce_failures_are_invalid_grant_and_a_malformed_verifier_is_invalid_request,
    a_verifier_without_a_challenge_is_a_pkce_downgrade,
    a_reused_code_fails_and_revokes_the_tokens_it_issued,
    of_twenty_parallel_redemptions_exactly_one_succeeds,
    a_code_is_bound_to_its_client_and_redirect_uri,
    codes_expire,
    spa_origins_get_cors_on_token_and_others_do_not,
    discovery_lists_the_authorization_endpoint_and_pkce,
);
