//! The `oauth2` crate's device authorization grant (RFC 8628) against oauthd: a public client
//! asks for a device code, the crate polls at `interval` (handling `authorization_pending` and
//! `slow_down`) while the user approves on the verification page, and the token works at
//! /userinfo as the user.

use oauth2::basic::BasicClient;
use oauth2::{ClientId, DeviceAuthorizationUrl, Scope, StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl};
use serde_json::Value;

use crate::{err, Check, Tally};

pub async fn run(cfg: &Value, t: &mut Tally) -> Check {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let issuer = s(&cfg["issuer"]);
    let client = BasicClient::new(ClientId::new(s(&cfg["clients"]["oauth2_device"]["client_id"])))
        .set_device_authorization_url(DeviceAuthorizationUrl::new(format!("{issuer}/device_authorization")).map_err(err)?)
        .set_token_uri(TokenUrl::new(format!("{issuer}/token")).map_err(err)?);
    let http = oauth2::reqwest::ClientBuilder::new().redirect(oauth2::reqwest::redirect::Policy::none()).build().map_err(err)?;
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("openid".into()))
        .request_async(&http)
        .await
        .map_err(|e| format!("device authorization: {e:?}"))?;
    t.check("oauth2: device authorization request", Ok(()));
    let complete = details.verification_uri_complete().map(|u| u.secret().to_string()).ok_or("no verification_uri_complete")?;
    let user = cfg.clone();
    let approval = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        approve(&user, &complete).await
    });
    let token = client
        .exchange_device_access_token(&details)
        .request_async(&http, tokio::time::sleep, None)
        .await
        .map_err(|e| format!("device token: {e:?}"));
    let approved = approval.await.map_err(err)?;
    t.check("verification page: enter the code, sign in, allow", approved);
    let token = token?;
    t.check("oauth2: polling until the user approved, then tokens", Ok(()));
    let info: Value = http
        .get(format!("{issuer}/userinfo"))
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .map_err(err)?
        .json()
        .await
        .map_err(err)?;
    let want = s(&cfg["user"]["user_id"]);
    t.check("device token at /userinfo is the user's", if info["sub"] == want.as_str() { Ok(()) } else { Err(format!("{info}")) });
    Ok(())
}

/// The user's browser: opens `uri`, continues with the pre-filled code, signs in, allows.
async fn approve(cfg: &Value, uri: &str) -> Check {
    let issuer = cfg["issuer"].as_str().unwrap_or_default();
    let browser = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().map_err(err)?;
    let csrf_re = regex_lite::Regex::new(r#"name="csrf" value="([^"]+)""#).map_err(err)?;
    let code_re = regex_lite::Regex::new(r#"name="user_code" value="([^"]+)""#).map_err(err)?;
    let mut page = browser.get(uri).send().await.map_err(err)?.text().await.map_err(err)?;
    for (path, extra) in [
        ("/device", vec![]),
        ("/device/login", vec![("username", cfg["user"]["username"].as_str().unwrap_or_default()), ("password", cfg["user"]["password"].as_str().unwrap_or_default())]),
        ("/device/decide", vec![("decision", "allow")]),
    ] {
        let csrf = csrf_re.captures(&page).ok_or_else(|| format!("no csrf field before {path}: {page}"))?[1].to_string();
        let code = code_re.captures(&page).ok_or_else(|| format!("no user_code field before {path}: {page}"))?[1].to_string();
        let mut form = vec![("csrf", csrf.as_str()), ("user_code", code.as_str())];
        form.extend(extra);
        let r = browser.post(format!("{issuer}{path}")).form(&form).send().await.map_err(err)?;
        if r.status() != 200 {
            return Err(format!("{path} answered {}", r.status()));
        }
        page = r.text().await.map_err(err)?;
    }
    if page.contains("is now connected") { Ok(()) } else { Err(format!("not approved: {page}")) }
}
