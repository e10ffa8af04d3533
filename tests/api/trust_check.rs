//! `oauthd trust check`: the dry run reports every check of the jwt-bearer grant by name, with
//! pass or fail and the reason, and never consumes the `jti`.

use std::process::Command;

use oauthd::clock::now;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};
use crate::idp::{claims, sign, Idp};
use crate::jwt_bearer::{app, exchange, trust, GT};
use crate::on_both_backends;

const ALL: [&str; 15] = [
    "shape",
    "header",
    "issuer",
    "key",
    "signature",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "max-age",
    "jti",
    "subject",
    "mapping",
    "replay",
];

/// Runs `oauthd trust check --assertion A --json` against `t`'s database and issuer.
fn trust_check_cli(t: &TestApp, assertion: &str) -> (bool, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .args(["trust", "check", "--assertion", assertion, "--json"])
        .env("OAUTHD_DATABASE_URL", &t.app.settings.database_url)
        .env("OAUTHD_ISSUER", &t.base)
        .env("OAUTHD_ALLOW_HTTP_LOOPBACK_JWKS", "true")
        .env("OAUTHD_ARGON2_MEMORY_KIB", "1024")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), v)
}

/// `{check: (pass, detail)}` of a list of steps, asserting every check is reported exactly once.
fn by_name(steps: &Value) -> std::collections::HashMap<String, (bool, String)> {
    let steps = steps.as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["check"].as_str().unwrap()).collect();
    assert_eq!(names, ALL, "every check, in order");
    let entry = |s: &Value| (s["pass"].as_bool().unwrap(), s["detail"].as_str().unwrap().to_string());
    steps.iter().map(|s| (s["check"].as_str().unwrap().to_string(), entry(s))).collect()
}

async fn the_dry_run_passes_every_check_consumes_nothing_and_then_reports_the_replay(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "link", "required").await;
    let user = t.user("bobby", "pw").await;
    t.app.store.link_user(&idp.base, "bob", &user.id, now()).await.unwrap();
    let client = t.client(&[GT], "read:x").await;
    let a = sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |_| {});
    let (ok, v) = trust_check_cli(&t, &a);
    let steps = by_name(&v["checks"]);
    assert!(ok && v["pass"] == true, "{v}");
    assert!(steps["mapping"].1.contains(&user.id), "{:?}", steps["mapping"]);
    assert_eq!(exchange(&t, Some(&client), &a, None).await.0, 200, "the dry run did not consume the jti");
    let (ok, v) = trust_check_cli(&t, &a);
    let steps = by_name(&v["checks"]);
    assert!(!ok && v["pass"] == false, "{v}");
    assert_eq!(steps["replay"], (false, "jti has already been used (replay)".into()));
    assert!(steps.iter().all(|(name, (pass, _))| *pass || name == "replay"), "{steps:?}");
}

async fn every_failing_claim_is_reported_as_its_own_step(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "link", "required").await;
    let mut c = claims(&idp.base, "mallory", "https://elsewhere.example");
    c["exp"] = json!(now() - 120);
    c["iat"] = json!(now() - 600);
    c.as_object_mut().unwrap().remove("jti");
    let steps = oauthd::admin::trust::check(&t.app, &sign(&idp.key(), &c, |_| {}), now()).await;
    let steps = by_name(&Value::from(steps));
    for (name, reason) in [
        ("aud", "aud must contain"),
        ("exp", "assertion has expired"),
        ("jti", "jti is required"),
        ("subject", "is not allowed for this issuer"),
        ("mapping", "no local user is linked"),
    ] {
        assert!(!steps[name].0 && steps[name].1.contains(reason), "{name}: {:?}", steps[name]);
    }
    for name in ["shape", "header", "issuer", "key", "signature", "sub", "nbf", "iat", "max-age", "replay"] {
        assert!(steps[name].0, "{name}: {:?}", steps[name]);
    }
}

async fn a_missing_iss_is_named_and_the_checks_needing_an_issuer_are_not_passed(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "passthrough", "required").await;
    let mut c = claims(&idp.base, "bob", &t.base);
    c.as_object_mut().unwrap().remove("iss");
    let (ok, v) = trust_check_cli(&t, &sign(&idp.key(), &c, |_| {}));
    let steps = by_name(&v["checks"]);
    assert!(!ok);
    assert!(steps["issuer"].1.contains("iss is required"), "{:?}", steps["issuer"]);
    for name in ["key", "signature", "max-age", "jti", "subject", "mapping", "replay"] {
        assert_eq!(steps[name], (false, "not checked: needs a trusted issuer".into()), "{name}");
    }
    for name in ["sub", "aud", "exp", "nbf", "iat"] {
        assert!(steps[name].0, "{name} is checked without an issuer: {:?}", steps[name]);
    }
}

async fn a_disabled_linked_user_fails_the_mapping_step(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "link", "required").await;
    let user = t.user("dora", "pw").await;
    t.app.store.link_user(&idp.base, "alice", &user.id, now()).await.unwrap();
    t.app.store.set_user_disabled(&user.id, true, now()).await.unwrap();
    let a = sign(&idp.key(), &claims(&idp.base, "alice", &t.base), |_| {});
    let steps = by_name(&Value::from(oauthd::admin::trust::check(&t.app, &a, now()).await));
    assert_eq!(steps["mapping"], (false, "invalid_grant: the linked user is disabled or deleted".into()));
}

on_both_backends!(
    the_dry_run_passes_every_check_consumes_nothing_and_then_reports_the_replay,
    every_failing_claim_is_reported_as_its_own_step,
    a_missing_iss_is_named_and_the_checks_needing_an_issuer_are_not_passed,
    a_disabled_linked_user_fails_the_mapping_step,
);
