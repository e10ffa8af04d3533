//! OIDC Core §5: the standard claims a user holds (§5.1), released per scope (§5.4) and by the
//! `claims` request parameter (§5.5), set with the CLI or imported from Auth0; `acr`, `amr`,
//! `auth_time` and `sid` in the ID token.

use serde_json::{json, Value};

use crate::browser::*;
use crate::cli::oauthd;
use crate::helpers::{fresh_database, json, Backend, TestApp};
use crate::on_both_backends;

fn every_claim() -> Value {
    json!({
        "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace", "middle_name": "Augusta",
        "nickname": "ada", "profile": "https://ada.example/profile", "picture": "https://ada.example/a.png",
        "website": "https://ada.example", "gender": "female", "birthdate": "1815-12-10",
        "zoneinfo": "Europe/London", "locale": "en-GB", "phone_number": "+44 20 7946 0000",
        "phone_number_verified": true, "email_verified": true,
        "address": {"street_address": "12 St James's Square", "locality": "London", "country": "UK"},
    })
}

/// A password login of `user` by a login-only client, for `scope`; returns the token response.
async fn login(t: &TestApp, user: &str, scope: &str) -> Value {
    let (id, secret) = web_client(t, |c| c.grants = vec!["password".into()]).await;
    let pw = format!("pw-{user}");
    let form = [("grant_type", "password"), ("username", user), ("password", pw.as_str()), ("scope", scope)];
    let (s, _, mut body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "{body}");
    body["client_id_for_test"] = json!(id);
    body
}

async fn userinfo(t: &TestApp, at: &str) -> Value {
    let (s, _, info) = json(t.http.get(t.url("/userinfo")).bearer_auth(at).send().await.unwrap()).await;
    assert_eq!(s, 200, "{info}");
    info
}

async fn every_standard_claim_is_released_by_its_scope(b: Backend) {
    let t = TestApp::spawn(b).await;
    let u = t.user("ada", "pw-ada").await;
    oauthd::admin::users::set_claims(t.app.store.as_ref(), &u.id, &every_claim(), oauthd::clock::now()).await.unwrap();
    let body = login(&t, "ada", "openid profile email address phone").await;
    let info = userinfo(&t, body["access_token"].as_str().unwrap()).await;
    for (k, v) in every_claim().as_object().unwrap() {
        assert_eq!(&info[k], v, "{k}");
    }
    assert_eq!(info["email"], "ada@example.com");
    assert_eq!(info["preferred_username"], "ada");
    assert!(info["updated_at"].is_i64());

    let body = login(&t, "ada", "openid").await;
    let info = userinfo(&t, body["access_token"].as_str().unwrap()).await;
    assert_eq!(info.as_object().unwrap().keys().collect::<Vec<_>>(), ["sub"], "openid alone: sub only");
    let body = login(&t, "ada", "openid phone").await;
    let info = userinfo(&t, body["access_token"].as_str().unwrap()).await;
    assert_eq!((info["phone_number"].as_str(), info.get("given_name")), (Some("+44 20 7946 0000"), None));
    let (_, idt) = t.verify(body["id_token"].as_str().unwrap(), body["client_id_for_test"].as_str().unwrap()).await;
    assert_eq!(idt["phone_number_verified"], true, "scope claims are in the ID token too");
    assert!(idt.get("name").is_none());
}

