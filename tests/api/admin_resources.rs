//! The admin API's resources beyond clients: users (passwords, claims, sessions, refresh
//! families, the Auth0 import), APIs and grants, signing keys, and trusted issuers.

use reqwest::Method;
use serde_json::json;

use crate::admin::{admin_token, assert_problem, call};
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

async fn users_are_created_patched_given_passwords_and_signed_out(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, tok) = admin_token(&t, "users:read users:write sessions:write").await;
    let (cid, csecret) = t.client(&["password", "refresh_token"], "read:x").await;
    let body =
        json!({"username": "zoe", "email": "zoe@example.com", "password": "first-pw", "claims": {"name": "Zoe"}});
    let (s, _, u) = json(call(&t, &tok, Method::POST, "/admin/v1/users").json(&body).send().await.unwrap()).await;
    assert_eq!(s, 201, "{u}");
    assert_eq!(u["claims"], json!({"name": "Zoe"}));
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
    let id = u["user_id"].as_str().unwrap().to_string();
    let login = |pw: &'static str| {
        let scope = "read:x offline_access";
        let form =
            [("grant_type", "password"), ("username", "zoe"), ("password", pw), ("audience", API), ("scope", scope)];
        t.http.post(t.url("/token")).basic_auth(&cid, Some(&csecret)).form(&form)
    };
    let (s, _, first) = json(login("first-pw").send().await.unwrap()).await;
    assert_eq!(s, 200, "{first}");
    assert!(first["refresh_token"].is_string(), "{first}");

    let path = format!("/admin/v1/users/{id}");
    let (_, h, _) = json(call(&t, &tok, Method::GET, &path).send().await.unwrap()).await;
    let etag = h["etag"].to_str().unwrap().to_string();
    let p = json!({"claims": {"name": null, "given_name": "Zoë"}, "email_verified": true});
    let r = call(&t, &tok, Method::PATCH, &path)
        .header("content-type", "application/merge-patch+json")
        .header("if-match", &etag);
    let (s, _, patched) = json(r.body(p.to_string()).send().await.unwrap()).await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(
        (patched["claims"].clone(), patched["email_verified"].as_bool()),
        (json!({"given_name": "Zoë"}), Some(true))
    );
    let r = call(&t, &tok, Method::PATCH, &path)
        .header("content-type", "application/merge-patch+json")
        .header("if-match", &etag);
    assert_eq!(r.body("{}").send().await.unwrap().status(), 412);

    let (s, _, fams) =
        json(call(&t, &tok, Method::GET, &format!("{path}/refresh-families")).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(fams["items"].as_array().unwrap().len(), 1, "{fams}");
    let r = call(&t, &tok, Method::POST, &format!("{path}/password")).json(&json!({"password": "second-pw"}));
    assert_eq!(r.send().await.unwrap().status(), 204);
    assert_eq!(login("first-pw").send().await.unwrap().status(), 400, "the old password no longer works");
    assert_eq!(login("second-pw").send().await.unwrap().status(), 200);
    let (s, _, ended) = json(call(&t, &tok, Method::DELETE, &format!("{path}/sessions")).send().await.unwrap()).await;
    assert_eq!((s, ended["user_id"].as_str()), (200, Some(id.as_str())));
    let (_, _, fams) =
        json(call(&t, &tok, Method::GET, &format!("{path}/refresh-families")).send().await.unwrap()).await;
    assert_eq!(fams["items"], json!([]), "signed out everywhere");

    let (s, _, v) = json(call(&t, &tok, Method::POST, &format!("{path}/disable")).send().await.unwrap()).await;
    assert_eq!((s, v["disabled"].as_bool()), (200, Some(true)));
    let dup = json!({"username": "ZOE"});
    let (s, h, v) = json(call(&t, &tok, Method::POST, "/admin/v1/users").json(&dup).send().await.unwrap()).await;
    assert_problem(s, &h, &v, 409, "urn:oauthd:problem:conflict");
    let (s, _, v) = json(
        call(&t, &tok, Method::POST, "/admin/v1/users")
            .json(&json!({"username": "claims-only", "claims": {"name": "C"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["claims"]["name"].as_str()), (201, Some("C")));
    assert_eq!(call(&t, &tok, Method::DELETE, &path).send().await.unwrap().status(), 204);
    assert_eq!(call(&t, &tok, Method::GET, &path).send().await.unwrap().status(), 404);
}

async fn an_auth0_export_is_imported_over_http(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, tok) = admin_token(&t, "users:read users:write").await;
    let export = "{\"user_id\":\"auth0|a1\",\"email\":\"a1@example.com\"}\n{\"user_id\":\"auth0|a2\",\"email\":\"a2@example.com\"}\nnot json\n";
    let r = call(&t, &tok, Method::POST, "/admin/v1/users/import?format=auth0")
        .header("content-type", "application/x-ndjson");
    let (s, _, report) = json(r.body(export).send().await.unwrap()).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!((report["imported"].as_i64(), report["failed"].as_i64()), (Some(2), Some(1)));
    let (s, _, u) = json(call(&t, &tok, Method::GET, "/admin/v1/users/auth0%7Ca1").send().await.unwrap()).await;
    assert_eq!((s, u["email"].as_str()), (200, Some("a1@example.com")));
}

async fn apis_grants_and_keys_are_managed_over_http(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, tok) = admin_token(&t, "apis:read apis:write clients:write keys:read keys:write").await;
    let (s, _, api) = json(
        call(&t, &tok, Method::POST, "/admin/v1/apis")
            .json(&json!({"identifier": "https://orders.test", "scopes": ["orders:read", "orders:write"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, api["scopes"].clone()), (201, json!(["orders:read", "orders:write"])));
    let (s, h, v) = json(
        call(&t, &tok, Method::POST, "/admin/v1/apis")
            .json(&json!({"identifier": "https://orders.test"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &h, &v, 409, "urn:oauthd:problem:conflict");
    let (s, _, shown) =
        json(call(&t, &tok, Method::GET, "/admin/v1/apis/https%3A%2F%2Forders.test").send().await.unwrap()).await;
    assert_eq!((s, shown["identifier"].as_str()), (200, Some("https://orders.test")));

    let (id, secret) = t.m2m().await;
    let path = format!("/admin/v1/clients/{id}/grants/https%3A%2F%2Forders.test");
    let (s, _, g) =
        json(call(&t, &tok, Method::PUT, &path).json(&json!({"scopes": ["orders:read"]})).send().await.unwrap()).await;
    assert_eq!(s, 200, "{g}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let form = [("grant_type", "client_credentials"), ("audience", "https://orders.test")];
    let (s, _, tokv) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!((s, tokv["scope"].as_str()), (200, Some("orders:read")), "{tokv}");
    let (s, h, v) =
        json(call(&t, &tok, Method::PUT, &path).json(&json!({"scopes": ["nope"]})).send().await.unwrap()).await;
    assert_problem(s, &h, &v, 400, "urn:oauthd:problem:invalid-request");

    let (_, _, before) = json(call(&t, &tok, Method::GET, "/admin/v1/keys").send().await.unwrap()).await;
    let (s, _, rotated) = json(call(&t, &tok, Method::POST, "/admin/v1/keys/rotate").send().await.unwrap()).await;
    assert_eq!((s, rotated["state"].as_str()), (201, Some("active")));
    let (_, _, after) = json(call(&t, &tok, Method::GET, "/admin/v1/keys").send().await.unwrap()).await;
    assert_eq!(after["items"].as_array().unwrap().len(), before["items"].as_array().unwrap().len() + 1);
    assert!(!after.to_string().contains("private"), "no private key material: {after}");
    let kid = rotated["kid"].as_str().unwrap();
    assert!(t.jwks().await.find(kid).is_some(), "the new key is published at once");
    let (s, h, v) = json(
        call(&t, &tok, Method::POST, "/admin/v1/keys/rotate").json(&json!({"alg": "HS256"})).send().await.unwrap(),
    )
    .await;
    assert_problem(s, &h, &v, 400, "urn:oauthd:problem:invalid-request");
}

async fn trusted_issuers_are_added_checked_disabled_and_removed(b: Backend) {
    let idp = crate::idp::Idp::start().await;
    let t = TestApp::spawn_with(b, |s| s.allow_http_loopback_jwks = true).await;
    let (_, tok) = admin_token(&t, "trust:read trust:write").await;
    let iss = "https://idp.test";
    let body = json!({"issuer": iss, "jwks_uri": idp.jwks_uri(), "map": "passthrough", "scope": "read:x"});
    let (s, _, added) =
        json(call(&t, &tok, Method::POST, "/admin/v1/trusted-issuers").json(&body).send().await.unwrap()).await;
    assert_eq!((s, added["issuer"].as_str()), (201, Some(iss)), "{added}");
    let no_files = json!({"issuer": "https://other.test", "jwks_file": "/etc/passwd"});
    let (s, h, v) =
        json(call(&t, &tok, Method::POST, "/admin/v1/trusted-issuers").json(&no_files).send().await.unwrap()).await;
    assert_problem(s, &h, &v, 400, "urn:oauthd:problem:invalid-request");

    let assertion =
        crate::idp::sign(&idp.key(), &crate::idp::claims(iss, "alice", &t.app.settings.token_endpoint()), |_| {});
    let (s, _, checked) = json(
        call(&t, &tok, Method::POST, "/admin/v1/trusted-issuers/check")
            .json(&json!({"assertion": assertion}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{checked}");
    assert_eq!(checked["pass"], true, "{checked}");

    let path = "/admin/v1/trusted-issuers/https%3A%2F%2Fidp.test";
    let (s, _, v) = json(call(&t, &tok, Method::POST, &format!("{path}/disable")).send().await.unwrap()).await;
    assert_eq!((s, v["enabled"].as_bool()), (200, Some(false)));
    assert_eq!(call(&t, &tok, Method::DELETE, path).send().await.unwrap().status(), 204);
    assert_eq!(call(&t, &tok, Method::GET, path).send().await.unwrap().status(), 404);
}

on_both_backends!(
    users_are_created_patched_given_passwords_and_signed_out,
    an_auth0_export_is_imported_over_http,
    apis_grants_and_keys_are_managed_over_http,
    trusted_issuers_are_added_checked_disabled_and_removed,
);
