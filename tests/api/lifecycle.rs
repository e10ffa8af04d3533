//! Introspection (RFC 7662), revocation (RFC 7009) and `oauthd token inspect`.

use serde_json::Value;

use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

struct Tokens {
    t: TestApp,
    rs: (String, String),
    pw: (String, String),
    cc_token: String,
    user_token: Value,
}

async fn setup(b: Backend) -> Tokens {
    let t = TestApp::spawn(b).await;
    let rs = t.m2m().await;
    let pw = t.client(&["password", "refresh_token", "client_credentials"], "read:x").await;
    t.user("wes", "pw-wes").await;
    let (_, _, cc) =
        json(t.post_token_basic(&rs.0, &rs.1, &[("grant_type", "client_credentials"), ("audience", API)]).await).await;
    let form = [
        ("grant_type", "password"),
        ("username", "wes"),
        ("password", "pw-wes"),
        ("audience", API),
        ("scope", "openid read:x offline_access"),
    ];
    let (_, _, user_token) = json(t.post_token_basic(&pw.0, &pw.1, &form).await).await;
    Tokens { cc_token: cc["access_token"].as_str().unwrap().into(), user_token, t, rs, pw }
}

impl Tokens {
    async fn introspect(&self, who: &(String, String), token: &str, hint: Option<&str>) -> (u16, Value) {
        let mut form = vec![("token", token)];
        if let Some(h) = hint {
            form.push(("token_type_hint", h));
        }
        let r = self
            .t
            .http
            .post(self.t.url("/introspect"))
            .basic_auth(&who.0, Some(&who.1))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store");
        let (s, _, body) = json(r).await;
        (s, body)
    }

    async fn revoke(&self, who: &(String, String), token: &str, hint: Option<&str>) -> u16 {
        let mut form = vec![("token", token)];
        if let Some(h) = hint {
            form.push(("token_type_hint", h));
        }
        self.t
            .http
            .post(self.t.url("/revoke"))
            .basic_auth(&who.0, Some(&who.1))
            .form(&form)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn at(&self) -> &str {
        self.user_token["access_token"].as_str().unwrap()
    }
    fn rt(&self) -> &str {
        self.user_token["refresh_token"].as_str().unwrap()
    }
}

async fn introspection_describes_active_access_and_refresh_tokens(b: Backend) {
    let k = setup(b).await;
    let (s, v) = k.introspect(&k.rs, &k.cc_token, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["active"], true);
    assert_eq!(v["sub"], format!("{}@clients", k.rs.0));
    assert_eq!(v["gty"], "client-credentials");
    assert_eq!(v["aud"], API);
    assert_eq!(v["iss"], k.t.base);
    assert_eq!(v["token_type"], "Bearer");
    for key in ["scope", "client_id", "exp", "iat"] {
        assert!(!v[key].is_null(), "{key}");
    }
    let (_, v) = k.introspect(&k.rs, k.at(), Some("refresh_token")).await;
    assert_eq!((v["active"].clone(), v["gty"].clone()), (true.into(), "password".into()), "the hint is not trusted");
    let (_, v) = k.introspect(&k.pw, k.rt(), None).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "refresh_token");
    assert_eq!(v["client_id"], k.pw.0);
    assert!(v["sub"].as_str().unwrap().starts_with("local|"));
}

async fn introspection_says_inactive_for_unknown_foreign_and_other_clients_refresh_tokens(b: Backend) {
    let k = setup(b).await;
    let other = TestApp::spawn(b).await;
    let (oid, osec) = other.m2m().await;
    let (_, _, foreign) =
        json(other.post_token_basic(&oid, &osec, &[("grant_type", "client_credentials"), ("audience", API)]).await)
            .await;
    for token in ["nope", foreign["access_token"].as_str().unwrap(), k.user_token["id_token"].as_str().unwrap(), k.rt()]
    {
        let (s, v) = k.introspect(&k.rs, token, None).await;
        assert_eq!(s, 200);
        assert_eq!(v, serde_json::json!({ "active": false }), "{token}");
    }
}