async fn the_id_token_carries_acr_amr_auth_time_and_the_session_id(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = web_client(&t, |_| {}).await;
    t.user("bea", "pw-bea").await;
    let br = Browser::new(&t);
    let p = rp_params(&id, &[("acr_values", "urn:example:mfa urn:oauthd:pwd"), ("max_age", "600")]);
    let code = br.code_for(&p, "bea", "pw-bea").await;
    let (_, body) = exchange_basic(&t, &id, &secret, &code, None).await;
    let (_, c) = t.verify(body["id_token"].as_str().unwrap(), &id).await;
    assert_eq!(c["acr"], "urn:oauthd:pwd");
    assert_eq!(c["amr"], json!(["pwd"]));
    assert!(c["auth_time"].as_i64().unwrap() <= c["iat"].as_i64().unwrap());
    let sid = c["sid"].as_str().expect("sid").to_string();
    // Another login of the same browser keeps its session, so its sid.
    let code = br.code_for(&rp_params(&id, &[]), "bea", "pw-bea").await;
    let (_, body) = exchange_basic(&t, &id, &secret, &code, None).await;
    let (_, c2) = t.verify(body["id_token"].as_str().unwrap(), &id).await;
    assert_eq!((c2["sid"].as_str(), &c2["auth_time"]), (Some(sid.as_str()), &c["auth_time"]));
    // The password grant has no session: no sid, but the same authentication context.
    let body = login(&t, "bea", "openid").await;
    let (_, c3) = t.verify(body["id_token"].as_str().unwrap(), body["client_id_for_test"].as_str().unwrap()).await;
    assert_eq!((c3.get("sid"), c3["acr"].as_str()), (None, Some("urn:oauthd:pwd")));
}

