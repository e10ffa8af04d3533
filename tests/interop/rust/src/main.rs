//! The `openidconnect` crate as a relying party against oauthd on default settings: discovery,
//! an identity-only code login through the login form (confidential client with PKCE, no
//! audience), the crate's ID token checks (signature, iss, aud, exp, nonce, at_hash), its
//! userinfo request and checks (sub), and an identity-only password grant.
//!
//! Reads the JSON file named by `OAUTHD_RP_CONFIG` (written by tests/interop/run.sh).

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse,
};
use serde_json::Value;

type Check = Result<(), String>;

struct Tally(u32, u32);

impl Tally {
    fn check(&mut self, name: &str, r: Check) -> bool {
        match r {
            Ok(()) => {
                self.0 += 1;
                println!("ok   {name}");
                true
            }
            Err(e) => {
                self.1 += 1;
                println!("FAIL {name}: {e}");
                false
            }
        }
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[tokio::main]
async fn main() {
    let cfg: Value = serde_json::from_str(&std::fs::read_to_string(std::env::var("OAUTHD_RP_CONFIG").unwrap()).unwrap()).unwrap();
    let mut t = Tally(0, 0);
    if let Err(e) = run(&cfg, &mut t).await {
        t.check("flow", Err(e));
    }
    println!("openidconnect: {} passed, {} failed", t.0, t.1);
    std::process::exit(if t.1 == 0 { 0 } else { 1 });
}

async fn run(cfg: &Value, t: &mut Tally) -> Check {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let issuer = s(&cfg["issuer"]);
    let c = &cfg["clients"]["openidconnect"];
    // The crate's own requirement: no redirects on its back channel (SSRF).
    let http = openidconnect::reqwest::ClientBuilder::new().redirect(openidconnect::reqwest::redirect::Policy::none()).build().map_err(err)?;
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).map_err(err)?, &http).await;
    let meta = meta.map_err(|e| format!("discovery: {e:?}"))?;
    t.check("discovery (issuer matches)", Ok(()));
    let client = CoreClient::from_provider_metadata(meta, ClientId::new(s(&c["client_id"])), Some(ClientSecret::new(s(&c["client_secret"]))))
        .set_redirect_uri(RedirectUrl::new(s(&c["redirect_uri"])).map_err(err)?);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = login(cfg, auth_url.as_str(), csrf.secret()).await?;
    t.check("identity-only login through the login form", Ok(()));
    let tokens = client.exchange_code(AuthorizationCode::new(code)).map_err(err)?.set_pkce_verifier(verifier).request_async(&http).await;
    let tokens = tokens.map_err(|e| format!("code exchange: {e:?}"))?;
    t.check("code exchange (client_secret_basic + PKCE)", Ok(()));
    let id_token = tokens.id_token().ok_or("no id_token")?;
    let id_verifier = client.id_token_verifier();
    let claims = id_token.claims(&id_verifier, &nonce).map_err(|e| format!("{e:?}"));
    if !t.check("ID token verified by openidconnect (signature, iss, aud, exp, nonce)", claims.as_ref().map(|_| ()).map_err(Clone::clone)) {
        return Ok(());
    }
    let claims = claims?;
    let hash_ok = match claims.access_token_hash() {
        Some(expected) => {
            let alg = id_token.signing_alg().map_err(|e| format!("{e:?}"))?;
            let key = id_token.signing_key(&id_verifier).map_err(|e| format!("{e:?}"))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key).map_err(|e| format!("{e:?}"))?;
            if actual == *expected { Ok(()) } else { Err("at_hash mismatch".into()) }
        }
        None => Err("no at_hash".into()),
    };
    t.check("at_hash", hash_ok);
    let amr_ok = claims.auth_context_ref().is_some() && claims.auth_method_refs().is_some_and(|m| m.len() == 1) && claims.auth_time().is_some();
    t.check("acr, amr and auth_time", if amr_ok { Ok(()) } else { Err(format!("{claims:?}")) });

    let info: Result<CoreUserInfoClaims, _> = client.user_info(tokens.access_token().to_owned(), Some(claims.subject().clone())).map_err(err)?.request_async(&http).await;
    match info {
        Ok(info) => {
            t.check("userinfo (the crate checks sub)", Ok(()));
            let email = info.email().map(|e| e.as_str().to_string());
            let want = s(&cfg["user"]["email"]);
            t.check("userinfo email", if email.as_deref() == Some(want.as_str()) { Ok(()) } else { Err(format!("{email:?}")) });
        }
        Err(e) => {
            t.check("userinfo (the crate checks sub)", Err(format!("{e:?}")));
        }
    }

    // The password grant, identity-only too, by a client allowed it.
    let p = &cfg["clients"]["openidconnect_password"];
    let pclient = CoreClient::from_provider_metadata(
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer).map_err(err)?, &http).await.map_err(|e| format!("{e:?}"))?,
        ClientId::new(s(&p["client_id"])),
        Some(ClientSecret::new(s(&p["client_secret"]))),
    );
    let (user, pw) = (s(&cfg["user"]["username"]), s(&cfg["user"]["password"]));
    let (user, pw) = (ResourceOwnerUsername::new(user), ResourceOwnerPassword::new(pw));
    let r = pclient.exchange_password(&user, &pw).map_err(err)?.add_scope(Scope::new("openid".into())).add_scope(Scope::new("profile".into())).request_async(&http).await;
    match r {
        Ok(tokens) => {
            let id = tokens.id_token().ok_or("no id_token")?;
            let c = id.claims(&pclient.id_token_verifier(), |_: Option<&Nonce>| Ok(())).map_err(|e| format!("{e:?}"));
            t.check("password grant, identity-only: ID token verified", c.map(|_| ()));
        }
        Err(e) => {
            t.check("password grant, identity-only", Err(format!("{e:?}")));
        }
    }
    Ok(())
}

