//! Remote key sets of trusted issuers (RFC 7517): rotation, the kid-miss cooldown, keys we
//! cannot use, broken endpoints, and OIDC Discovery.

use std::time::{Duration, Instant};

use oauthd::admin::trust::{add, NewIssuer};
use oauthd::clock::now;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp, API};
use crate::idp::{claims, sign, Idp, Mode};
use crate::jwt_bearer::{app, exchange, trust, GT};
use crate::on_both_backends;

async fn ready(b: Backend) -> (TestApp, Idp, (String, String)) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "passthrough", "required").await;
    let client = t.client(&[GT], "read:x").await;
    (t, idp, client)
}

async fn a_rotation_right_after_the_first_fetch_is_picked_up_by_one_refetch(b: Backend) {
    let (t, idp, client) = ready(b).await;
    let first = sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |_| {});
    assert_eq!(exchange(&t, Some(&client), &first, None).await.0, 200);
    assert_eq!(idp.hits(), 1, "the cold load");
    // The IdP rotates at once: the first load must not have started the kid-miss cooldown.
    let new_key = idp.rotate();
    let (s, v) = exchange(&t, Some(&client), &sign(&new_key, &claims(&idp.base, "bob", &t.base), |_| {}), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(idp.hits(), 2, "exactly one refetch");
    // That refetch started the cooldown: random kids now cause no fetch at all.
    for i in 0..5 {
        let a = sign(&new_key, &claims(&idp.base, "bob", &t.base), |h| h.kid = Some(format!("random-{i}")));
        let (s, v) = exchange(&t, Some(&client), &a, None).await;
        assert!(s == 400 && v["error_description"].as_str().unwrap().contains("no key with kid"), "{v}");
    }
    assert_eq!(idp.hits(), 2, "unknown kids within the cooldown trigger no fetch");
}

async fn a_burst_of_random_kids_causes_at_most_one_refetch_per_cooldown(b: Backend) {
    let (t, idp, client) = ready(b).await;
    let first = sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |_| {});
    assert_eq!(exchange(&t, Some(&client), &first, None).await.0, 200);
    let burst = (0..8).map(|i| {
        let a = sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |h| h.kid = Some(format!("random-{i}")));
        let (t, client) = (&t, &client);
        async move { exchange(t, Some(client), &a, None).await.0 }
    });
    assert!(futures_util::future::join_all(burst).await.iter().all(|s| *s == 400));
    assert_eq!(idp.hits(), 2, "one refetch for the whole burst");
    // The known key keeps working from the cache.
    let again = sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |_| {});
    assert_eq!(exchange(&t, Some(&client), &again, None).await.0, 200);
    assert_eq!(idp.hits(), 2);
}

async fn keys_we_cannot_use_are_skipped_without_spoiling_the_set(b: Backend) {
    let (t, idp, client) = ready(b).await;
    let enc_key = oauthd::jwt::keys::generate(oauthd::jwt::keys::Alg::ES256, 0).unwrap();
    let mut enc: Value = serde_json::from_str(&enc_key.public_jwk).unwrap();
    enc["use"] = json!("enc");
    *idp.state.extra.lock().unwrap() = vec![
        json!({"kty": "OKP", "crv": "X25519", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo", "kid": "x25519"}),
        json!({"kty": "PQC", "kid": "future"}),
        enc,
    ];
    let good = sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |_| {});
    let (s, v) = exchange(&t, Some(&client), &good, None).await;
    assert_eq!(s, 200, "an X25519 or unknown-kty key must not make the set unusable: {v}");
    // RFC 7517 §4.2: a key published for encryption never verifies a signature.
    let by_enc = sign(&enc_key, &claims(&idp.base, "bob", &t.base), |_| {});
    let (s, v) = exchange(&t, Some(&client), &by_enc, None).await;
    assert!(s == 400 && v["error_description"].as_str().unwrap().contains("no key with kid"), "{v}");
}

async fn discovery_trims_a_trailing_slash_but_matches_the_issuer_exactly(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    let with_slash = format!("{}/", idp.base);
    *idp.state.issuer.lock().unwrap() = with_slash.clone();
    let req = |issuer: &str| NewIssuer {
        issuer: issuer.to_string(),
        discover: true,
        alias: Some(format!("a{}", issuer.len())),
        ..Default::default()
    };
    let i = add(t.app.store.as_ref(), &t.app.jwks, true, req(&with_slash), now()).await.unwrap();
    assert_eq!(i.jwks_uri, Some(idp.jwks_uri()));
    // The document names the issuer with its slash: the configured string without one differs.
    let err = add(t.app.store.as_ref(), &t.app.jwks, true, req(&idp.base), now()).await.unwrap_err();
    assert!(err.to_string().contains("names issuer"), "{err}");
}

async fn a_rotated_idp_key_is_used_after_one_refetch(b: Backend) {
    let t = app(b).await;
    let idp = Idp::start().await;
    trust(&t, &idp, "passthrough", "required").await;
    let client = t.client(&[GT], "read:x").await;
    // Rotate before the first use: the cached set (none yet) is fetched once and has the new key.
    let new_key = idp.rotate();
    let (s, v) = exchange(&t, Some(&client), &sign(&new_key, &claims(&idp.base, "bob", &t.base), |_| {}), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(idp.hits(), 1);
}

async fn a_broken_idp_answers_503_quickly_and_blocks_no_other_grant(b: Backend) {
    for mode in [Mode::Hang, Mode::Fail, Mode::Redirect, Mode::Oversized] {
        let t = app(b).await;
        let idp = Idp::start().await;
        idp.set_mode(mode);
        trust(&t, &idp, "passthrough", "required").await;
        let client = t.client(&[GT, "client_credentials"], "read:x").await;
        let a = sign(&idp.key(), &claims(&idp.base, "bob", &t.base), |_| {});
        let started = Instant::now();
        let (bearer, cc) = tokio::join!(exchange(&t, Some(&client), &a, None), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let s = Instant::now();
            let r = t
                .post_token_basic(&client.0, &client.1, &[("grant_type", "client_credentials"), ("audience", API)])
                .await;
            (r.status().as_u16(), s.elapsed())
        });
        assert_eq!(
            (bearer.0, bearer.1["error"].as_str()),
            (503, Some("temporarily_unavailable")),
            "{mode:?}: {}",
            bearer.1
        );
        assert!(started.elapsed() < Duration::from_secs(7), "{mode:?} took {:?}", started.elapsed());
        assert_eq!(cc.0, 200, "{mode:?}");
        assert!(cc.1 < Duration::from_secs(1), "{mode:?}: client_credentials waited {:?}", cc.1);
    }
}

on_both_backends!(
    a_rotated_idp_key_is_used_after_one_refetch,
    a_rotation_right_after_the_first_fetch_is_picked_up_by_one_refetch,
    a_burst_of_random_kids_causes_at_most_one_refetch_per_cooldown,
    keys_we_cannot_use_are_skipped_without_spoiling_the_set,
    a_broken_idp_answers_503_quickly_and_blocks_no_other_grant,
    discovery_trims_a_trailing_slash_but_matches_the_issuer_exactly,
);
