//! DPoP, RFC 9449: proofs at /token (§4.3, every check), bound tokens (§5, §6), server nonces
//! (§8), `dpop_jkt` (§10), and /userinfo as a resource (§7).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use oauthd::admin::clients::NewClient;
use oauthd::clock::now;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::browser::*;
use crate::helpers::{json, Backend, TestApp, API};
use crate::on_both_backends;

/// A client's DPoP key pair (ES256), with its RFC 7638 thumbprint computed here, not by oauthd.
pub struct DpopKey {
    enc: EncodingKey,
    pub jwk: Value,
    pub jkt: String,
}

impl DpopKey {
    pub fn generate() -> DpopKey {
        let rec = oauthd::jwt::keys::generate(oauthd::config::Alg::ES256, 0).unwrap();
        let full: Value = serde_json::from_str(&rec.public_jwk).unwrap();
        let (x, y) = (full["x"].as_str().unwrap(), full["y"].as_str().unwrap());
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        DpopKey {
            enc: EncodingKey::from_ec_der(&rec.private_der),
            jwk: json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            jkt: B64.encode(Sha256::digest(canonical.as_bytes())),
        }
    }

    pub fn proof(&self, htm: &str, htu: &str) -> String {
        self.proof_with(htm, htu, |_, _| {})
    }

    /// A proof whose header and claims `tweak` may change before it is signed.
    pub fn proof_with(&self, htm: &str, htu: &str, tweak: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut h = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        let mut c = json!({ "jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": now() });
        tweak(&mut h, &mut c);
        sign(&h, &c, &self.enc, Algorithm::ES256)
    }
}

