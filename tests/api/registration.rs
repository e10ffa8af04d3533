//! Dynamic client registration (RFC 7591) and its management (RFC 7592): the `registration`
//! policy, metadata and redirect-URI rules, grant limits, the registration access token, the
//! per-IP limit, the cleanup of unused clients and the CLI.

use std::time::Duration;

use oauthd::config::RegistrationPolicy;
use oauthd::store::InitialToken;
use serde_json::{json, Value};

use crate::browser::*;
use crate::cli::oauthd;
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

const NATIVE_CB: &str = "http://127.0.0.1/callback";

impl TestApp {
    async fn register(&self, body: &Value, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.post(self.url("/register")).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json(req.send().await.unwrap()).await
    }

    /// GET, PUT (with `body`) or DELETE on a registration client URI.
    async fn manage(
        &self,
        method: reqwest::Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, uri);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        json(req.send().await.unwrap()).await
    }

    /// The status of a read of the registration `reg` describes, with its own access token.
    async fn read_status(&self, reg: &Value) -> u16 {
        let (uri, token) = (str_of(reg, "registration_client_uri"), reg["registration_access_token"].as_str());
        self.manage(reqwest::Method::GET, uri, token, None).await.0
    }

    async fn initial_token(&self, uses: u32) -> String {
        let store = self.app.store.as_ref();
        oauthd::admin::registration::mint_initial_token(store, 3600, uses, "test", oauthd::clock::now())
            .await
            .unwrap()
            .1
    }
}

fn open(s: &mut oauthd::Settings) {
    s.registration = RegistrationPolicy::Open;
}

fn gated(s: &mut oauthd::Settings) {
    s.registration = RegistrationPolicy::Token;
}

