//! The jwt-bearer grant (RFC 7523 §2.1) against a local IdP: every check, mapping, client
//! authentication, replay and scope.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oauthd::admin::trust::{add, NewIssuer};
use oauthd::clock::now;
use serde_json::{json, Value};

use crate::helpers::{json as body, Backend, TestApp, API};
use crate::idp::{claims, raw, sign, Idp};
use crate::on_both_backends;

pub const GT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

pub async fn app(b: Backend) -> TestApp {
    TestApp::spawn_with(b, |s| s.allow_http_loopback_jwks = true).await
}

pub async fn trust(t: &TestApp, idp: &Idp, map: &str, client_auth: &str) {
    let req = NewIssuer {
        issuer: idp.base.clone(),
        jwks_uri: Some(idp.jwks_uri()),
        alias: Some("corp".into()),
        subjects: Some("alice bob svc-* carol".into()),
        scope: Some("read:x".into()),
        map: Some(map.into()),
        client_auth: Some(client_auth.into()),
        max_age: Some(3600),
        audience: Some(API.into()),
        ..Default::default()
    };
    add(t.app.store.as_ref(), &t.app.jwks, true, req, now()).await.unwrap();
}

pub async fn exchange(
    t: &TestApp,
    client: Option<&(String, String)>,
    assertion: &str,
    scope: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![("grant_type", GT), ("assertion", assertion)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let r = match client {
        Some((id, secret)) => t.post_token_basic(id, secret, &form).await,
        None => t.post_token(&form).await,
    };
    let (s, _, v) = body(r).await;
    (s, v)
}

async fn every_assertion_check_fails_with_its_own_description(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    let second = Idp::start().await;
    trust(&t, &idp, "passthrough", "required").await;
    let client = t.client(&["urn:ietf:params:oauth:grant-type:jwt-bearer"], "read:x").await;
    let key = idp.key();
    let aud = t.base.clone();
    let good = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(&idp.base, "alice", &aud);
        f(&mut c);
        sign(&key, &c, |_| {})
    };
    let rsa = oauthd::jwt::keys::generate(oauthd::jwt::keys::Alg::RS256, 0).unwrap();
    idp.state.keys.lock().unwrap().push(rsa.clone());
    let public_key_bytes = serde_json::to_vec(&serde_json::from_str::<Value>(&key.public_jwk).unwrap()).unwrap();
    let attacker_hits_before = second.hits();
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", raw(&json!({"alg": "none", "kid": key.kid}), &claims(&idp.base, "alice", &aud), ""), "unsigned"),
        (
            "alg none with a signature",
            raw(&json!({"alg": "none", "kid": key.kid}), &claims(&idp.base, "alice", &aud), "AAAA"),
            "alg none",
        ),
        (
            "HS256 with the public key",
            {
                let mut h = Header::new(Algorithm::HS256);
                h.kid = Some(key.kid.clone());
                jsonwebtoken::encode(
                    &h,
                    &claims(&idp.base, "alice", &aud),
                    &EncodingKey::from_secret(&public_key_bytes),
                )
                .unwrap()
            },
            "symmetric alg HS256",
        ),
        (
            "a key of a second issuer",
            sign(&second.key(), &claims(&idp.base, "alice", &aud), |h| h.kid = Some(key.kid.clone())),
            "signature does not verify",
        ),
        ("unknown kid", sign(&second.key(), &claims(&idp.base, "alice", &aud), |_| {}), "no key with kid"),
        (
            "RSA kid with an ES256 header",
            sign(&key, &claims(&idp.base, "alice", &aud), |h| h.kid = Some(rsa.kid.clone())),
            "does not match the key's alg",
        ),
        (
            "jku header",
            sign(&second.key(), &claims(&idp.base, "alice", &aud), |h| {
                h.jku = Some(format!("{}/jwks", second.base));
                h.kid = Some(second.key().kid)
            }),
            "no key with kid",
        ),
        (
            "x5u header",
            sign(&second.key(), &claims(&idp.base, "alice", &aud), |h| {
                h.x5u = Some(format!("{}/x5u", second.base));
                h.kid = Some(second.key().kid)
            }),
            "no key with kid",
        ),
        (
            "jwk header",
            sign(&second.key(), &claims(&idp.base, "alice", &aud), |h| {
                h.jwk = Some(serde_json::from_str(&second.key().public_jwk).unwrap());
                h.kid = Some(second.key().kid)
            }),
            "no key with kid",
        ),
        (
            "crit header",
            sign(&key, &claims(&idp.base, "alice", &aud), |h| h.crit = Some(vec!["exp".into()])),
            "unsupported crit",
        ),
        (
            "our own access token type",
            sign(&key, &claims(&idp.base, "alice", &aud), |h| h.typ = Some("at+jwt".into())),
            "access token",
        ),
        ("untrusted issuer", sign(&key, &claims("https://other.example", "alice", &aud), |_| {}), "is not trusted"),
        (
            "no sub",
            good(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            "sub is required",
        ),
        ("subject not allowed", good(&|c| c["sub"] = json!("mallory")), "is not allowed for this issuer"),
        (
            "no aud",
            good(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            "aud is required",
        ),
        ("aud with a trailing slash", good(&|c| c["aud"] = json!(format!("{aud}/"))), "aud must contain"),
        ("aud in another case", good(&|c| c["aud"] = json!(aud.to_uppercase())), "aud must contain"),
        (
            "no exp",
            good(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "exp is required",
        ),
        ("string exp", good(&|c| c["exp"] = json!((now() + 300).to_string())), "exp must be a number"),
        ("null exp", good(&|c| c["exp"] = Value::Null), "exp is required"),
        (
            "expired",
            good(&|c| {
                c["exp"] = json!(now() - 120);
                c["iat"] = json!(now() - 600);
            }),
            "has expired",
        ),
        ("future nbf", good(&|c| c["nbf"] = json!(now() + 600)), "not valid yet"),
        ("future iat", good(&|c| c["iat"] = json!(now() + 600)), "iat is in the future"),
        ("too long-lived", good(&|c| c["exp"] = json!(now() + 7200)), "exceeds the allowed"),
        (
            "no jti",
            good(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            "jti is required",
        ),
        ("not a JWS", "abc.def".into(), "not a compact JWS"),
        ("too large", "a".repeat(17 * 1024), "larger than 16 KiB"),
    ];
    for (name, assertion, expected) in cases {
        let (s, v) = exchange(&t, Some(&client), &assertion, None).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{name}: {v}");
        let d = v["error_description"].as_str().unwrap();
        assert!(d.contains(expected), "{name}: expected {expected:?} in {d:?}");
    }
    assert_eq!(second.hits(), attacker_hits_before, "nothing named in an assertion is ever fetched");
    // The token endpoint URL is an accepted audience too, and the right assertion works.
    let ok = good(&|c| c["aud"] = json!([format!("{aud}/token")]));
    let (s, v) = exchange(&t, Some(&client), &ok, None).await;
    assert_eq!(s, 200, "{v}");
    // Missing or repeated assertion: invalid_request.
    let (s, _, v) = body(t.post_token_basic(&client.0, &client.1, &[("grant_type", GT)]).await).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")));
    let r = t
        .http
        .post(t.url("/token"))
        .basic_auth(&client.0, Some(&client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type={GT}&assertion=a.b.c&assertion=a.b.c"))
        .send()
        .await
        .unwrap();
    assert_eq!(body(r).await.2["error"], "invalid_request");
}

async fn each_mapping_mode_sets_the_subject(b: Backend) {
    let t = app(b).await;
    let client = t.client(&["urn:ietf:params:oauth:grant-type:jwt-bearer"], "read:x write:x").await;
    // link
    let idp = Idp::start().await;
    trust(&t, &idp, "link", "required").await;
    let user = t.user("linked", "pw").await;
    let a = sign(&idp.key(), &claims(&idp.base, "alice", &t.base), |_| {});
    let (s, v) = exchange(&t, Some(&client), &a, None).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "unlinked");
    t.app.store.link_user(&idp.base, "alice", &user.id, now()).await.unwrap();
    let a = sign(&idp.key(), &claims(&idp.base, "alice", &t.base), |_| {});
    let (s, v) = exchange(&t, Some(&client), &a, Some("read:x")).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = t.verify(v["access_token"].as_str().unwrap(), API).await;
    assert_eq!(
        (c["sub"].as_str(), c["gty"].as_str(), c["idp"].as_str()),
        (Some(user.id.as_str()), Some("jwt-bearer"), Some(idp.base.as_str()))
    );
    assert!(v.get("refresh_token").is_none());
    let (s, v) =
        exchange(&t, Some(&client), &sign(&idp.key(), &claims(&idp.base, "alice", &t.base), |_| {}), Some("write:x"))
            .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_scope")), "beyond the issuer's scope");

    // passthrough
    let t = app(b).await;
    let client = t.client(&["urn:ietf:params:oauth:grant-type:jwt-bearer"], "read:x").await;
    let idp = Idp::start().await;
    trust(&t, &idp, "passthrough", "required").await;
    let (s, v) =
        exchange(&t, Some(&client), &sign(&idp.key(), &claims(&idp.base, "svc-build", &t.base), |_| {}), None).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = t.verify(v["access_token"].as_str().unwrap(), API).await;
    assert_eq!(c["sub"], "corp|svc-build");

    // provision
    let t = app(b).await;
    let client = t.client(&["urn:ietf:params:oauth:grant-type:jwt-bearer"], "read:x").await;
    let idp = Idp::start().await;
    trust(&t, &idp, "provision", "required").await;
    for _ in 0..2 {
        let (s, v) =
            exchange(&t, Some(&client), &sign(&idp.key(), &claims(&idp.base, "carol", &t.base), |_| {}), None).await;
        assert_eq!(s, 200, "{v}");
        let (_, c) = t.verify(v["access_token"].as_str().unwrap(), API).await;
        assert_eq!(c["sub"], "corp|carol");
    }
    assert!(t.app.store.get_user("corp|carol").await.unwrap().is_some());
}

async fn client_authentication_is_required_unless_the_issuer_says_optional(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "passthrough", "required").await;
    let (s, v) = exchange(&t, None, &sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |_| {}), None).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
    let other = Idp::start().await;
    let req = NewIssuer {
        issuer: other.base.clone(),
        jwks_uri: Some(other.jwks_uri()),
        alias: Some("ci".into()),
        scope: Some("read:x".into()),
        audience: Some(API.into()),
        map: Some("passthrough".into()),
        client_auth: Some("optional".into()),
        ..Default::default()
    };
    add(t.app.store.as_ref(), &t.app.jwks, true, req, now()).await.unwrap();
    t.api("read:x").await;
    let (s, v) = exchange(&t, None, &sign(&other.key(), &claims(&other.base, "job-1", &t.base), |_| {}), None).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = t.verify(v["access_token"].as_str().unwrap(), API).await;
    assert_eq!((c["client_id"].as_str(), c["sub"].as_str()), (Some("ci"), Some("ci|job-1")));
}

async fn a_replayed_assertion_is_rejected_even_on_another_instance(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "passthrough", "required").await;
    let client = t.client(&["urn:ietf:params:oauth:grant-type:jwt-bearer"], "read:x").await;
    let a = sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |_| {});
    // A second instance on the same database, with the same issuer.
    let other = TestApp::spawn_on(t.app.settings.database_url.clone(), |s| {
        s.allow_http_loopback_jwks = true;
        s.issuer = t.base.clone();
    })
    .await;
    assert_eq!(exchange(&t, Some(&client), &a, None).await.0, 200);
    let (s, v) = exchange(&t, Some(&client), &a, None).await;
    assert!(s == 400 && v["error_description"].as_str().unwrap().contains("replay"), "{v}");
    let (s, v) = exchange(&other, Some(&client), &a, None).await;
    assert!(s == 400 && v["error_description"].as_str().unwrap().contains("replay"), "{v}");
}

