//! The admin API (/admin/v1): tokens for urn:oauthd:admin and their scopes (the 401/403 matrix),
//! problem+json, merge patches with If-Match (412), Idempotency-Key replays, cursor pages, each
//! resource, and the audit log.

use oauthd::admin::auth::{ensure_admin_api, ADMIN_API};
use oauthd::admin::clients::NewClient;
use oauthd::clock::now;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

/// An admin client with `scopes`, and a token of it. Returns (client_id, token).
pub async fn admin_token(t: &TestApp, scopes: &str) -> (String, String) {
    let store = t.app.store.as_ref();
    ensure_admin_api(store, now()).await.unwrap();
    let req = NewClient {
        name: "admin".into(),
        scope: Some(scopes.into()),
        api: Some(ADMIN_API.into()),
        ..Default::default()
    };
    let (c, secret) = oauthd::admin::clients::create(store, req, None, now()).await.unwrap();
    let form = [("grant_type", "client_credentials"), ("audience", ADMIN_API), ("scope", scopes)];
    let (s, _, body) = json(t.post_token_basic(&c.id, &secret.unwrap(), &form).await).await;
    assert_eq!(s, 200, "{body}");
    (c.id, body["access_token"].as_str().unwrap().to_string())
}

const ALL: &str = "apis:read apis:write clients:read clients:write users:read users:write keys:read keys:write trust:read trust:write audit:read sessions:write";

pub fn call(t: &TestApp, token: &str, method: Method, path: &str) -> RequestBuilder {
    t.http.request(method, t.url(path)).bearer_auth(token)
}

/// Every admin route with a body that passes parsing, and the scope it needs.
fn routes(client: &str, user: &str) -> Vec<(Method, String, &'static str, Option<Value>)> {
    let c = |p: &str| format!("/admin/v1/clients/{client}{p}");
    let u = |p: &str| format!("/admin/v1/users/{user}{p}");
    let api = "/admin/v1/apis/urn%3Aoauthd%3Aadmin".to_string();
    vec![
        (Method::GET, "/admin/v1/apis".into(), "apis:read", None),
        (Method::POST, "/admin/v1/apis".into(), "apis:write", Some(json!({"identifier": "https://new.test"}))),
        (Method::GET, api, "apis:read", None),
        (Method::GET, "/admin/v1/clients".into(), "clients:read", None),
        (Method::POST, "/admin/v1/clients".into(), "clients:write", Some(json!({"name": "x"}))),
        (Method::GET, c(""), "clients:read", None),
        (Method::PATCH, c(""), "clients:write", Some(json!({}))),
        (Method::POST, c("/disable"), "clients:write", None),
        (Method::POST, c("/enable"), "clients:write", None),
        (Method::POST, c("/rotate-secret"), "clients:write", None),
        (Method::PUT, c("/grants/https%3A%2F%2Fapi.test"), "clients:write", Some(json!({"scopes": []}))),
        (Method::GET, c("/refresh-families"), "clients:read", None),
        (Method::DELETE, c("/refresh-families"), "sessions:write", None),
        (Method::GET, "/admin/v1/users".into(), "users:read", None),
        (Method::POST, "/admin/v1/users".into(), "users:write", Some(json!({"username": "new"}))),
        (Method::GET, u(""), "users:read", None),
        (Method::PATCH, u(""), "users:write", Some(json!({}))),
        (Method::POST, u("/password"), "users:write", Some(json!({"password": "pw-123456"}))),
        (Method::POST, u("/disable"), "users:write", None),
        (Method::POST, u("/enable"), "users:write", None),
        (Method::GET, u("/sessions"), "users:read", None),
        (Method::DELETE, u("/sessions"), "sessions:write", None),
        (Method::GET, u("/refresh-families"), "users:read", None),
        (Method::GET, u("/consents"), "users:read", None),
        (Method::POST, "/admin/v1/users/import".into(), "users:write", None),
        (Method::GET, "/admin/v1/keys".into(), "keys:read", None),
        (Method::POST, "/admin/v1/keys/rotate".into(), "keys:write", None),
        (Method::GET, "/admin/v1/trusted-issuers".into(), "trust:read", None),
        (Method::POST, "/admin/v1/trusted-issuers/check".into(), "trust:read", Some(json!({"assertion": "x"}))),
        (Method::GET, "/admin/v1/audit".into(), "audit:read", None),
        (Method::DELETE, c(""), "clients:write", None),
        (Method::DELETE, u(""), "users:write", None),
    ]
}