async fn introspection_requires_an_authenticated_client(b: Backend) {
    let k = setup(b).await;
    let r = k.t.http.post(k.t.url("/introspect")).form(&[("token", k.cc_token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r =
        k.t.http
            .post(k.t.url("/introspect"))
            .basic_auth(&k.rs.0, Some("wrong"))
            .form(&[("token", k.cc_token.as_str())])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);
}

async fn revoking_a_refresh_token_revokes_its_family(b: Backend) {
    let k = setup(b).await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", k.rt())];
    let (_, _, next) = json(k.t.post_token_basic(&k.pw.0, &k.pw.1, &form).await).await;
    // Revoke the (already rotated) first token: the whole family goes.
    assert_eq!(k.revoke(&k.pw, k.rt(), Some("refresh_token")).await, 200);
    let form = [("grant_type", "refresh_token"), ("refresh_token", next["refresh_token"].as_str().unwrap())];
    let (s, _, _) = json(k.t.post_token_basic(&k.pw.0, &k.pw.1, &form).await).await;
    assert_eq!(s, 400);
    // RFC 7009 §2.1: the access tokens of the same grant go with it.
    for at in [k.at(), next["access_token"].as_str().unwrap()] {
        let (_, v) = k.introspect(&k.rs, at, None).await;
        assert_eq!(v["active"], false, "{v}");
    }
}

async fn revoking_an_access_token_denies_it_until_it_expires(b: Backend) {
    let k = setup(b).await;
    assert_eq!(k.revoke(&k.pw, k.at(), Some("refresh_token")).await, 200);
    let (_, v) = k.introspect(&k.rs, k.at(), None).await;
    assert_eq!(v["active"], false);
    let r = k.t.http.get(k.t.url("/userinfo")).bearer_auth(k.at()).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

async fn unknown_and_other_clients_tokens_get_200_and_are_not_revoked(b: Backend) {
    let k = setup(b).await;
    assert_eq!(k.revoke(&k.pw, "no-such-token", None).await, 200);
    assert_eq!(k.revoke(&k.rs, k.rt(), None).await, 200);
    assert_eq!(k.revoke(&k.rs, k.at(), None).await, 200);
    let (_, v) = k.introspect(&k.pw, k.rt(), None).await;
    assert_eq!(v["active"], true, "another client cannot revoke it");
    let (_, v) = k.introspect(&k.rs, k.at(), None).await;
    assert_eq!(v["active"], true);
    let r =
        k.t.http.post(k.t.url("/revoke")).basic_auth(&k.pw.0, Some(&k.pw.1)).form(&[("x", "y")]).send().await.unwrap();
    assert_eq!(r.status(), 400, "token is required");
}

async fn token_inspect_explains_every_grant_and_every_bad_verdict(b: Backend) {
    let k = setup(b).await;
    let keys = k.t.app.store.list_keys().await.unwrap();
    let now = oauthd::clock::now();
    let inspect = |t: &str| oauthd::admin::inspect::inspect(&keys, &k.t.base, t, now);

    let cc = inspect(&k.cc_token);
    assert_eq!(cc["verdict"], "valid");
    let text = cc["explanation"].to_string();
    assert!(text.contains("client_credentials tokens are about the client") && text.contains("@clients"), "{text}");
    assert!(text.contains("client-credentials grant"));

    let user = inspect(k.at());
    assert_eq!(user["verdict"], "valid");
    assert!(user["explanation"].to_string().contains("is the user"));
    assert!(user["explanation"].to_string().contains("password grant"));
    assert_eq!(inspect(k.user_token["id_token"].as_str().unwrap())["verdict"], "valid");

    let mut tampered = k.cc_token.clone();
    let mid = tampered.len() - 10;
    tampered.replace_range(mid..mid + 1, if &tampered[mid..mid + 1] == "A" { "B" } else { "A" });
    assert_eq!(inspect(&tampered)["verdict"], "bad_signature");
    assert_eq!(inspect("not-a-jwt")["verdict"], "malformed");
    let later = oauthd::admin::inspect::inspect(&keys, &k.t.base, &k.cc_token, now + 7200);
    assert_eq!(later["verdict"], "expired");
    let other = oauthd::admin::inspect::inspect(&keys, "https://other.example", &k.cc_token, now);
    assert_eq!(other["verdict"], "foreign_issuer");
}

async fn token_inspect_explains_code_refresh_and_jwt_bearer_tokens_and_refresh_and_revoked_verdicts(b: Backend) {
    use crate::browser::{exchange, params, spa, Browser, VERIFIER};
    let k = setup(b).await;
    let (store, base) = (k.t.app.store.as_ref(), k.t.base.as_str());
    let inspect = |t: String| async move {
        oauthd::admin::inspect::inspect_with_store(store, base, &t, oauthd::clock::now()).await.unwrap()
    };
    let text = |v: &Value| v["explanation"].to_string();

    // authorization_code
    let spa_id = spa(&k.t, true, &[]).await;
    let code = Browser::new(&k.t).code_for(&params(&spa_id, &[]), "wes", "pw-wes").await;
    let (_, code_tokens) = exchange(&k.t, &spa_id, &code, Some(VERIFIER)).await;
    let v = inspect(code_tokens["access_token"].as_str().unwrap().into()).await;
    assert_eq!(v["verdict"], "valid");
    assert!(text(&v).contains("authorization-code grant") && text(&v).contains("is the user"), "{v}");

    // refresh_token: the refreshed access token keeps the grant; the opaque tokens are looked up
    let old_rt = k.rt().to_string();
    let form = [("grant_type", "refresh_token"), ("refresh_token", old_rt.as_str())];
    let (_, _, refreshed) = json(k.t.post_token_basic(&k.pw.0, &k.pw.1, &form).await).await;
    let v = inspect(refreshed["access_token"].as_str().unwrap().into()).await;
    assert!(v["verdict"] == "valid" && text(&v).contains("password grant"), "{v}");
    let v = inspect(refreshed["refresh_token"].as_str().unwrap().into()).await;
    assert_eq!(v["verdict"], "valid", "{v}");
    assert!(text(&v).contains("refresh token") && text(&v).contains(&k.pw.0), "{v}");
    assert_eq!(inspect(old_rt.clone()).await["verdict"], "used");

    // jwt-bearer
    let idp = crate::idp::Idp::start().await;
    let req = oauthd::admin::trust::NewIssuer {
        issuer: idp.base.clone(),
        jwks_uri: Some(idp.jwks_uri()),
        alias: Some("corp".into()),
        scope: Some("read:x".into()),
        map: Some("passthrough".into()),
        client_auth: Some("optional".into()),
        audience: Some(API.into()),
        ..Default::default()
    };
    let t2 = TestApp::spawn_with(b, |s| s.allow_http_loopback_jwks = true).await;
    oauthd::admin::trust::add(t2.app.store.as_ref(), &t2.app.jwks, true, req, oauthd::clock::now()).await.unwrap();
    let assertion = crate::idp::sign(&idp.key(), &crate::idp::claims(&idp.base, "alice", &t2.base), |_| {});
    let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
    let (s, _, fed) = json(t2.post_token(&form).await).await;
    assert_eq!(s, 200, "{fed}");
    let v = oauthd::admin::inspect::inspect_with_store(
        t2.app.store.as_ref(),
        &t2.base,
        fed["access_token"].as_str().unwrap(),
        oauthd::clock::now(),
    )
    .await
    .unwrap();
    assert_eq!(v["verdict"], "valid");
    assert!(text(&v).contains("jwt-bearer grant") && text(&v).contains(&idp.base), "{v}");

    // a revoked access token
    assert_eq!(k.revoke(&k.rs, &k.cc_token, None).await, 200);
    let v = inspect(k.cc_token.clone()).await;
    assert_eq!((v["verdict"].as_str(), v["valid"].as_bool()), (Some("revoked"), Some(false)), "{v}");
}

async fn discovery_lists_introspection_and_revocation(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (_, _, d) = json(t.http.get(t.url("/.well-known/oauth-authorization-server")).send().await.unwrap()).await;
    assert_eq!(d["introspection_endpoint"], format!("{}/introspect", t.base));
    assert_eq!(d["revocation_endpoint"], format!("{}/revoke", t.base));
    assert!(d["revocation_endpoint_auth_methods_supported"].is_array());
    assert!(d["introspection_endpoint_auth_methods_supported"].is_array());
}

/// Every table of state that ends: nothing in them may outlive what it records.
const ENDING: [&str; 5] = ["refresh_families", "sessions", "auth_codes", "revoked_jtis", "used_jtis"];

async fn the_purge_removes_every_family_session_code_and_revocation_once_it_ended(b: Backend) {
    use crate::browser::{exchange, params, spa, Browser, VERIFIER};
    let k = setup(b).await;
    let (store, now) = (k.t.app.store.as_ref(), oauthd::clock::now());
    // A family rotated twice, one revoked, a code flow (session, code, family), a denied access
    // token, a used assertion jti.
    let mut rt = k.rt().to_string();
    for _ in 0..2 {
        let form = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
        let (s, _, next) = json(k.t.post_token_basic(&k.pw.0, &k.pw.1, &form).await).await;
        assert_eq!(s, 200, "{next}");
        rt = next["refresh_token"].as_str().unwrap().into();
    }
    let form = [
        ("grant_type", "password"),
        ("username", "wes"),
        ("password", "pw-wes"),
        ("audience", API),
        ("scope", "offline_access"),
    ];
    let (_, _, other) = json(k.t.post_token_basic(&k.pw.0, &k.pw.1, &form).await).await;
    assert_eq!(k.revoke(&k.pw, other["refresh_token"].as_str().unwrap(), None).await, 200);
    assert_eq!(k.revoke(&k.rs, &k.cc_token, None).await, 200);
    let spa_id = spa(&k.t, true, &[]).await;
    let code = Browser::new(&k.t).code_for(&params(&spa_id, &[]), "wes", "pw-wes").await;
    assert_eq!(exchange(&k.t, &spa_id, &code, Some(VERIFIER)).await.0, 200);
    assert!(store.use_jti("https://idp.test", "j-1", now + 60).await.unwrap());

    store.purge_expired(now).await.unwrap();
    for table in ENDING {
        assert!(k.t.count_rows(table).await > 0, "{table}: nothing live is purged");
    }
    let (_, v) = k.introspect(&k.pw, &rt, None).await;
    assert_eq!(v["active"], true, "the live family survives the purge");
    // Past the idle lifetime (7 days) but within the absolute one (30 days), then past that.
    store.purge_expired(now + 8 * 86400).await.unwrap();
    store.purge_expired(now + 31 * 86400).await.unwrap();
    for table in ENDING {
        assert_eq!(k.t.count_rows(table).await, 0, "{table}");
    }
}

on_both_backends!(
    introspection_describes_active_access_and_refresh_tokens,
    introspection_says_inactive_for_unknown_foreign_and_other_clients_refresh_tokens,
    introspection_requires_an_authenticated_client,
    revoking_a_refresh_token_revokes_its_family,
    revoking_an_access_token_denies_it_until_it_expires,
    unknown_and_other_clients_tokens_get_200_and_are_not_revoked,
    token_inspect_explains_every_grant_and_every_bad_verdict,
    token_inspect_explains_code_refresh_and_jwt_bearer_tokens_and_refresh_and_revoked_verdicts,
    discovery_lists_introspection_and_revocation,
    the_purge_removes_every_family_session_code_and_revocation_once_it_ended,
);
