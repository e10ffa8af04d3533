//! `/logout`, OIDC RP-Initiated Logout 1.0: `id_token_hint`, registered post-logout URIs, and a
//! confirmation that a cross-site link cannot skip.

use oauthd::jwt::mint::{self, IdClaims, Typ};

use crate::browser::*;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

const BYE: &str = "http%3A%2F%2F127.0.0.1%3A9999%2Fbye";

/// Signs `user` in on `br` and returns an ID token for `client_id`.
async fn sign_in(t: &TestApp, br: &Browser<'_>, client_id: &str, user: &str) -> String {
    let code = br.code_for(&params(client_id, &[]), user, &format!("pw-{user}")).await;
    let (s, body) = exchange(t, client_id, &code, Some(VERIFIER)).await;
    assert_eq!(s, 200, "{body}");
    body["id_token"].as_str().unwrap().to_string()
}

async fn signed_in(br: &Browser<'_>, client_id: &str) -> bool {
    br.authorize(&params(client_id, &[])).await.status() == 303
}

async fn logout_redirects_only_to_a_registered_uri(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let br = Browser::new(&t);
    let r = br.get(&format!("/logout?client_id={id}&post_logout_redirect_uri={BYE}&state=s1")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "http://127.0.0.1:9999/bye?state=s1");
    let r = br.get(&format!("/logout?client_id={id}&post_logout_redirect_uri=https%3A%2F%2Fevil.test%2F")).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

async fn an_id_token_hint_alone_signs_out_and_redirects_to_the_registered_uri(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let other = spa(&t, true, &[]).await;
    t.user("ada", "pw-ada").await;
    let br = Browser::new(&t);
    let hint = sign_in(&t, &br, &id, "ada").await;

    let mut forged = hint.clone().into_bytes();
    let i = hint.rfind('.').unwrap() + 10;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let refused = [
        format!("/logout?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fevil.test%2F"),
        format!("/logout?id_token_hint={hint}&client_id={other}&post_logout_redirect_uri={BYE}"),
        format!("/logout?id_token_hint={forged}&post_logout_redirect_uri={BYE}"),
    ];
    for path in refused {
        let r = br.get(&path).await;
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.headers().get("location").is_none());
    }
    assert!(signed_in(&br, &id).await, "a refused logout leaves the session");

    let r = br.get(&format!("/logout?id_token_hint={hint}&post_logout_redirect_uri={BYE}&state=s%202")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "http://127.0.0.1:9999/bye?state=s+2");
    assert!(!signed_in(&br, &id).await);
}

async fn an_expired_id_token_hint_is_still_a_hint(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    let user = t.user("bo", "pw-bo").await;
    let br = Browser::new(&t);
    sign_in(&t, &br, &id, "bo").await;
    let long_ago = oauthd::clock::now() - 86_400;
    let claims = IdClaims {
        iss: &t.app.settings.issuer,
        sub: &user.id,
        aud: &id,
        azp: &id,
        iat: long_ago,
        exp: long_ago + 300,
        auth_time: long_ago,
        nonce: None,
        at_hash: None,
        acr: None,
        amr: None,
        sid: None,
        profile: Default::default(),
    };
    let hint = mint::sign(&t.app.keys.load().id_signer, Typ::IdToken, &claims).unwrap();
    let r = br.get(&format!("/logout?id_token_hint={hint}&post_logout_redirect_uri={BYE}")).await;
    assert_eq!(r.status(), 303);
    assert!(!signed_in(&br, &id).await);
}

async fn a_get_ends_the_session_and_redirects_to_the_registered_uri(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("cy", "pw-cy").await;
    let br = Browser::new(&t);
    sign_in(&t, &br, &id, "cy").await;
    let r = br.get(&format!("/logout?client_id={id}&post_logout_redirect_uri={BYE}&state=s3")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "http://127.0.0.1:9999/bye?state=s3");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(!signed_in(&br, &id).await, "the session is over");
}

async fn a_post_ends_the_session_too(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, true, &[]).await;
    t.user("dee", "pw-dee").await;
    let br = Browser::new(&t);
    sign_in(&t, &br, &id, "dee").await;
    let r = br.http.post(t.url("/logout")).form(&[("client_id", id.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(!signed_in(&br, &id).await);
}

on_both_backends!(
    logout_redirects_only_to_a_registered_uri,
    an_id_token_hint_alone_signs_out_and_redirects_to_the_registered_uri,
    an_expired_id_token_hint_is_still_a_hint,
    a_get_ends_the_session_and_redirects_to_the_registered_uri,
    a_post_ends_the_session_too,
);
