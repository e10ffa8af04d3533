//! Identity-only logins (OIDC Core §3.1 with no API named), the PKCE policy (RFC 9700 §2.1.1),
//! /userinfo with the token in a form body (RFC 6750 §2.2) and discovery (OIDC Discovery §3).

use oauthd::config::PkceRequired;

use crate::browser::*;
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

async fn an_identity_only_login_works_with_default_settings_through_the_login_page(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = web_client(&t, |_| {}).await;
    t.user("ines", "pw-ines").await;
    let br = Browser::new(&t);
    let code = br.code_for(&rp_params(&id, &[]), "ines", "pw-ines").await;
    let (s, body) = exchange_basic(&t, &id, &secret, &code, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["scope"], "openid profile email");
    let userinfo = format!("{}/userinfo", t.base);
    let (typ, at) = t.verify(body["access_token"].as_str().unwrap(), &userinfo).await;
    assert_eq!((typ.as_str(), at["aud"].as_str()), ("at+jwt", Some(userinfo.as_str())));
    let (_, idt) = t.verify(body["id_token"].as_str().unwrap(), &id).await;
    assert_eq!(idt["nonce"], "n-456");
    assert_eq!(idt["preferred_username"], "ines");
    let (s, _, info) =
        json(t.http.get(&userinfo).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap()).await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["sub"], idt["sub"]);
    assert_eq!(info["email"], "ines@example.com");
}

async fn an_identity_only_password_login_works_with_default_settings(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = web_client(&t, |c| c.grants = vec!["password".into()]).await;
    t.user("jo", "pw-jo").await;
    let form = [("grant_type", "password"), ("username", "jo"), ("password", "pw-jo"), ("scope", "openid profile")];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["scope"], "openid profile");
    let userinfo = format!("{}/userinfo", t.base);
    t.verify(body["access_token"].as_str().unwrap(), &userinfo).await;
    let (s, _, info) =
        json(t.http.post(&userinfo).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap()).await;
    assert_eq!((s, info["preferred_username"].as_str()), (200, Some("jo")));
    // Without openid, there is nothing to log in to: the audience is still required.
    let form = [("grant_type", "password"), ("username", "jo"), ("password", "pw-jo"), ("scope", "profile")];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
}

async fn an_identity_only_login_refreshes_for_the_userinfo_endpoint(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = web_client(&t, |c| c.first_party = false).await;
    t.user("oz", "pw-oz").await;
    let br = Browser::new(&t);
    let p = rp_params(&id, &[("scope", "openid email offline_access"), ("prompt", "consent")]);
    let page = br.authorize(&p).await.text().await.unwrap();
    let r = br.login(&page, &p, "oz", "pw-oz").await;
    let page = br.follow(&r).await.text().await.unwrap();
    assert!(page.contains("See your email address") && page.contains("Stay connected"), "{page}");
    let r = br.consent(&page, &p, "allow").await;
    let code = query_param(&location(&r), "code").expect("code");
    let (s, body) = exchange_basic(&t, &id, &secret, &code, None).await;
    assert_eq!(s, 200, "{body}");
    let form = [("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"].as_str().unwrap())];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("openid email offline_access")), "{body}");
    let userinfo = format!("{}/userinfo", t.base);
    t.verify(body["access_token"].as_str().unwrap(), &userinfo).await;
    let (_, idt) = t.verify(body["id_token"].as_str().unwrap(), &id).await;
    assert_eq!(idt["acr"], "urn:oauthd:pwd");
    let r = t.http.get(&userinfo).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn identity_only_logins_grant_only_openid_connect_scopes(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["password"], "read:x").await;
    t.user("kai", "pw-kai").await;
    let form = [("grant_type", "password"), ("username", "kai"), ("password", "pw-kai"), ("scope", "openid read:x")];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("read:x"));
    // Refresh tokens only for clients allowed them: offline_access is dropped otherwise.
    let form =
        [("grant_type", "password"), ("username", "kai"), ("password", "pw-kai"), ("scope", "openid offline_access")];
    let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    assert_eq!((s, body["scope"].as_str()), (200, Some("openid")), "{body}");
    assert!(body.get("refresh_token").is_none());
}

async fn default_audience_applies_only_when_the_client_is_granted_it(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.default_audience = API.into()).await;
    let (granted, gs) = t.client(&["password"], "read:x").await;
    let (login_only, ls) = web_client(&t, |c| c.grants = vec!["password".into()]).await;
    t.user("lu", "pw-lu").await;
    let form = [("grant_type", "password"), ("username", "lu"), ("password", "pw-lu"), ("scope", "openid")];
    let (s, _, body) = json(t.post_token_basic(&granted, &gs, &form).await).await;
    assert_eq!(s, 200, "{body}");
    let (_, c) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(c["aud"], API, "the default audience, granted to this client");
    let (s, _, body) = json(t.post_token_basic(&login_only, &ls, &form).await).await;
    assert_eq!(s, 200, "a login-only client is not refused for lacking the default API: {body}");
    t.verify(body["access_token"].as_str().unwrap(), &format!("{}/userinfo", t.base)).await;
}

