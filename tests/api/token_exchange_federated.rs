//! Token exchange (RFC 8693) with JWTs from trusted issuers as subject and actor tokens (the
//! jwt-bearer checks, mapping and replay rule), `may_act` (§4.4), and the tools: `client
//! exchange`, `token inspect` on an `act` chain, and the `trust check` dry run.

use oauthd::admin::exchange::{dry_run, DryRun};
use oauthd::clock::now;
use serde_json::{json, Value};

use crate::cli::oauthd;
use crate::helpers::{Backend, API};
use crate::idp::{claims, sign, Idp};
use crate::jwt_bearer::trust;
use crate::on_both_backends;
use crate::token_exchange::{allow, assert_error, exchange, own_token, world, World, AT, JWT, ORDERS};

const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// `world` plus a trusted issuer (alias corp, passthrough, read:x) svc may exchange from.
async fn federated(b: Backend) -> (World, Idp) {
    let w = world(b).await;
    let idp = Idp::start().await;
    trust(&w.t, &idp, "passthrough", "required").await;
    allow(&w.t, "svc", &idp.base, ORDERS, None, true).await;
    (w, idp)
}

fn idp_token(idp: &Idp, w: &World, sub: &str, extra: Value) -> String {
    let mut c = claims(&idp.base, sub, &w.t.base);
    c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    sign(&idp.key(), &c, |_| {})
}

