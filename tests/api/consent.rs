//! Remembered consent: per user, client and API, and only ever widened by a later grant.

use crate::browser::*;
use crate::helpers::{Backend, TestApp, API};
use crate::on_both_backends;

const OTHER_API: &str = "https://other-api.test";

/// Signs in on a third-party client and returns the consent page for `p`.
async fn consent_page(br: &Browser<'_>, p: &[(&str, &str)], user: &str) -> String {
    let page = br.authorize(p).await.text().await.unwrap();
    let r = br.follow(&br.login(&page, p, user, &format!("pw-{user}")).await).await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn consent_for_one_api_does_not_cover_the_same_scope_on_another(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, false, &[]).await;
    oauthd::admin::create_api(t.app.store.as_ref(), OTHER_API, None, "read:x", oauthd::clock::now()).await.unwrap();
    oauthd::admin::grant(t.app.store.as_ref(), &id, OTHER_API, "read:x").await.unwrap();
    t.user("fay", "pw-fay").await;
    let br = Browser::new(&t);
    let on_a = params(&id, &[("scope", "read:x")]);
    let page = consent_page(&br, &on_a, "fay").await;
    assert!(query_param(&location(&br.consent(&page, &on_a, "allow").await), "code").is_some());
    assert_eq!(br.authorize(&on_a).await.status(), 303, "remembered for {API}");

    let on_b = params(&id, &[("scope", "read:x"), ("audience", OTHER_API)]);
    let r = br.authorize(&on_b).await;
    assert_eq!(r.status(), 200, "read:x on another API is asked again");
    assert!(r.text().await.unwrap().contains("other-api.test"));
    let r = br.authorize(&params(&id, &[("scope", "read:x"), ("audience", OTHER_API), ("prompt", "none")])).await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("consent_required"));
}

async fn consenting_to_more_keeps_the_earlier_grant(b: Backend) {
    let t = TestApp::spawn(b).await;
    let id = spa(&t, false, &[]).await;
    t.user("gus", "pw-gus").await;
    let br = Browser::new(&t);
    let first = params(&id, &[("scope", "openid read:x")]);
    let page = consent_page(&br, &first, "gus").await;
    br.consent(&page, &first, "allow").await;

    let second = params(&id, &[("scope", "profile")]);
    let r = br.authorize(&second).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(query_param(&location(&br.consent(&page, &second, "allow").await), "code").is_some());

    for scope in ["openid read:x", "profile", "openid profile read:x"] {
        let r = br.authorize(&params(&id, &[("scope", scope)])).await;
        assert_eq!(r.status(), 303, "{scope}");
        assert!(query_param(&location(&r), "code").is_some(), "{scope}");
    }
}

on_both_backends!(
    consent_for_one_api_does_not_cover_the_same_scope_on_another,
    consenting_to_more_keeps_the_earlier_grant,
);