fn send(t: &TestApp, token: &str, m: &Method, path: &str, body: &Option<Value>) -> RequestBuilder {
    let r = call(t, token, m.clone(), path);
    match body {
        Some(v) if *m == Method::PATCH => r.header("content-type", "application/merge-patch+json").body(v.to_string()),
        Some(v) => r.json(v),
        None => r,
    }
}

pub fn assert_problem(s: u16, h: &reqwest::header::HeaderMap, body: &Value, status: u16, kind: &str) {
    assert_eq!(s, status, "{body}");
    assert_eq!(h["content-type"], "application/problem+json", "{body}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(body["type"], kind, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
}

async fn every_route_refuses_a_missing_foreign_or_unscoped_token_and_allows_its_scope(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (m2m, m2m_secret) = t.m2m().await;
    let form = [("grant_type", "client_credentials"), ("audience", API)];
    let (_, _, tok) = json(t.post_token_basic(&m2m, &m2m_secret, &form).await).await;
    let foreign = tok["access_token"].as_str().unwrap().to_string();
    let (_, weak) = admin_token(&t, "audit:read").await;
    for (m, path, scope, body) in routes("nobody", "nobody") {
        let (s, h, v) = json(t.http.request(m.clone(), t.url(&path)).send().await.unwrap()).await;
        assert_problem(s, &h, &v, 401, "urn:oauthd:problem:unauthorized");
        assert_eq!(h["www-authenticate"], "Bearer realm=\"oauthd-admin\"", "{m} {path}");

        let (s, h, v) = json(send(&t, &foreign, &m, &path, &body).send().await.unwrap()).await;
        assert_problem(s, &h, &v, 401, "urn:oauthd:problem:invalid-token");
        assert!(h["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""), "{m} {path}");

        if scope == "audit:read" {
            continue;
        }
        let (s, h, v) = json(send(&t, &weak, &m, &path, &body).send().await.unwrap()).await;
        assert_problem(s, &h, &v, 403, "urn:oauthd:problem:insufficient-scope");
        let want = format!("Bearer realm=\"oauthd-admin\", error=\"insufficient_scope\", scope=\"{scope}\"");
        assert_eq!(h["www-authenticate"], want.as_str(), "{m} {path}");
    }
    // With every scope, each route works on real resources (none answers 401, 403 or 5xx).
    let (_, all) = admin_token(&t, ALL).await;
    let (client, _) = t.m2m().await;
    let user = t.user("matrix", "matrix-pw").await;
    for (m, path, _, body) in routes(&client, &user.id) {
        let r = send(&t, &all, &m, &path, &body);
        let r = if path.ends_with("/import") { r.body("") } else { r };
        let (s, _, v) = json(r.send().await.unwrap()).await;
        assert!(s < 400 || (s == 400 && path.ends_with("/rotate-secret")) || s == 409, "{m} {path}: {s} {v}");
    }
}

async fn a_client_is_created_shown_patched_with_if_match_and_deleted(b: Backend) {
    let t = TestApp::spawn(b).await;
    t.api("read:x write:x").await;
    let (_, tok) = admin_token(&t, "clients:read clients:write").await;
    let body = json!({"name": "billing", "grant_types": ["client_credentials"], "api": API, "scope": "read:x"});
    let (s, h, created) =
        json(call(&t, &tok, Method::POST, "/admin/v1/clients").json(&body).send().await.unwrap()).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(h["cache-control"], "no-store");
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert_eq!(created["apis"], json!([{"api": API, "scopes": ["read:x"]}]));
    let (s, _, tokv) =
        json(t.post_token_basic(&id, &secret, &[("grant_type", "client_credentials"), ("audience", API)]).await).await;
    assert_eq!(s, 200, "the new client works: {tokv}");

    let path = format!("/admin/v1/clients/{id}");
    let (s, h, shown) = json(call(&t, &tok, Method::GET, &path).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert!(shown.get("client_secret").is_none(), "the secret is shown at creation only");
    let etag = h["etag"].to_str().unwrap().to_string();

    let patch = |tag: &str, p: Value| {
        call(&t, &tok, Method::PATCH, &path)
            .header("content-type", "application/merge-patch+json")
            .header("if-match", tag)
            .body(p.to_string())
    };
    let (s, h2, patched) =
        json(patch(&etag, json!({"name": "billing-2", "first_party": true})).send().await.unwrap()).await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!((patched["name"].as_str(), patched["first_party"].as_bool()), (Some("billing-2"), Some(true)));
    assert_ne!(h2["etag"], etag.as_str(), "a change gives a new ETag");
    let (s, h, v) = json(patch(&etag, json!({"name": "stale"})).send().await.unwrap()).await;
    assert_problem(s, &h, &v, 412, "urn:oauthd:problem:precondition-failed");
    let (_, _, now_shown) = json(call(&t, &tok, Method::GET, &path).send().await.unwrap()).await;
    assert_eq!(now_shown["name"], "billing-2", "a refused patch changes nothing");

    let (s, h, v) = json(patch("*", json!({"client_id": "other"})).send().await.unwrap()).await;
    assert_problem(s, &h, &v, 400, "urn:oauthd:problem:invalid-request");
    let (s, h, v) = json(patch("*", json!({"redirect_uris": ["not a uri"]})).send().await.unwrap()).await;
    assert_problem(s, &h, &v, 400, "urn:oauthd:problem:invalid-request");
    let (s, h, v) = json(patch("*", json!({"colour": "red"})).send().await.unwrap()).await;
    assert_problem(s, &h, &v, 400, "urn:oauthd:problem:invalid-request");
    let wrong_type = call(&t, &tok, Method::PATCH, &path).json(&json!({"name": "x"}));
    let (s, h, v) = json(wrong_type.send().await.unwrap()).await;
    assert_problem(s, &h, &v, 415, "urn:oauthd:problem:unsupported-media-type");

    let (s, _, rotated) =
        json(call(&t, &tok, Method::POST, &format!("{path}/rotate-secret")).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let (s, _, _) =
        json(t.post_token_basic(&id, &secret, &[("grant_type", "client_credentials"), ("audience", API)]).await).await;
    assert_eq!(s, 401, "the old secret no longer works");

    let (s, _, v) = json(call(&t, &tok, Method::POST, &format!("{path}/disable")).send().await.unwrap()).await;
    assert_eq!((s, v["disabled"].as_bool()), (200, Some(true)));
    let r = call(&t, &tok, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (s, h, v) = json(call(&t, &tok, Method::GET, &path).send().await.unwrap()).await;
    assert_problem(s, &h, &v, 404, "urn:oauthd:problem:not-found");
}

async fn a_create_retried_with_its_idempotency_key_is_answered_once(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, tok) = admin_token(&t, "clients:read clients:write").await;
    let create = |key: &str, name: &str| {
        call(&t, &tok, Method::POST, "/admin/v1/clients").header("idempotency-key", key).json(&json!({"name": name}))
    };
    let (s, h, first) = json(create("k-1", "once").send().await.unwrap()).await;
    assert_eq!(s, 201);
    assert!(h.get("idempotent-replayed").is_none());
    assert!(first["client_secret"].is_string());
    let (s, h, again) = json(create("k-1", "once").send().await.unwrap()).await;
    assert_eq!(s, 201, "{again}");
    assert_eq!(h["idempotent-replayed"], "true");
    assert_eq!(again["client_id"], first["client_id"], "the same client, not a second one");
    assert!(again.get("client_secret").is_none(), "a replay never repeats a secret");
    let (s, h, v) = json(create("k-1", "other").send().await.unwrap()).await;
    assert_problem(s, &h, &v, 422, "urn:oauthd:problem:idempotency-key-reused");
    assert_eq!(t.app.store.list_clients().await.unwrap().len(), 2, "the admin client and one more");

    // A refused create frees its key for the corrected request.
    let (s, _, _) = json(create("k-2", "").send().await.unwrap()).await;
    assert_eq!(s, 400);
    let (s, _, _) = json(create("k-2", "fixed").send().await.unwrap()).await;
    assert_eq!(s, 201);
}

async fn lists_are_paged_by_cursor_filtered_and_capped(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, tok) = admin_token(&t, "clients:read users:read").await;
    for i in 0..4 {
        t.client(&["client_credentials"], "read:x").await;
        t.user(&format!("u{i}"), "pw-pw-pw").await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/admin/v1/clients?limit=2&cursor={cursor}");
        let (s, _, page) = json(call(&t, &tok, Method::GET, &path).send().await.unwrap()).await;
        assert_eq!(s, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|c| c["client_id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), sorted), (5, seen.clone()), "every client once, in id order");
    let (_, _, ops) =
        json(call(&t, &tok, Method::GET, "/admin/v1/clients?origin=operator&disabled=false").send().await.unwrap())
            .await;
    assert_eq!(ops["items"].as_array().unwrap().len(), 5);
    let (_, _, none) =
        json(call(&t, &tok, Method::GET, "/admin/v1/clients?origin=registered").send().await.unwrap()).await;
    assert_eq!(none["items"], json!([]));
    let (_, _, users) = json(call(&t, &tok, Method::GET, "/admin/v1/users?limit=3").send().await.unwrap()).await;
    assert_eq!(users["items"].as_array().unwrap().len(), 3);
    assert!(users["next_cursor"].is_string());
    for bad in ["limit=1000", "limit=0", "limit=x", "disabled=maybe", "origin=elsewhere"] {
        let (s, h, v) =
            json(call(&t, &tok, Method::GET, &format!("/admin/v1/clients?{bad}")).send().await.unwrap()).await;
        assert_problem(s, &h, &v, 400, "urn:oauthd:problem:invalid-request");
    }
}

async fn every_change_is_audited_without_secrets(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (admin_id, tok) = admin_token(&t, "clients:write audit:read").await;
    let (_, _, c) = json(
        call(&t, &tok, Method::POST, "/admin/v1/clients")
            .header("x-request-id", "req-audit-1")
            .json(&json!({"name": "audited"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = c["client_id"].as_str().unwrap();
    let (_, _, r) =
        json(call(&t, &tok, Method::POST, &format!("/admin/v1/clients/{id}/rotate-secret")).send().await.unwrap())
            .await;
    let (s, _, log) =
        json(call(&t, &tok, Method::GET, &format!("/admin/v1/audit?target={id}")).send().await.unwrap()).await;
    assert_eq!(s, 200, "{log}");
    let items = log["items"].as_array().unwrap();
    let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["client.rotate_secret", "client.create"], "newest first");
    assert_eq!(items[1]["actor"], format!("client:{admin_id}"));
    assert_eq!(items[1]["request_id"], "req-audit-1");
    assert_eq!(items[1]["after"]["name"], "audited");
    let text = log.to_string();
    for secret in [c["client_secret"].as_str().unwrap(), r["client_secret"].as_str().unwrap()] {
        assert!(!text.contains(secret), "no secret in the audit log");
    }
    let (_, _, page) = json(call(&t, &tok, Method::GET, "/admin/v1/audit?limit=1").send().await.unwrap()).await;
    let next = page["next_cursor"].as_str().unwrap();
    let (_, _, older) =
        json(call(&t, &tok, Method::GET, &format!("/admin/v1/audit?limit=1&cursor={next}")).send().await.unwrap())
            .await;
    assert_eq!(older["items"][0]["action"], "client.create");
}

async fn a_disabled_admin_client_loses_access_at_once(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (admin_id, tok) = admin_token(&t, "clients:read clients:write").await;
    let (_, other) = admin_token(&t, "clients:write").await;
    let r = call(&t, &other, Method::POST, &format!("/admin/v1/clients/{admin_id}/disable")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (s, h, v) = json(call(&t, &tok, Method::GET, "/admin/v1/clients").send().await.unwrap()).await;
    assert_problem(s, &h, &v, 401, "urn:oauthd:problem:invalid-token");
}

async fn bodies_are_capped_and_unknown_admin_paths_are_problems(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, tok) = admin_token(&t, "clients:write").await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    // A connection of its own: the server answers 413 without reading the rest, then closes it.
    let once = reqwest::Client::new().post(t.url("/admin/v1/clients")).bearer_auth(&tok);
    let r = once.header("content-type", "application/json").body(big);
    let (s, h, v) = json(r.send().await.unwrap()).await;
    assert_problem(s, &h, &v, 413, "urn:oauthd:problem:payload-too-large");
    let (s, h, v) = json(
        call(&t, &tok, Method::POST, "/admin/v1/clients")
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &h, &v, 400, "urn:oauthd:problem:invalid-request");
    let (s, h, v) = json(call(&t, &tok, Method::GET, "/admin/v1/nothing-here").send().await.unwrap()).await;
    assert_problem(s, &h, &v, 404, "urn:oauthd:problem:not-found");
    let (s, h, v) = json(call(&t, &tok, Method::PUT, "/admin/v1/clients").send().await.unwrap()).await;
    assert_problem(s, &h, &v, 405, "urn:oauthd:problem:method-not-allowed");
}

async fn with_admin_bind_the_admin_api_has_its_own_listener(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.admin_bind = "127.0.0.1:0".into()).await;
    let (_, tok) = admin_token(&t, "clients:read").await;
    let r = call(&t, &tok, Method::GET, "/admin/v1/clients").send().await.unwrap();
    assert_eq!(r.status(), 404, "not on the public listener");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = oauthd::http::admin_router(t.app.clone()).unwrap();
    let limits = oauthd::http::server::ConnLimits::from_settings(&t.app.settings);
    tokio::spawn(oauthd::http::server::serve(listener, router, limits, std::future::pending()));
    let r = t.http.get(format!("http://{addr}/admin/v1/clients")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.http.get(format!("http://{addr}/token")).send().await.unwrap().status(), 404);
}

async fn the_cli_bootstraps_an_admin_client_updates_clients_and_lists_the_audit_log(b: Backend) {
    use crate::cli::oauthd;
    let db = crate::helpers::fresh_database(b).await;
    let (ok, _, err) = oauthd(&db, &["client", "create", "--admin", "--name", "ops"], None);
    assert!(!ok && err.contains("--admin needs --scope"), "{err}");
    let args = ["client", "create", "--admin", "--name", "ops", "--scope", "clients:read audit:read", "--json"];
    let (ok, out, err) = oauthd(&db, &args, None);
    assert!(ok, "{err}");
    let admin: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(admin["apis"], json!([{"api": ADMIN_API, "scopes": ["clients:read", "audit:read"]}]));
    let (ok, _, err) = oauthd(&db, &["client", "create", "--admin", "--name", "x", "--scope", "root"], None);
    assert!(!ok && err.contains("root"), "{err}");

    let (ok, out, _) = oauthd(&db, &["client", "create", "--name", "web", "--json"], None);
    assert!(ok);
    let web: Value = serde_json::from_str(out.trim()).unwrap();
    let web_id = web["client_id"].as_str().unwrap();
    let (ok, out, err) =
        oauthd(&db, &["client", "update", web_id, "--name", "web-2", "--first-party", "true", "--json"], None);
    assert!(ok, "{err}");
    let updated: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((updated["name"].as_str(), updated["first_party"].as_bool()), (Some("web-2"), Some(true)));

    let (ok, out, _) = oauthd(&db, &["audit", "list", "--target", web_id, "--json"], None);
    assert!(ok);
    let events: Value = serde_json::from_str(out.trim()).unwrap();
    let actions: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["client.update", "client.create"]);
    assert_eq!(events[0]["actor"], "local-cli");
    assert!(!out.contains(web["client_secret"].as_str().unwrap()), "no secret in the audit log");

    // The bootstrapped client calls the API, and sees the CLI's changes in the log.
    let t = TestApp::spawn_on(db, |_| {}).await;
    let (id, secret) = (admin["client_id"].as_str().unwrap(), admin["client_secret"].as_str().unwrap());
    let form = [("grant_type", "client_credentials"), ("audience", ADMIN_API), ("scope", "audit:read")];
    let (s, _, tok) = json(t.post_token_basic(id, secret, &form).await).await;
    assert_eq!(s, 200, "{tok}");
    let (s, _, log) =
        json(call(&t, tok["access_token"].as_str().unwrap(), Method::GET, "/admin/v1/audit").send().await.unwrap())
            .await;
    assert_eq!(s, 200, "{log}");
    assert!(log["items"].as_array().unwrap().len() >= 3);
}

on_both_backends!(
    the_cli_bootstraps_an_admin_client_updates_clients_and_lists_the_audit_log,
    every_route_refuses_a_missing_foreign_or_unscoped_token_and_allows_its_scope,
    a_client_is_created_shown_patched_with_if_match_and_deleted,
    a_create_retried_with_its_idempotency_key_is_answered_once,
    lists_are_paged_by_cursor_filtered_and_capped,
    every_change_is_audited_without_secrets,
    a_disabled_admin_client_loses_access_at_once,
    bodies_are_capped_and_unknown_admin_paths_are_problems,
    with_admin_bind_the_admin_api_has_its_own_listener,
);