async fn machine_grants_without_an_audience_stay_invalid_target(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    for scope in [None, Some("openid")] {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(scope.map(|s| ("scope", s)));
        let (s, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_target")), "{scope:?}: {body}");
    }
}

async fn prompt_none_without_a_session_is_login_required_before_an_audience_error(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, _) = web_client(&t, |_| {}).await;
    let br = Browser::new(&t);
    for extra in [vec![("prompt", "none")], vec![("prompt", "none"), ("audience", "https://unknown.test")]] {
        let r = br.authorize(&rp_params(&id, &extra)).await;
        assert_eq!(r.status(), 303);
        assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"), "{extra:?}");
    }
    // With no prompt=none, the audience error is reported before any login page.
    let r = br.authorize(&rp_params(&id, &[("audience", "https://unknown.test")])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_target"));
}

async fn confidential_clients_need_no_pkce_by_default_but_public_ones_always_do(b: Backend) {
    let t = TestApp::spawn(b).await;
    assert_eq!(t.app.settings.pkce_required, PkceRequired::Public);
    let spa_id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let r = br.authorize(&rp_params(&spa_id, &[])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"), "public: PKCE required");
    let (web, _) = web_client(&t, |_| {}).await;
    assert_eq!(br.authorize(&rp_params(&web, &[])).await.status(), 200, "confidential: the login page");
    let (strict, _) = web_client(&t, |c| c.require_pkce = true).await;
    let r = br.authorize(&rp_params(&strict, &[])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"), "--require-pkce");
    let p = rp_params(&strict, &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]);
    assert_eq!(br.authorize(&p).await.status(), 200);
    let p = rp_params(&strict, &[("code_challenge", CHALLENGE), ("code_challenge_method", "plain")]);
    assert_eq!(query_param(&location(&br.authorize(&p).await), "error").as_deref(), Some("invalid_request"));
}

async fn pkce_required_all_demands_pkce_from_every_client(b: Backend) {
    let t = TestApp::spawn_with(b, |s| s.pkce_required = PkceRequired::All).await;
    let (web, secret) = web_client(&t, |_| {}).await;
    t.user("mo", "pw-mo").await;
    let br = Browser::new(&t);
    let r = br.authorize(&rp_params(&web, &[])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"));
    // The downgrade guard: a challenge at /authorize makes the verifier mandatory at /token.
    let p = rp_params(&web, &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]);
    let code = br.code_for(&p, "mo", "pw-mo").await;
    let (s, body) = exchange_basic(&t, &web, &secret, &code, None).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let code = br.code_for(&p, "mo", "pw-mo").await;
    assert_eq!(exchange_basic(&t, &web, &secret, &code, Some(VERIFIER)).await.0, 200);
}

async fn the_pkce_setting_reads_its_old_boolean_values(_b: Backend) {
    let flags = oauthd::config::Overrides::default();
    for (raw, want) in [
        ("true", PkceRequired::All),
        ("false", PkceRequired::Public),
        ("all", PkceRequired::All),
        ("public", PkceRequired::Public),
    ] {
        let env = [("OAUTHD_PKCE_REQUIRED".to_string(), raw.to_string())];
        let s = oauthd::Settings::layered(None, env.into_iter(), &flags).unwrap();
        assert_eq!(s.pkce_required, want, "{raw}");
    }
    let env = [("OAUTHD_PKCE_REQUIRED".to_string(), "sometimes".to_string())];
    assert!(oauthd::Settings::layered(None, env.into_iter(), &flags).is_err());
}

async fn userinfo_takes_the_token_in_a_form_body_and_refuses_two_at_once(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = web_client(&t, |c| c.grants = vec!["password".into()]).await;
    t.user("ny", "pw-ny").await;
    let form = [("grant_type", "password"), ("username", "ny"), ("password", "pw-ny"), ("scope", "openid email")];
    let (_, _, body) = json(t.post_token_basic(&id, &secret, &form).await).await;
    let at = body["access_token"].as_str().unwrap();
    let url = t.url("/userinfo");
    let (s, h, info) = json(t.http.post(&url).form(&[("access_token", at)]).send().await.unwrap()).await;
    assert_eq!((s, info["email"].as_str()), (200, Some("ny@example.com")), "{info}");
    assert_eq!(h["cache-control"], "no-store");
    let r = t.http.post(&url).bearer_auth(at).form(&[("access_token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 400, "RFC 6750 §2: one method per request");
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_request\""));
    let r = t.http.post(&url).form(&[("access_token", "garbage")]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    // A GET's query is not a place for tokens here (RFC 6750 §2.3 is optional, and not offered).
    let r = t.http.get(format!("{url}?access_token={at}")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"oauthd\"");
}

async fn discovery_lists_what_is_implemented(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, _, d) = json(t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["response_modes_supported"], serde_json::json!(["query", "form_post"]));
    assert_eq!(d["acr_values_supported"], serde_json::json!(["urn:oauthd:pwd"]));
    assert_eq!(d["end_session_endpoint"], format!("{}/logout", t.base));
    assert_eq!(
        (d["backchannel_logout_supported"].as_bool(), d["backchannel_logout_session_supported"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(d["claims_parameter_supported"], true);
    let scopes: Vec<&str> = d["scopes_supported"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for s in ["openid", "profile", "email", "address", "phone", "offline_access"] {
        assert!(scopes.contains(&s), "{s}");
    }
    let claims: Vec<&str> = d["claims_supported"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for c in ["sub", "acr", "amr", "sid", "auth_time", "given_name", "birthdate", "address", "phone_number_verified"] {
        assert!(claims.contains(&c), "{c}");
    }
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
}

on_both_backends!(
    an_identity_only_login_works_with_default_settings_through_the_login_page,
    an_identity_only_password_login_works_with_default_settings,
    an_identity_only_login_refreshes_for_the_userinfo_endpoint,
    identity_only_logins_grant_only_openid_connect_scopes,
    default_audience_applies_only_when_the_client_is_granted_it,
    machine_grants_without_an_audience_stay_invalid_target,
    prompt_none_without_a_session_is_login_required_before_an_audience_error,
    confidential_clients_need_no_pkce_by_default_but_public_ones_always_do,
    pkce_required_all_demands_pkce_from_every_client,
    the_pkce_setting_reads_its_old_boolean_values,
    userinfo_takes_the_token_in_a_form_body_and_refuses_two_at_once,
    discovery_lists_what_is_implemented,
);
