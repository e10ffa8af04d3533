//! The requests of the mixed traffic (RFC 6749 §4.1 code + PKCE per RFC 7636, §4.3 password,
//! §4.4 client_credentials, §6 refresh; RFC 7662 introspection, RFC 7009 revocation), each made
//! with correct credentials and judged by the ledger.

use std::time::Duration;

use reqwest::redirect::Policy;
use serde_json::Value;

use super::ledger::{clip, Ledger, Seen};
use crate::browser::{csrf_of, location, params, query_param, serde_urlencoded, REDIRECT, VERIFIER};
use crate::helpers::{TestApp, API};

pub type Creds = (String, String);

pub fn password_of(user: &str) -> String {
    format!("pw-{user}")
}

/// A refresh-token chain: one login, then rotation after rotation. `tokens` holds every token
/// the client was handed, the newest last.
pub struct Chain {
    pub user: String,
    pub tokens: Vec<String>,
}

impl Chain {
    pub fn newest(&self) -> &str {
        self.tokens.last().map(String::as_str).unwrap_or_default()
    }
}

/// The clients every request is made with, and the ledger it is judged in.
pub struct Traffic {
    pub http: reqwest::Client,
    pub ledger: Ledger,
    pub m2m: Creds,
    /// Confidential: client_credentials, password and refresh_token; introspects and revokes.
    pub web: Creds,
    pub spa: String,
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).redirect(Policy::none()).build().unwrap()
}

impl Traffic {
    /// Registers the clients through `admin` (any instance, or one on the direct database URL).
    pub async fn provision(admin: &TestApp) -> Traffic {
        let m2m = admin.m2m().await;
        let web = admin.client(&["client_credentials", "password", "refresh_token"], "read:x").await;
        let spa = crate::browser::spa(admin, true, &[]).await;
        Traffic { http: http_client(), ledger: Ledger::default(), m2m, web, spa }
    }

    async fn post(&self, kind: &'static str, base: &str, path: &str, auth: &Creds, form: &[(&str, &str)]) -> Seen {
        self.post_via(&self.http, kind, base, path, auth, form).await
    }

    async fn post_via(
        &self,
        http: &reqwest::Client,
        kind: &'static str,
        base: &str,
        path: &str,
        auth: &Creds,
        form: &[(&str, &str)],
    ) -> Seen {
        let req = http.post(format!("{base}{path}")).basic_auth(&auth.0, Some(&auth.1)).form(form);
        match req.send().await {
            Err(e) => self.ledger.transport(kind, &e),
            Ok(r) => {
                let status = r.status().as_u16();
                match r.text().await {
                    Ok(body) => self.ledger.judge(kind, status, &body),
                    Err(e) => self.ledger.transport(kind, &e),
                }
            }
        }
    }

    pub async fn client_credentials(&self, base: &str, client: &Creds) -> Seen {
        self.client_credentials_via(&self.http, base, client).await
    }

    /// The same through `http` (a client of another runtime).
    pub async fn client_credentials_via(&self, http: &reqwest::Client, base: &str, client: &Creds) -> Seen {
        let form = [("grant_type", "client_credentials"), ("audience", API)];
        self.post_via(http, "client_credentials", base, "/token", client, &form).await
    }

    /// A password grant; with `offline` it asks for a refresh token too.
    pub async fn password(&self, base: &str, user: &str, offline: bool) -> Seen {
        self.password_as("password", base, user, offline).await
    }

    /// The same, counted as `kind`.
    pub async fn password_as(&self, kind: &'static str, base: &str, user: &str, offline: bool) -> Seen {
        let pw = password_of(user);
        let mut form = vec![("grant_type", "password"), ("username", user), ("password", &pw), ("audience", API)];
        if offline {
            form.push(("scope", "read:x offline_access"));
        }
        self.post(kind, base, "/token", &self.web, &form).await
    }

    /// Starts `chain` over with a fresh login (at set-up, or after its token was lost).
    pub async fn login(&self, base: &str, chain: &mut Chain) -> Seen {
        let seen = self.password(base, &chain.user, true).await;
        if let Seen::Ok(body) = &seen {
            chain.tokens.push(body["refresh_token"].as_str().unwrap_or_default().to_string());
        }
        seen
    }