async fn the_claims_parameter_releases_named_claims_where_asked(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = web_client(&t, |_| {}).await;
    let u = t.user("cy", "pw-cy").await;
    oauthd::admin::users::set_claims(t.app.store.as_ref(), &u.id, &every_claim(), oauthd::clock::now()).await.unwrap();
    let br = Browser::new(&t);
    let claims = r#"{"userinfo":{"name":{"essential":true},"picture":null},"id_token":{"given_name":null,"acr":{"values":["urn:example:other"]}}}"#;
    let p = rp_params(&id, &[("scope", "openid"), ("claims", claims)]);
    let code = br.code_for(&p, "cy", "pw-cy").await;
    let (_, body) = exchange_basic(&t, &id, &secret, &code, None).await;
    let (_, c) = t.verify(body["id_token"].as_str().unwrap(), &id).await;
    assert_eq!(c["given_name"], "Ada");
    assert!(c.get("name").is_none(), "name was asked of /userinfo, not of the ID token");
    assert_eq!(c["acr"], "urn:oauthd:pwd", "a voluntary acr request never fails the login");
    let info = userinfo(&t, body["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (info["name"].as_str(), info["picture"].as_str()),
        (Some("Ada Lovelace"), Some("https://ada.example/a.png"))
    );
    assert!(info.get("given_name").is_none());

    let essential = r#"{"id_token":{"acr":{"essential":true,"values":["urn:example:mfa"]}}}"#;
    let r = br.authorize(&rp_params(&id, &[("claims", essential)])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("unmet_authentication_requirements"));
    let r = br.authorize(&rp_params(&id, &[("claims", "{not json")])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"));
    // A sub value names the only user who may be signed in (§5.5.1): someone else is not.
    let other = r#"{"id_token":{"sub":{"value":"local|someone-else"}}}"#;
    let r = br.authorize(&rp_params(&id, &[("claims", other), ("prompt", "none")])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"));
}

async fn claims_are_set_with_the_cli_flags_and_a_claims_file(b: Backend) {
    let db = fresh_database(b).await;
    let file = std::env::temp_dir().join(format!("claims-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, r#"{"family_name":"Hopper","address":{"country":"US"},"picture":"https://x.test/g.png"}"#)
        .unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "user",
        "create",
        "--username",
        "grace",
        "--password-stdin",
        "--given-name",
        "Grace",
        "--claims",
        file,
        "--json",
    ];
    let (ok, out, err) = oauthd(&db, &args, Some("pw-grace\n"));
    assert!(ok, "{err}");
    let id = serde_json::from_str::<Value>(out.trim()).unwrap()["user_id"].as_str().unwrap().to_string();
    let args =
        ["user", "update", "grace", "--email", "grace@navy.test", "--email-verified", "true", "--locale", "en-US"];
    let (ok, out, err) = oauthd(&db, &args, None);
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        shown["claims"],
        json!({"given_name":"Grace","family_name":"Hopper","address":{"country":"US"},"picture":"https://x.test/g.png","locale":"en-US"})
    );
    assert_eq!((shown["email"].as_str(), shown["email_verified"].as_bool()), (Some("grace@navy.test"), Some(true)));
    let (ok, _, err) = oauthd(&db, &["user", "update", &id, "--birthdate", "9 Dec 1906"], None);
    assert!(!ok && err.contains("birthdate"), "{err}");
    let (ok, _, err) = oauthd(&db, &["user", "update", &id, "--claims", "/nonexistent.json"], None);
    assert!(!ok && err.contains("--claims"), "{err}");
}

async fn the_auth0_import_keeps_the_profile_fields_auth0_exports(b: Backend) {
    let t = TestApp::spawn(b).await;
    let export = r#"{"user_id":"auth0|p1","email":"pat@example.com","email_verified":true,"given_name":"Pat","family_name":"Doe","name":"Pat Doe","nickname":"pd","picture":"https://s.gravatar.com/avatar/x.png","phone_number":"+15550100","phone_verified":true,"locale":"fr","user_metadata":{"plan":"gold"},"picture_large":"x"}
{"user_id":"auth0|p2","email":"bad@example.com","picture":"not a url","name":""}"#;
    let report = oauthd::admin::users::import_auth0(t.app.store.as_ref(), export, oauthd::clock::now()).await;
    assert_eq!((report.imported, report.failed), (2, 0), "{report:?}");
    let u = t.app.store.get_user("auth0|p1").await.unwrap().unwrap();
    let c: Value = serde_json::from_str(&u.claims).unwrap();
    assert_eq!(
        c,
        json!({"given_name":"Pat","family_name":"Doe","name":"Pat Doe","nickname":"pd","picture":"https://s.gravatar.com/avatar/x.png","phone_number":"+15550100","phone_number_verified":true,"locale":"fr"})
    );
    let bad = t.app.store.get_user("auth0|p2").await.unwrap().unwrap();
    assert_eq!(bad.claims, "{}", "values oauthd would refuse are left out, the user is kept");
}

/// OIDC Core §12.2: an ID token from a refresh is about the same login: the same `sub`, `sid`,
/// `auth_time`, `acr` and `amr`, no `nonce`, and the claims the `claims` parameter asked for.
async fn a_refreshed_id_token_repeats_the_login_session_and_its_claims_request(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = web_client(&t, |_| {}).await;
    let u = t.user("dee", "pw-dee").await;
    oauthd::admin::users::set_claims(t.app.store.as_ref(), &u.id, &every_claim(), oauthd::clock::now()).await.unwrap();
    let br = Browser::new(&t);
    let claims = r#"{"userinfo":{"picture":null},"id_token":{"given_name":null}}"#;
    let p = rp_params(&id, &[("scope", "openid offline_access"), ("claims", claims), ("nonce", "n-0S6")]);
    let code = br.code_for(&p, "dee", "pw-dee").await;
    let (s, first) = exchange_basic(&t, &id, &secret, &code, None).await;
    assert_eq!(s, 200, "{first}");
    let (_, login) = t.verify(first["id_token"].as_str().unwrap(), &id).await;
    assert_eq!((login["nonce"].as_str(), login["given_name"].as_str()), (Some("n-0S6"), Some("Ada")));
    let form = [("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "{body}");
    let (_, again) = t.verify(body["id_token"].as_str().unwrap(), &id).await;
    for k in ["sub", "sid", "auth_time", "acr", "amr", "given_name"] {
        assert!(login.get(k).is_some(), "{k} in the login's ID token");
        assert_eq!(again[k], login[k], "{k}");
    }
    assert!(again.get("nonce").is_none(), "a refreshed ID token has no nonce");
    let info = userinfo(&t, body["access_token"].as_str().unwrap()).await;
    assert_eq!(info["picture"], "https://ada.example/a.png", "the userinfo claims request survives the refresh");
}

on_both_backends!(
    every_standard_claim_is_released_by_its_scope,
    the_id_token_carries_acr_amr_auth_time_and_the_session_id,
    the_claims_parameter_releases_named_claims_where_asked,
    claims_are_set_with_the_cli_flags_and_a_claims_file,
    the_auth0_import_keeps_the_profile_fields_auth0_exports,
    a_refreshed_id_token_repeats_the_login_session_and_its_claims_request,
);