fn sign(h: &Value, c: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let input = format!("{}.{}", B64.encode(h.to_string()), B64.encode(c.to_string()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{sig}")
}

/// POST /token with these DPoP headers and, when given, client_secret_basic.
pub async fn token(
    t: &TestApp,
    proofs: &[&str],
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, HeaderMap, Value) {
    let mut req = t.http.post(t.url("/token")).form(form);
    for p in proofs {
        req = req.header("dpop", *p);
    }
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    json(req.send().await.unwrap()).await
}

const CC: [(&str, &str); 2] = [("grant_type", "client_credentials"), ("audience", API)];

async fn a_proof_binds_the_token_to_the_key_and_introspection_shows_it(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let key = DpopKey::generate();
    let (s, _, body) = token(&t, &[&key.proof("POST", &t.url("/token"))], Some((&id, &secret)), &CC).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let at = body["access_token"].as_str().unwrap();
    let (_, claims) = t.verify(at, API).await;
    assert_eq!(claims["cnf"], json!({ "jkt": key.jkt }));
    let r = t.http.post(t.url("/introspect")).basic_auth(&id, Some(&secret)).form(&[("token", at)]);
    let (s, _, v) = json(r.send().await.unwrap()).await;
    assert_eq!((s, v["active"].clone(), v["token_type"].clone()), (200, json!(true), json!("DPoP")));
    assert_eq!(v["cnf"]["jkt"], key.jkt);
    // Without a proof the same client still gets a plain bearer token, with no cnf.
    let (s, _, body) = token(&t, &[], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("Bearer")));
    let (_, claims) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert!(claims.get("cnf").is_none());
    let (_, _, d) = json(t.http.get(t.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    let algs = d["dpop_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("ES256")) && !algs.iter().any(|a| a == "none" || a == "HS256"), "{algs:?}");
}

async fn every_broken_proof_is_invalid_dpop_proof(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let key = DpopKey::generate();
    let other = DpopKey::generate();
    let htu = t.url("/token");
    let hs = EncodingKey::from_secret(b"a shared secret of thirty-two by");
    let with = |f: fn(&mut Value, &mut Value)| key.proof_with("POST", &htu, f);
    let mut private = key.jwk.clone();
    private["d"] = json!(B64.encode([7u8; 32]));
    let cases: Vec<(&str, String)> = vec![
        ("typ JWT", with(|h, _| h["typ"] = json!("JWT"))),
        ("alg none", format!("{}.{}.", B64.encode(r#"{"typ":"dpop+jwt","alg":"none"}"#), B64.encode("{}"))),
        (
            "HS256",
            sign(
                &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": B64.encode("a shared secret of thirty-two by")}}),
                &json!({"jti": "j-hs", "htm": "POST", "htu": htu, "iat": now()}),
                &hs,
                Algorithm::HS256,
            ),
        ),
        ("private key in jwk", key.proof_with("POST", &htu, |h, _| h["jwk"] = private.clone())),
        ("no jwk", with(|h, _| h["jwk"] = Value::Null)),
        ("signed by another key", key.proof_with("POST", &htu, |h, _| h["jwk"] = other.jwk.clone())),
        ("alg that does not fit the key", with(|h, _| h["alg"] = json!("RS256"))),
        ("wrong htm", key.proof("GET", &htu)),
        ("wrong htu path", key.proof("POST", &t.url("/userinfo"))),
        ("wrong htu scheme", key.proof("POST", &htu.replace("http://", "https://"))),
        ("iat too old", with(|_, c| c["iat"] = json!(now() - 120))),
        ("iat in the future", with(|_, c| c["iat"] = json!(now() + 120))),
        ("no jti", with(|_, c| c["jti"] = Value::Null)),
        ("not a JWT", "garbage".into()),
    ];
    for (what, proof) in &cases {
        let (s, h, body) = token(&t, &[proof], Some((&id, &secret)), &CC).await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{what}: {body}");
        assert_eq!(h["cache-control"], "no-store", "{what}");
    }
    let (a, b2) = (key.proof("POST", &htu), key.proof("POST", &htu));
    let (s, _, body) = token(&t, &[&a, &b2], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "two DPoP headers: {body}");
    // htu is compared after normalisation, without query or fragment (§4.3 item 9).
    let loose = htu.replace("/token", "/%74oken?x=1#frag").replace("http://127.0.0.1", "HTTP://127.0.0.1");
    let (s, _, body) = token(&t, &[&key.proof("POST", &loose)], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "{loose}: {body}");
}

async fn a_replayed_proof_is_refused_by_every_instance_and_purged_later(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.m2m().await;
    let key = DpopKey::generate();
    let proof = key.proof("POST", &t.url("/token"));
    let (s, _, _) = token(&t, &[&proof], Some((&id, &secret)), &CC).await;
    assert_eq!(s, 200);
    let (s, _, body) = token(&t, &[&proof], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("already used"), "{body}");
    // A second instance on the same database: its htu differs, so the proof is for it; one wins.
    let t2 = TestApp::spawn_on(t.app.settings.database_url.clone(), |_| {}).await;
    let proof = key.proof_with("POST", &t2.url("/token"), |_, c| c["jti"] = json!("shared-jti"));
    let (s, _, _) = token(&t2, &[&proof], Some((&id, &secret)), &CC).await;
    assert_eq!(s, 200);
    let (s, _, body) = token(&t2, &[&proof], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")));
    // The same jti from another key is another proof.
    let proof = DpopKey::generate().proof_with("POST", &t2.url("/token"), |_, c| c["jti"] = json!("shared-jti"));
    assert_eq!(token(&t2, &[&proof], Some((&id, &secret)), &CC).await.0, 200);
    assert_eq!(t.count_rows("dpop_jtis").await, 3);
    t.app.store.purge_expired(now() + 3600).await.unwrap();
    assert_eq!(t.count_rows("dpop_jtis").await, 0, "seen proofs are forgotten once their window passed");
}

async fn dpop_client(t: &TestApp, tweak: impl FnOnce(&mut NewClient)) -> (String, String) {
    t.api("read:x write:x admin:x").await;
    let mut req = NewClient {
        name: "dpop".into(),
        grants: vec!["client_credentials".into()],
        scope: Some("read:x".into()),
        api: Some(API.into()),
        ..Default::default()
    };
    tweak(&mut req);
    let (c, s) = oauthd::admin::clients::create(t.app.store.as_ref(), req, None, now()).await.unwrap();
    (c.id, s.unwrap_or_default())
}

async fn the_nonce_dance_works_across_instances(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = dpop_client(&t, |c| c.require_dpop_nonce = true).await;
    let key = DpopKey::generate();
    let htu = t.url("/token");
    let (s, h, body) = token(&t, &[&key.proof("POST", &htu)], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
    let nonce = h["dpop-nonce"].to_str().unwrap().to_string();
    let wrong = key.proof_with("POST", &htu, |_, c| c["nonce"] = json!("made-up"));
    let (s, h, body) = token(&t, &[&wrong], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("use_dpop_nonce")));
    assert_eq!(h["dpop-nonce"], nonce.as_str());
    let good = key.proof_with("POST", &htu, |_, c| c["nonce"] = json!(nonce));
    let (s, h, body) = token(&t, &[&good], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    assert_eq!(h["dpop-nonce"], nonce.as_str(), "the successful answer carries the current nonce");
    // Another instance accepts the first one's nonce: the key is shared through the database.
    let t2 = TestApp::spawn_on(t.app.settings.database_url.clone(), |_| {}).await;
    let there = key.proof_with("POST", &t2.url("/token"), |_, c| c["nonce"] = json!(nonce));
    let (s, _, body) = token(&t2, &[&there], Some((&id, &secret)), &CC).await;
    assert_eq!(s, 200, "{body}");
    // A client that does not require nonces needs none, unless the server requires them all.
    let (m2m, m2m_secret) = t.m2m().await;
    assert_eq!(token(&t, &[&key.proof("POST", &htu)], Some((&m2m, &m2m_secret)), &CC).await.0, 200);
    let strict = TestApp::spawn_on(t.app.settings.database_url.clone(), |s| s.require_dpop_nonce = true).await;
    let (s, _, body) =
        token(&strict, &[&key.proof("POST", &strict.url("/token"))], Some((&m2m, &m2m_secret)), &CC).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("use_dpop_nonce")));
}

async fn a_client_with_dpop_bound_access_tokens_must_send_a_proof(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = dpop_client(&t, |c| c.dpop_bound_access_tokens = true).await;
    let (s, _, body) = token(&t, &[], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let key = DpopKey::generate();
    let (s, _, body) = token(&t, &[&key.proof("POST", &t.url("/token"))], Some((&id, &secret)), &CC).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")));
}

/// A public client's code, requested with `extra` parameters at /authorize.
async fn spa_code(t: &TestApp, id: &str, extra: &[(&str, &str)]) -> String {
    Browser::new(t).code_for(&params(id, extra), "dee", "pw-dee").await
}

fn code_form<'a>(id: &'a str, code: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", id),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

async fn a_public_clients_refresh_token_only_works_with_its_key(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("dee", "pw-dee").await;
    let (key, other) = (DpopKey::generate(), DpopKey::generate());
    let htu = t.url("/token");
    let code = spa_code(&t, &id, &[]).await;
    let (s, _, body) = token(&t, &[&key.proof("POST", &htu)], None, &code_form(&id, &code)).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str()), ("client_id", id.as_str())];
    let (s, _, body) = token(&t, &[&other.proof("POST", &htu)], None, &refresh).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "another key: {body}");
    let (s, _, body) = token(&t, &[], None, &refresh).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "no proof: {body}");
    let (s, _, body) = token(&t, &[&key.proof("POST", &htu)], None, &refresh).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "the bound key: {body}");
    let (_, claims) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(claims["cnf"]["jkt"], key.jkt);
}

async fn a_confidential_clients_refresh_token_stays_bound_to_its_authentication(b: Backend) {
    let t = TestApp::spawn(b).await;
    let (id, secret) = t.client(&["password", "refresh_token"], "read:x").await;
    t.user("cy", "pw-cy").await;
    let (key, other) = (DpopKey::generate(), DpopKey::generate());
    let htu = t.url("/token");
    let form = [
        ("grant_type", "password"),
        ("username", "cy"),
        ("password", "pw-cy"),
        ("scope", "read:x offline_access"),
        ("audience", API),
    ];
    let (s, _, body) = token(&t, &[&key.proof("POST", &htu)], Some((&id, &secret)), &form).await;
    assert_eq!(s, 200, "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
    let (s, _, body) = token(&t, &[&other.proof("POST", &htu)], Some((&id, &secret)), &refresh).await;
    assert_eq!(s, 200, "{body}");
    let (_, claims) = t.verify(body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(claims["cnf"]["jkt"], other.jkt, "the new access token is bound to the new proof's key");
}

async fn a_dpop_jkt_mismatch_at_the_code_exchange_is_refused(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("dee", "pw-dee").await;
    let (key, other) = (DpopKey::generate(), DpopKey::generate());
    let htu = t.url("/token");
    let code = spa_code(&t, &id, &[("dpop_jkt", &key.jkt)]).await;
    let (s, _, body) = token(&t, &[&other.proof("POST", &htu)], None, &code_form(&id, &code)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (s, _, body) = token(&t, &[], None, &code_form(&id, &code)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    let (s, _, body) = token(&t, &[&key.proof("POST", &htu)], None, &code_form(&id, &code)).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    // A malformed dpop_jkt goes back to the client as invalid_request.
    let r = Browser::new(&t).authorize(&params(&id, &[("dpop_jkt", "short")])).await;
    let loc = location(&r);
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_request"), "{loc}");
}

async fn userinfo_takes_a_bound_token_only_with_the_dpop_scheme_and_a_fitting_proof(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("dee", "pw-dee").await;
    let (key, other) = (DpopKey::generate(), DpopKey::generate());
    let code = spa_code(&t, &id, &[]).await;
    let (s, _, body) = token(&t, &[&key.proof("POST", &t.url("/token"))], None, &code_form(&id, &code)).await;
    assert_eq!(s, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_string();
    let ui = t.url("/userinfo");
    let ath = B64.encode(Sha256::digest(at.as_bytes()));
    let get = |scheme: &str, proof: Option<String>| {
        let mut r = t.http.get(&ui).header("authorization", format!("{scheme} {at}"));
        if let Some(p) = proof {
            r = r.header("dpop", p);
        }
        r
    };
    let with_ath = |k: &DpopKey, htm: &str| k.proof_with(htm, &ui, |_, c| c["ath"] = json!(ath));
    let r = get("Bearer", None).send().await.unwrap();
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert_eq!(r.status(), 401);
    assert!(www.starts_with("DPoP ") && www.contains("error=\"invalid_token\""), "Bearer downgrade: {www}");
    for (what, proof, error) in [
        ("no proof", None, "invalid_dpop_proof"),
        ("no ath", Some(key.proof("GET", &ui)), "invalid_dpop_proof"),
        ("another key", Some(with_ath(&other, "GET")), "invalid_dpop_proof"),
        ("wrong htm", Some(with_ath(&key, "POST")), "invalid_dpop_proof"),
    ] {
        let r = get("DPoP", proof).send().await.unwrap();
        assert_eq!(r.status(), 401, "{what}");
        let www = r.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert!(www.starts_with("DPoP algs=\"") && www.contains(&format!("error=\"{error}\"")), "{what}: {www}");
    }
    let proof = with_ath(&key, "GET");
    let r = get("DPoP", Some(proof.clone())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (_, _, claims) = json(r).await;
    assert_eq!(claims["preferred_username"], "dee");
    let r = get("DPoP", Some(proof)).send().await.unwrap();
    assert_eq!(r.status(), 401, "a replayed proof");
    // An unbound token is not accepted under the DPoP scheme, and a bare request offers both schemes.
    let (m2m, m2m_secret) = t.client(&["password"], "read:x").await;
    let form = [("grant_type", "password"), ("username", "dee"), ("password", "pw-dee"), ("scope", "openid")];
    let (_, _, plain) = token(&t, &[], Some((&m2m, &m2m_secret)), &form).await;
    let plain_at = plain["access_token"].as_str().unwrap();
    let p = key.proof_with("GET", &ui, |_, c| c["ath"] = json!(B64.encode(Sha256::digest(plain_at.as_bytes()))));
    let r = t.http.get(&ui).header("authorization", format!("DPoP {plain_at}")).header("dpop", p).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = t.http.get(&ui).send().await.unwrap();
    let challenges: Vec<&str> = r.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(challenges[1].starts_with("DPoP algs=\""), "{challenges:?}");
}

async fn an_spa_may_send_dpop_and_read_the_nonce_over_cors(b: Backend) {
    let t = TestApp::spawn(b).await;
    spa(&t, true, &[]).await;
    let r = t
        .http
        .request(reqwest::Method::OPTIONS, t.url("/token"))
        .header("origin", "http://127.0.0.1:9999")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,dpop")
        .send()
        .await
        .unwrap();
    let allowed = r.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("dpop"), "{allowed}");
    let r = t.http.post(t.url("/token")).header("origin", "http://127.0.0.1:9999").send().await.unwrap();
    let exposed = r.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("dpop-nonce") && exposed.contains("www-authenticate"), "{exposed}");
}

on_both_backends!(
    a_proof_binds_the_token_to_the_key_and_introspection_shows_it,
    every_broken_proof_is_invalid_dpop_proof,
    a_replayed_proof_is_refused_by_every_instance_and_purged_later,
    the_nonce_dance_works_across_instances,
    a_client_with_dpop_bound_access_tokens_must_send_a_proof,
    a_public_clients_refresh_token_only_works_with_its_key,
    a_confidential_clients_refresh_token_stays_bound_to_its_authentication,
    a_dpop_jkt_mismatch_at_the_code_exchange_is_refused,
    userinfo_takes_a_bound_token_only_with_the_dpop_scheme_and_a_fitting_proof,
    an_spa_may_send_dpop_and_read_the_nonce_over_cors,
);