    /// Rotates the chain's newest token. A 503 leaves the client holding it; the next call
    /// presents it again, which the reuse grace must honour if the rotation had committed.
    pub async fn refresh(&self, base: &str, chain: &mut Chain) -> Seen {
        let newest = chain.newest().to_string();
        let form = [("grant_type", "refresh_token"), ("refresh_token", newest.as_str())];
        let seen = self.post("refresh_token", base, "/token", &self.web, &form).await;
        match &seen {
            Seen::Ok(body) => {
                let next = body["refresh_token"].as_str().unwrap_or_default().to_string();
                self.ledger.rotated(&newest, &next);
                chain.tokens.push(next);
            }
            Seen::Refused => self.ledger.violation(format!(
                "refresh_token: lost: {}'s newest token was refused after {} rotations",
                chain.user,
                chain.tokens.len() - 1
            )),
            _ => {}
        }
        seen
    }

    /// Introspects `token` as its holder (`web`); a 200 must say `active: expected`.
    pub async fn introspect(&self, base: &str, token: &str, expected: bool) -> Seen {
        let seen = self.post("introspect", base, "/introspect", &self.web, &[("token", token)]).await;
        if let Seen::Ok(v) = &seen {
            if v["active"] != expected {
                self.ledger.violation(format!("introspect on {base}: active should be {expected}: {v}"));
            }
        }
        seen
    }

    pub async fn revoke(&self, base: &str, token: &str, hint: &'static str) -> Seen {
        let seen =
            self.post("revoke", base, "/revoke", &self.web, &[("token", token), ("token_type_hint", hint)]).await;
        if let Seen::Ok(_) = seen {
            self.ledger.revoked(hint, token.to_string());
        }
        seen
    }

    /// A whole browser flow in a fresh cookie jar: `/authorize` → login form → `/authorize` with
    /// the session → code → `/token` with the PKCE verifier, each step on the next of `bases`
    /// (the SSO session and CSRF state are in the database, the cookies are per host).
    pub async fn code_flow(&self, bases: [&str; 3], user: &str) -> Seen {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let p = params(&self.spa, &[]);
        let url = format!("{}/authorize?{}", bases[0], serde_urlencoded(&p));
        let page = match self.page("authorize", browser.get(url), 200).await {
            Ok((_, page)) => page,
            Err(seen) => return seen,
        };
        if !page.contains("name=\"csrf\"") {
            self.ledger.violation(format!("authorize: a 200 that is not the login form: {}", clip(&page)));
            return Seen::Other;
        }
        let pw = password_of(user);
        let mut form = p.clone();
        let csrf = csrf_of(&page);
        form.extend([("csrf", csrf.as_str()), ("username", user), ("password", pw.as_str())]);
        let back = match self.page("login", browser.post(format!("{}/login", bases[1])).form(&form), 303).await {
            Ok((back, _)) => back,
            Err(seen) => return seen,
        };
        let redirect = match self.page("authorize", browser.get(format!("{}{back}", bases[2])), 303).await {
            Ok((redirect, _)) => redirect,
            Err(seen) => return seen,
        };
        let Some(code) = query_param(&redirect, "code").filter(|_| redirect.starts_with(REDIRECT)) else {
            self.ledger.violation(format!("authorize: no code in the redirect {}", clip(&redirect)));
            return Seen::Other;
        };
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", self.spa.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        let exchange = self.http.post(format!("{}/token", bases[0])).form(&form).send().await;
        match exchange {
            Err(e) => self.ledger.transport("authorization_code", &e),
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                self.ledger.judge("authorization_code", status, &body)
            }
        }
    }

    /// A front-channel step expected to answer `expected`: its `Location` and body, or what it
    /// came to. A 503 page is what a database outage shows; a wrong-password page for the right
    /// password is a refusal.
    async fn page(
        &self,
        kind: &'static str,
        req: reqwest::RequestBuilder,
        expected: u16,
    ) -> Result<(String, String), Seen> {
        let r = req.send().await.map_err(|e| self.ledger.transport(kind, &e))?;
        let (status, loc) = (r.status().as_u16(), location(&r));
        let body = r.text().await.map_err(|e| self.ledger.transport(kind, &e))?;
        let seen = if status == expected {
            Seen::Ok(Value::Null)
        } else if body.contains("Wrong username or password") {
            self.ledger.violation(format!("{kind}: the right password was refused with {status}"));
            Seen::Refused
        } else if status == 503 {
            Seen::Unavailable
        } else {
            self.ledger.violation(format!("{kind}: unexpected {status}: {}", clip(&body)));
            Seen::Other
        };
        self.ledger.count(kind, &seen);
        match seen {
            Seen::Ok(_) => Ok((loc, body)),
            other => Err(other),
        }
    }
}