/// Follows the authorization URL through oauthd's login form to the redirect URI; returns the code.
async fn login(cfg: &Value, url: &str, state: &str) -> Result<String, String> {
    let issuer = cfg["issuer"].as_str().unwrap_or_default();
    let redirect = cfg["clients"]["openidconnect"]["redirect_uri"].as_str().unwrap_or_default();
    let browser = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().map_err(err)?;
    let hidden = regex_lite::Regex::new(r#"<input type="hidden" name="([^"]+)" value="([^"]*)">"#).map_err(err)?;
    let mut loc = url.to_string();
    for _ in 0..8 {
        if loc.starts_with(redirect) {
            let u = url::Url::parse(&loc).map_err(err)?;
            let q = |k: &str| u.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
            if q("state").as_deref() != Some(state) || q("iss").as_deref() != Some(issuer) {
                return Err(format!("state or iss mismatch: {loc}"));
            }
            return q("code").ok_or_else(|| format!("no code: {loc}"));
        }
        let abs = if loc.starts_with('/') { format!("{issuer}{loc}") } else { loc.clone() };
        let r = browser.get(&abs).send().await.map_err(err)?;
        if r.status() == 303 {
            loc = r.headers()["location"].to_str().map_err(err)?.to_string();
            continue;
        }
        let page = r.text().await.map_err(err)?;
        let unescape = |s: &str| s.replace("&#x2f;", "/").replace("&quot;", "\"").replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
        let mut form: Vec<(String, String)> = hidden.captures_iter(&page).map(|m| (unescape(&m[1]), unescape(&m[2]))).collect();
        let action = if page.contains("name=\"password\"") {
            form.push(("username".into(), cfg["user"]["username"].as_str().unwrap_or_default().into()));
            form.push(("password".into(), cfg["user"]["password"].as_str().unwrap_or_default().into()));
            "login"
        } else if page.contains("name=\"decision\"") {
            // A third-party client: the user allows it on the consent page.
            form.push(("decision".into(), "allow".into()));
            "consent"
        } else {
            return Err(format!("unexpected page at {loc}"));
        };
        let r = browser.post(format!("{issuer}/{action}")).form(&form).send().await.map_err(err)?;
        if r.status() != 303 {
            return Err(format!("{action} answered {}", r.status()));
        }
        loc = r.headers()["location"].to_str().map_err(err)?.to_string();
    }
    Err("too many redirects".into())
}