async fn a_trusted_issuers_jwt_is_checked_mapped_and_used_only_once(b: Backend) {
    let (w, idp) = federated(b).await;
    let jwt = idp_token(&idp, &w, "alice", json!({}));
    let (s, v) = exchange(&w.t, &w.svc, &jwt, &[("subject_token_type", JWT)]).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = w.t.verify(v["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(c["sub"], "corp|alice", "mapped as the jwt-bearer grant maps it");
    assert_eq!(c["idp"], idp.base.as_str());
    assert_eq!(c["scope"], "read:x", "the issuer's --scope caps it");
    assert_eq!(c["gty"], "token-exchange");
    let r = exchange(&w.t, &w.svc, &jwt, &[("subject_token_type", JWT)]).await;
    assert_error(&r, 400, "invalid_request", "subject_token: jti has already been used");

    let id_token = idp_token(&idp, &w, "bob", json!({}));
    let (s, v) = exchange(&w.t, &w.svc, &id_token, &[("subject_token_type", ID_TOKEN)]).await;
    assert_eq!(s, 200, "{v}");
    let cases = [
        (idp_token(&idp, &w, "mallory", json!({})), "not allowed for this issuer"),
        (idp_token(&idp, &w, "alice", json!({ "exp": now() - 600 })), "expired"),
        (idp_token(&idp, &w, "alice", json!({ "aud": "https://elsewhere" })), "aud must contain"),
        (
            sign(
                &oauthd::jwt::keys::generate(oauthd::jwt::keys::Alg::ES256, 0).unwrap(),
                &claims(&idp.base, "alice", &w.t.base),
                |h| h.kid = Some(idp.key().kid),
            ),
            "signature does not verify",
        ),
        (sign(&idp.key(), &claims("https://untrusted.test", "alice", &w.t.base), |_| {}), "is not trusted"),
    ];
    for (token, says) in cases {
        let r = exchange(&w.t, &w.svc, &token, &[("subject_token_type", JWT)]).await;
        assert_error(&r, 400, "invalid_request", says);
    }
}

async fn a_policy_for_local_tokens_does_not_admit_a_trusted_issuers(b: Backend) {
    let w = world(b).await;
    let idp = Idp::start().await;
    trust(&w.t, &idp, "passthrough", "required").await;
    allow(&w.t, "svc", "local", ORDERS, None, true).await;
    let jwt = idp_token(&idp, &w, "alice", json!({}));
    let r = exchange(&w.t, &w.svc, &jwt, &[("subject_token_type", JWT)]).await;
    assert_error(&r, 400, "unauthorized_client", &idp.base);
}

async fn may_act_names_who_may_act_and_refuses_everyone_else(b: Backend) {
    let (w, idp) = federated(b).await;
    let actor = own_token(&w.t, &w.svc).await;
    let delegate = [("subject_token_type", JWT), ("actor_token", actor.as_str()), ("actor_token_type", AT)];
    let may = |sub: &str| json!({ "may_act": { "sub": sub, "iss": w.t.base } });
    let jwt = idp_token(&idp, &w, "alice", may("svc@clients"));
    let (s, v) = exchange(&w.t, &w.svc, &jwt, &delegate).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = w.t.verify(v["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(c["act"], json!({ "sub": "svc@clients" }));
    assert!(c.get("may_act").is_none());

    let jwt = idp_token(&idp, &w, "alice", may("other@clients"));
    let r = exchange(&w.t, &w.svc, &jwt, &delegate).await;
    assert_error(&r, 400, "invalid_request", "may_act");
    // Without an actor the client itself acts: it must be the one named.
    let jwt = idp_token(&idp, &w, "alice", may("other@clients"));
    let r = exchange(&w.t, &w.svc, &jwt, &[("subject_token_type", JWT)]).await;
    assert_error(&r, 400, "invalid_request", "may_act");
    // may_act.iss defaults to the subject token's issuer, which did not issue svc's token.
    let jwt = idp_token(&idp, &w, "alice", json!({ "may_act": { "sub": "svc@clients" } }));
    let r = exchange(&w.t, &w.svc, &jwt, &delegate).await;
    assert_error(&r, 400, "invalid_request", "may_act");
}

async fn a_trusted_issuers_actor_token_is_named_by_alias_and_used_once(b: Backend) {
    let (w, idp) = federated(b).await;
    let actor = idp_token(&idp, &w, "svc-batch", json!({}));
    let form = [("audience", ORDERS), ("actor_token", actor.as_str()), ("actor_token_type", JWT)];
    let r = exchange(&w.t, &w.svc, &w.user_token, &form).await;
    assert_error(&r, 400, "unauthorized_client", "from 'local'");
    allow(&w.t, "svc", "local", ORDERS, None, false).await;
    let (s, v) = exchange(&w.t, &w.svc, &w.user_token, &form).await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = w.t.verify(v["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(c["act"], json!({ "sub": "corp|svc-batch" }));
    let r = exchange(&w.t, &w.svc, &w.user_token, &form).await;
    assert_error(&r, 400, "invalid_request", "actor_token: jti has already been used");
}

async fn token_inspect_explains_the_act_chain(b: Backend) {
    let w = world(b).await;
    allow(&w.t, "svc", "local", ORDERS, None, false).await;
    let actor = own_token(&w.t, &w.svc).await;
    let form = [("actor_token", actor.as_str()), ("actor_token_type", AT)];
    let (_, v) = exchange(&w.t, &w.svc, &w.user_token, &form).await;
    let token = v["access_token"].as_str().unwrap();
    let store = w.t.app.store.as_ref();
    let v = oauthd::admin::inspect::inspect_with_store(store, &w.t.app.settings.issuer, token, now()).await.unwrap();
    assert_eq!(v["verdict"], "valid", "{v}");
    let lines: Vec<&str> = v["explanation"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let expected = format!("'svc@clients' acts on behalf of '{}'", w.user_id);
    assert!(lines.iter().any(|l| l.contains(&expected)), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("token-exchange")), "{lines:?}");
}

async fn the_dry_run_decides_an_exchange_and_uses_nothing_up(b: Backend) {
    let (w, idp) = federated(b).await;
    let jwt = idp_token(&idp, &w, "alice", json!({}));
    let req = DryRun {
        subject_token: Some(jwt.clone()),
        client: Some("svc".into()),
        audience: Some(ORDERS.into()),
        scope: Some("read:x".into()),
        ..Default::default()
    };
    let steps = dry_run(&w.t.app, &req, now()).await;
    assert!(steps.iter().all(|s| s["pass"] == true), "{steps:#?}");
    let detail = |name: &str| steps.iter().find(|s| s["check"] == name).map(|s| s["detail"].to_string());
    assert!(detail("new-sub").unwrap().contains("corp|alice"), "{steps:#?}");
    assert!(detail("replay").unwrap().contains("did not record"), "{steps:#?}");
    let (s, v) = exchange(&w.t, &w.svc, &jwt, &[("subject_token_type", JWT)]).await;
    assert_eq!(s, 200, "the dry run left the jti unused: {v}");

    // The CLI: a refused exchange fails with the reason and exit code 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .args(["trust", "check", "--subject-token", &w.user_token, "--client", "svc", "--audience", API, "--json"])
        .env("OAUTHD_DATABASE_URL", &w.t.app.settings.database_url)
        .env("OAUTHD_ISSUER", &w.t.base)
        .env("OAUTHD_ARGON2_MEMORY_KIB", "1024")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!out.status.success());
    let last = v["checks"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["check"], "exchange", "{v}");
    assert!(last["detail"].as_str().unwrap().contains("unauthorized_client"), "{v}");
}

async fn the_cli_allows_lists_and_denies_exchanges(b: Backend) {
    let w = world(b).await;
    let db = w.t.app.settings.database_url.clone();
    let args = ["client", "exchange", "allow", "svc", "--from", "local", "--audience", ORDERS, "--scope", "read:x"];
    let (ok, out, err) = oauthd(&db, &[&args[..], &["--json"]].concat(), None);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v,
        json!({ "client_id": "svc", "from": "local", "audience": ORDERS, "scope": "read:x", "impersonate": false, "subject_audience": null, "created_at": v["created_at"] })
    );
    let (ok, _, err) = oauthd(
        &db,
        &["client", "exchange", "allow", "svc", "--from", "https://nobody.test", "--audience", ORDERS],
        None,
    );
    assert!(!ok && err.contains("trusted issuer"), "{err}");
    let (ok, _, err) = oauthd(
        &db,
        &["client", "exchange", "allow", "svc", "--from", "local", "--audience", ORDERS, "--scope", "nope"],
        None,
    );
    assert!(!ok && err.contains("not defined"), "{err}");
    let (ok, out, _) = oauthd(&db, &["client", "exchange", "list", "svc", "--json"], None);
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(out.trim()).unwrap().as_array().unwrap().len(), 1);
    let (ok, _, err) =
        oauthd(&db, &["client", "exchange", "deny", "svc", "--from", "local", "--audience", ORDERS], None);
    assert!(ok, "{err}");
    let (ok, _, err) =
        oauthd(&db, &["client", "exchange", "deny", "svc", "--from", "local", "--audience", ORDERS], None);
    assert!(!ok && err.contains("no exchange policy"), "{err}");
}

on_both_backends!(
    a_trusted_issuers_jwt_is_checked_mapped_and_used_only_once,
    a_policy_for_local_tokens_does_not_admit_a_trusted_issuers,
    may_act_names_who_may_act_and_refuses_everyone_else,
    a_trusted_issuers_actor_token_is_named_by_alias_and_used_once,
    token_inspect_explains_the_act_chain,
    the_dry_run_decides_an_exchange_and_uses_nothing_up,
    the_cli_allows_lists_and_denies_exchanges,
);