async fn scopes_beyond_the_issuers_scope_are_invalid_scope_oidc_ones_included(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "passthrough", "required").await;
    let client = t.client(&[GT], "read:x write:x").await;
    let a = || sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |_| {});
    // The issuer allows only read:x: OIDC scopes are not added on top of it.
    for scope in ["openid", "read:x profile", "offline_access", "email"] {
        let (s, v) = exchange(&t, Some(&client), &a(), Some(scope)).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_scope")), "{scope}: {v}");
    }
    // An issuer that lists openid may grant it, but never offline_access: no refresh token here.
    let other = Idp::start().await;
    let req = NewIssuer {
        issuer: other.base.clone(),
        jwks_uri: Some(other.jwks_uri()),
        alias: Some("oidc".into()),
        scope: Some("read:x openid offline_access".into()),
        map: Some("passthrough".into()),
        audience: Some(API.into()),
        ..Default::default()
    };
    add(t.app.store.as_ref(), &t.app.jwks, true, req, now()).await.unwrap();
    let b = || sign(&other.key(), &claims(&other.base, "bob", &t.base), |_| {});
    let (s, v) = exchange(&t, Some(&client), &b(), Some("openid read:x")).await;
    assert_eq!((s, v["scope"].as_str()), (200, Some("openid read:x")), "{v}");
    let (s, v) = exchange(&t, Some(&client), &b(), Some("offline_access")).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_scope")), "{v}");
    let (s, v) = exchange(&t, Some(&client), &b(), None).await;
    assert_eq!((s, v["scope"].as_str()), (200, Some("read:x")), "no scope asked: API scopes only: {v}");
}

async fn a_subject_with_control_characters_or_a_client_suffix_is_refused(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "passthrough", "optional").await;
    for (sub, why) in [
        ("svc-a\nINFO forged line", "sub must not contain control characters"),
        ("svc-a@clients", "sub must not end in @clients, which marks client subjects"),
    ] {
        let a = sign(&idp.key(), &claims(&idp.base, sub, &t.base), |_| {});
        let (s, v) = exchange(&t, None, &a, None).await;
        assert_eq!((s, v["error"].as_str(), v["error_description"].as_str()), (400, Some("invalid_grant"), Some(why)));
    }
    let a = sign(&idp.key(), &claims(&idp.base, "svc-a", &t.base), |_| {});
    assert_eq!(exchange(&t, None, &a, None).await.0, 200, "a plain subject still works");
}

on_both_backends!(
    every_assertion_check_fails_with_its_own_description,
    a_subject_with_control_characters_or_a_client_suffix_is_refused,
    each_mapping_mode_sets_the_subject,
    client_authentication_is_required_unless_the_issuer_says_optional,
    a_replayed_assertion_is_rejected_even_on_another_instance,
    scopes_beyond_the_issuers_scope_are_invalid_scope_oidc_ones_included,
);