fn native() -> Value {
    json!({
        "application_type": "native",
        "client_name": "MCP Desktop",
        "redirect_uris": [NATIVE_CB],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

fn machine() -> Value {
    json!({"client_name": "Nightly job", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"})
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

async fn registration_is_off_by_default_and_not_advertised(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (s, _, body) = t.register(&native(), None).await;
    assert_eq!((s, body["error"].as_str()), (404, Some("not_found")), "{body}");
    let (_, _, doc) = json(t.http.get(t.url("/.well-known/oauth-authorization-server")).send().await.unwrap()).await;
    assert!(doc.get("registration_endpoint").is_none(), "{doc}");
    let t = TestApp::spawn_with(b, open).await;
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let (_, _, doc) = json(t.http.get(t.url(path)).send().await.unwrap()).await;
        assert_eq!(doc["registration_endpoint"], t.url("/register"), "{path}");
    }
}

async fn an_open_server_registers_a_native_public_client_that_logs_in_with_pkce_on_any_loopback_port(b: Backend) {
    let t = TestApp::spawn_with(b, open).await;
    let (s, h, reg) = t.register(&native(), None).await;
    assert_eq!(s, 201, "{reg}");
    assert_eq!(h["cache-control"], "no-store");
    let id = str_of(&reg, "client_id");
    assert!(reg.get("client_secret").is_none() && reg.get("client_secret_expires_at").is_none(), "{reg}");
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    assert_eq!(reg["application_type"], "native");
    assert_eq!(reg["redirect_uris"], json!([NATIVE_CB]));
    assert_eq!(reg["grant_types"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(reg["client_name"], "MCP Desktop");
    assert!(reg["client_id_issued_at"].as_i64().unwrap() > 0);
    assert_eq!(reg["registration_client_uri"], t.url(&format!("/register/{id}")));
    assert!(str_of(&reg, "registration_access_token").len() >= 43);

    t.user("nora", "pw-nora").await;
    let br = Browser::new(&t);
    let cb = "http://127.0.0.1:53682/callback";
    let p = params(id, &[("redirect_uri", cb), ("audience", ""), ("scope", "openid offline_access")]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let r = br.follow(&br.login(&page, &p, "nora", "pw-nora").await).await;
    assert_eq!(r.status(), 200, "a registered client is third-party: the user is asked");
    let r = br.consent(&r.text().await.unwrap(), &p, "allow").await;
    let code = query_param(&location(&r), "code").expect("code");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", id),
        ("redirect_uri", cb),
        ("code_verifier", VERIFIER),
    ];
    let (s, _, tokens) = json(t.post_token(&form).await).await;
    assert_eq!(s, 200, "{tokens}");
    let refresh = str_of(&tokens, "refresh_token");
    let (s, _, body) =
        json(t.post_token(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", id)]).await)
            .await;
    assert_eq!(s, 200, "{body}");

    // PKCE is required.
    let p = params(
        id,
        &[
            ("redirect_uri", cb),
            ("audience", ""),
            ("scope", "openid"),
            ("code_challenge", ""),
            ("code_challenge_method", ""),
        ],
    );
    let r = br.authorize(&p).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"), "{}", location(&r));
}

async fn redirect_uris_follow_the_application_type(b: Backend) {
    let t = TestApp::spawn_with(b, open).await;
    for (app, uri, ok) in [
        ("web", "https://app.example/cb", true),
        ("web", "http://127.0.0.1:8080/cb", false),
        ("web", "http://app.example/cb", false),
        ("web", "com.example.app:/cb", false),
        ("native", "http://127.0.0.1/cb", true),
        ("native", "http://[::1]:8080/cb", true),
        ("native", "http://localhost:3000/cb", true),
        ("native", "com.example.app:/oauth", true),
        ("native", "https://app.example/cb", true),
        ("native", "http://app.example/cb", false),
        ("native", "myapp:/cb", false),
        ("native", "javascript:alert(1)", false),
        ("native", "http://127.0.0.1/cb#frag", false),
        ("web", "https://APP.example/cb", false),
        ("web", "/relative", false),
    ] {
        let body = json!({"application_type": app, "redirect_uris": [uri], "token_endpoint_auth_method": "none"});
        let (s, h, reg) = t.register(&body, None).await;
        if ok {
            assert_eq!(s, 201, "{app} {uri}: {reg}");
            assert_eq!(reg["redirect_uris"], json!([uri]));
        } else {
            assert_eq!((s, reg["error"].as_str()), (400, Some("invalid_redirect_uri")), "{app} {uri}: {reg}");
            assert_eq!(h["cache-control"], "no-store");
        }
    }
    // Without application_type a client is web (OIDC Registration §2): loopback is refused.
    let (s, _, reg) =
        t.register(&json!({"redirect_uris": [NATIVE_CB], "token_endpoint_auth_method": "none"}), None).await;
    assert_eq!((s, reg["error"].as_str()), (400, Some("invalid_redirect_uri")), "{reg}");
    assert!(str_of(&reg, "error_description").contains("application_type native"), "{reg}");
    let (s, _, reg) = t.register(&json!({"application_type": "native"}), None).await;
    assert_eq!(
        (s, reg["error"].as_str()),
        (400, Some("invalid_redirect_uri")),
        "the code flow needs redirect_uris: {reg}"
    );
}

async fn bad_metadata_is_invalid_client_metadata(b: Backend) {
    let t = TestApp::spawn_with(b, open).await;
    let mut n = native();
    n["client_name"] = json!("x".repeat(201));
    let mut cases = vec![("long client_name", n)];
    for (what, field, value) in [
        ("unknown application_type", "application_type", json!("desktop")),
        ("private_key_jwt", "token_endpoint_auth_method", json!("private_key_jwt")),
        ("password grant", "grant_types", json!(["authorization_code", "password"])),
        ("client_credentials without a token", "grant_types", json!(["client_credentials"])),
        ("implicit", "grant_types", json!(["implicit"])),
        ("refresh alone", "grant_types", json!(["refresh_token"])),
        ("token response type", "response_types", json!(["code", "token"])),
        ("javascript logo", "logo_uri", json!("javascript:alert(1)")),
        ("contacts not a list", "contacts", json!("ops@example.com")),
        ("numeric name", "client_name", json!(42)),
    ] {
        let mut body = native();
        body[field] = value;
        cases.push((what, body));
    }
    cases.push(("an array", json!([native()])));
    for (what, body) in cases {
        let (s, h, reg) = t.register(&body, None).await;
        assert_eq!((s, reg["error"].as_str()), (400, Some("invalid_client_metadata")), "{what}: {reg}");
        assert_eq!(h["cache-control"], "no-store", "{what}");
    }
    let r = t
        .http
        .post(t.url("/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (s, _, reg) = json(r).await;
    assert_eq!((s, reg["error"].as_str()), (400, Some("invalid_client_metadata")), "{reg}");
    let r = t.http.post(t.url("/register")).form(&[("redirect_uris", NATIVE_CB)]).send().await.unwrap();
    let (s, _, reg) = json(r).await;
    assert_eq!((s, reg["error"].as_str()), (400, Some("invalid_client_metadata")), "a form body: {reg}");
    let mut huge = native();
    huge["software_statement"] = json!("x".repeat(20_000));
    let (s, _, reg) = t.register(&huge, None).await;
    assert_eq!((s, reg["error"].as_str()), (413, Some("invalid_client_metadata")), "{reg}");
    // Unknown and unsupported fields are ignored, and not echoed as registered.
    let mut extra = native();
    extra["scope"] = json!("read:x");
    extra["x_custom"] = json!(true);
    let (s, _, reg) = t.register(&extra, None).await;
    assert_eq!(s, 201, "{reg}");
    assert!(reg.get("scope").is_none() && reg.get("x_custom").is_none(), "{reg}");
    assert_eq!(t.count_rows("clients").await, 1, "nothing refused was stored");
}

async fn token_policy_needs_a_live_initial_access_token_and_allows_client_credentials(b: Backend) {
    let t = TestApp::spawn_with(b, gated).await;
    let (s, h, body) = t.register(&machine(), None).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    assert_eq!(h["www-authenticate"], "Bearer realm=\"oauthd\"");
    let (s, h, body) = t.register(&machine(), Some("not-a-token")).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    assert!(h["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    let expired = "expired-initial-token";
    let old = InitialToken {
        id: "old".into(),
        hash: oauthd::oauth::secret::digest(expired),
        note: String::new(),
        created_at: 1,
        expires_at: oauthd::clock::now() - 1,
        uses_left: 5,
    };
    t.app.store.insert_initial_token(&old).await.unwrap();
    assert_eq!(t.register(&machine(), Some(expired)).await.0, 401, "an expired token");

    let token = t.initial_token(1).await;
    let (s, _, reg) = t.register(&machine(), Some(&token)).await;
    assert_eq!(s, 201, "{reg}");
    assert_eq!(reg["client_secret_expires_at"], 0);
    let (s, _, body) = t.register(&machine(), Some(&token)).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_token")), "used up: {body}");

    // The operator grants the registered machine client an API; its secret then works.
    let (id, secret) = (str_of(&reg, "client_id"), str_of(&reg, "client_secret"));
    t.api("read:x").await;
    oauthd::admin::grant(t.app.store.as_ref(), id, API, "read:x").await.unwrap();
    let (s, _, body) =
        json(t.post_token_basic(id, secret, &[("grant_type", "client_credentials"), ("audience", API)]).await).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(t.post_token_basic(id, "wrong", &[("grant_type", "client_credentials")]).await.status(), 401);
}

async fn an_open_server_still_checks_a_presented_initial_access_token(b: Backend) {
    let t = TestApp::spawn_with(b, open).await;
    let (s, _, body) = t.register(&native(), Some("forged")).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    let token = t.initial_token(1).await;
    let (s, _, reg) = t.register(&machine(), Some(&token)).await;
    assert_eq!(s, 201, "with a token, client_credentials is allowed on an open server too: {reg}");
}

async fn management_needs_the_clients_own_registration_access_token(b: Backend) {
    let t = TestApp::spawn_with(b, open).await;
    let web = json!({"client_name": "Web app", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_post"});
    let (_, _, reg) = t.register(&web, None).await;
    let (_, _, other) = t.register(&native(), None).await;
    let (uri, token) = (str_of(&reg, "registration_client_uri"), str_of(&reg, "registration_access_token"));
    let secret = str_of(&reg, "client_secret");
    use reqwest::Method;

    let (s, h, read) = t.manage(Method::GET, uri, Some(token), None).await;
    assert_eq!(s, 200, "{read}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(
        (read["client_id"].as_str(), read["client_name"].as_str()),
        (reg["client_id"].as_str(), Some("Web app"))
    );
    assert_eq!(read["token_endpoint_auth_method"], "client_secret_post");
    assert!(read.get("client_secret").is_none(), "the secret is shown once: {read}");
    assert_eq!(read["registration_access_token"], token);
    for (who, tok) in
        [("none", None), ("wrong", Some("wrong")), ("another client's", other["registration_access_token"].as_str())]
    {
        let (s, h, body) = t.manage(Method::GET, uri, tok, None).await;
        assert_eq!((s, body["error"].as_str()), (401, Some("invalid_token")), "{who}: {body}");
        assert!(h["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{who}");
        let (s, _, _) = t.manage(Method::PUT, uri, tok, Some(&read)).await;
        assert_eq!(s, 401, "{who}");
        assert_eq!(t.manage(Method::DELETE, uri, tok, None).await.0, 401, "{who}");
    }
    let (s, _, _) = t.manage(Method::GET, &t.url("/register/no-such-client"), Some(token), None).await;
    assert_eq!(s, 401);

    // RFC 7592 §2.2: the whole metadata, with client_id, replaces what was registered.
    let mut update = json!({"client_id": read["client_id"], "client_name": "Web app 2",
        "redirect_uris": ["https://app.example/cb2"], "token_endpoint_auth_method": "client_secret_basic",
        "registration_access_token": token, "client_id_issued_at": read["client_id_issued_at"]});
    let (s, _, updated) = t.manage(Method::PUT, uri, Some(token), Some(&update)).await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(
        (updated["client_name"].as_str(), updated["redirect_uris"].clone()),
        (Some("Web app 2"), json!(["https://app.example/cb2"]))
    );
    assert_eq!(updated["token_endpoint_auth_method"], "client_secret_basic");
    let (_, _, read) = t.manage(Method::GET, uri, Some(token), None).await;
    assert_eq!(read["redirect_uris"], json!(["https://app.example/cb2"]));
    let stored = t.app.store.get_client(str_of(&reg, "client_id")).await.unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.redirect_uris.as_str()), ("Web app 2", "https://app.example/cb2"));
    for (what, field, value, code) in [
        ("no client_id", "client_id", Value::Null, "invalid_client_metadata"),
        ("another client_id", "client_id", other["client_id"].clone(), "invalid_client_metadata"),
        ("a wrong client_secret", "client_secret", json!("guess"), "invalid_client_metadata"),
        ("public now", "token_endpoint_auth_method", json!("none"), "invalid_client_metadata"),
        ("loopback for web", "redirect_uris", json!([NATIVE_CB]), "invalid_redirect_uri"),
        ("password", "grant_types", json!(["password"]), "invalid_client_metadata"),
    ] {
        let mut bad = update.clone();
        bad[field] = value;
        let (s, _, body) = t.manage(Method::PUT, uri, Some(token), Some(&bad)).await;
        assert_eq!((s, body["error"].as_str()), (400, Some(code)), "{what}: {body}");
    }
    update["client_secret"] = json!(secret);
    assert_eq!(t.manage(Method::PUT, uri, Some(token), Some(&update)).await.0, 200, "the current secret may be sent");

    let r = t.http.delete(uri).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(t.manage(Method::GET, uri, Some(token), None).await.0, 401, "gone");
    let (s, _, body) = json(
        t.http
            .post(t.url("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", str_of(&reg, "client_id")),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    assert_eq!(
        t.manage(
            Method::GET,
            str_of(&other, "registration_client_uri"),
            other["registration_access_token"].as_str(),
            None
        )
        .await
        .0,
        200
    );
}

async fn registration_is_rate_limited_per_ip(b: Backend) {
    let t = TestApp::spawn_with(b, |s| {
        open(s);
        s.registration_rate_limit = 2;
    })
    .await;
    assert_eq!(t.register(&native(), None).await.0, 201);
    assert_eq!(t.register(&json!({}), None).await.0, 400, "a refused registration counts too");
    let (s, h, body) = t.register(&native(), None).await;
    assert_eq!((s, body["error"].as_str()), (429, Some("slow_down")), "{body}");
    let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=1800).contains(&wait), "Retry-After {wait}");
    let (_, _, other) = t.register(&native(), None).await;
    assert!(other.get("client_id").is_none(), "still limited");
    assert_eq!(t.count_rows("clients").await, 1);
}

async fn registered_clients_never_used_are_deleted_after_the_unused_ttl(b: Backend) {
    let t = TestApp::spawn_with(b, |s| {
        gated(s);
        s.registration_unused_ttl = 1;
        s.purge_interval = 1;
    })
    .await;
    let token = t.initial_token(2).await;
    let (_, _, used) = t.register(&machine(), Some(&token)).await;
    let (_, _, unused) = t.register(&machine(), Some(&token)).await;
    t.api("read:x").await;
    let used_id = str_of(&used, "client_id");
    oauthd::admin::grant(t.app.store.as_ref(), used_id, API, "read:x").await.unwrap();
    let cc = [("grant_type", "client_credentials"), ("audience", API)];
    assert_eq!(t.post_token_basic(used_id, str_of(&used, "client_secret"), &cc).await.status(), 200);
    oauthd::state::spawn_purge(t.app.clone());
    let mut status = 200;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        status = t.read_status(&unused).await;
        if status == 401 {
            break;
        }
    }
    assert_eq!(status, 401, "the unused client was deleted");
    assert_eq!(t.read_status(&used).await, 200, "the used client stays");
    assert_eq!(t.count_rows("client_registrations").await, 1);
    assert_eq!(t.count_rows("initial_access_tokens").await, 0, "the used-up initial token is purged");
}

async fn the_cli_mints_initial_tokens_and_lists_and_deletes_registered_clients(b: Backend) {
    let t = TestApp::spawn_with(b, gated).await;
    let db = t.app.settings.database_url.clone();
    let (ok, out, err) =
        oauthd(&db, &["registration", "token", "create", "--uses", "2", "--note", "for ci", "--json"], None);
    assert!(ok, "{err}");
    let minted: Value = serde_json::from_str(out.trim()).unwrap();
    let (token, token_id) = (str_of(&minted, "initial_access_token"), str_of(&minted, "id"));
    assert_eq!(minted["uses_left"], 2);
    let (s, _, reg) = t.register(&native(), Some(token)).await;
    assert_eq!(s, 201, "{reg}");
    let id = str_of(&reg, "client_id");

    let (ok, out, _) = oauthd(&db, &["registration", "list", "--json"], None);
    let list: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(ok);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!((list[0]["client_id"].as_str(), list[0]["initial_token"].as_str()), (Some(id), Some(token_id)));
    assert_eq!(list[0]["application_type"], "native");
    let (ok, out, _) = oauthd(&db, &["registration", "token", "list", "--json"], None);
    assert!(ok && !out.contains(token), "the token is shown once only");
    let tokens: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(tokens[0]["uses_left"], 1, "{tokens}");

    let (operator, _) = t.m2m().await;
    let (ok, _, err) = oauthd(&db, &["registration", "delete", &operator], None);
    assert!(!ok && err.contains("not registered dynamically"), "{err}");
    let (ok, _, err) = oauthd(&db, &["registration", "delete", id], None);
    assert!(ok, "{err}");
    let (s, _, _) = t
        .manage(
            reqwest::Method::GET,
            str_of(&reg, "registration_client_uri"),
            reg["registration_access_token"].as_str(),
            None,
        )
        .await;
    assert_eq!(s, 401, "deleted");

    let (ok, _, err) = oauthd(&db, &["registration", "token", "revoke", token_id], None);
    assert!(ok, "{err}");
    assert_eq!(t.register(&native(), Some(token)).await.0, 401, "a revoked token");
    let (ok, _, err) = oauthd(&db, &["registration", "token", "create", "--expires-in", "10"], None);
    assert!(!ok && err.contains("--expires-in"), "{err}");
}

on_both_backends!(
    registration_is_off_by_default_and_not_advertised,
    an_open_server_registers_a_native_public_client_that_logs_in_with_pkce_on_any_loopback_port,
    redirect_uris_follow_the_application_type,
    bad_metadata_is_invalid_client_metadata,
    token_policy_needs_a_live_initial_access_token_and_allows_client_credentials,
    an_open_server_still_checks_a_presented_initial_access_token,
    management_needs_the_clients_own_registration_access_token,
    registration_is_rate_limited_per_ip,
    registered_clients_never_used_are_deleted_after_the_unused_ttl,
    the_cli_mints_initial_tokens_and_lists_and_deletes_registered_clients,
);
