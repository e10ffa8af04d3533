//! Mixed traffic from concurrent tasks, round-robin over the instances as a load balancer without
//! health checks would send it, and the checks made once it stopped: revocations answered 200 hold
//! on every instance (RFC 7009 §2.2), spent refresh tokens stay spent (RFC 9700 §4.14.2).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::ledger::Seen;
use super::traffic::{password_of, Chain, Traffic};
use crate::helpers::TestApp;

const PAUSE: Duration = Duration::from_millis(15);
const RETRY: Duration = Duration::from_millis(100);
const CHAINS: usize = 4;
/// Password workers sharing one account (a backend with several threads), more of them than
/// `lockout_threshold` (5): correct logins in flight at once must never lock it.
const CROWD: usize = 6;

pub struct Mix {
    pub t: Arc<Traffic>,
    pub bases: Arc<Vec<String>>,
    /// Every user the traffic logs in as: none may end with a failed-login count.
    pub users: Vec<String>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<Option<Chain>>>,
}

impl Mix {
    /// Provisions the users through `admin`, logs each refresh chain in, and starts the tasks:
    /// client_credentials ×2, password ×2 on their own accounts and ×6 on one, refresh chains ×4,
    /// code flow, introspection and revocation.
    pub async fn start(t: Arc<Traffic>, admin: &TestApp, bases: Vec<String>) -> Mix {
        let bases = Arc::new(bases);
        let stop = Arc::new(AtomicBool::new(false));
        let mut users = Vec::new();
        let mut tasks = Vec::new();
        let mut user = |name: String| {
            users.push(name.clone());
            name
        };
        let names: Vec<String> = (0..CHAINS).map(|k| user(format!("chain{k}"))).collect();
        let pw_users: Vec<String> = (0..2).map(|k| user(format!("pw{k}"))).collect();
        let crowd = user("crowd".into());
        let (code_user, revoke_user) = (user("browser".into()), user("revoker".into()));
        for name in &users {
            admin.user(name, &password_of(name)).await;
        }
        let (c, b, s) = (&t, &bases, &stop);
        for (k, own) in pw_users.into_iter().enumerate() {
            tasks.push(tokio::spawn(cc(c.clone(), b.clone(), s.clone(), k)));
            tasks.push(tokio::spawn(password(c.clone(), b.clone(), s.clone(), own, k)));
        }
        for k in 0..CROWD {
            tasks.push(tokio::spawn(crowded(c.clone(), b.clone(), s.clone(), crowd.clone(), k)));
        }
        for (k, name) in names.into_iter().enumerate() {
            let mut chain = Chain { user: name, tokens: Vec::new() };
            assert!(matches!(t.login(&bases[k % bases.len()], &mut chain).await, Seen::Ok(_)), "a chain logs in");
            tasks.push(tokio::spawn(refresh(c.clone(), b.clone(), s.clone(), chain, k)));
        }
        let Seen::Ok(live) = t.client_credentials(&bases[0], &t.web).await else { panic!("a live token") };
        let live = live["access_token"].as_str().unwrap().to_string();
        tasks.push(tokio::spawn(introspect(c.clone(), b.clone(), s.clone(), live)));
        tasks.push(tokio::spawn(code_flows(c.clone(), b.clone(), s.clone(), code_user)));
        tasks.push(tokio::spawn(revocations(c.clone(), b.clone(), s.clone(), revoke_user)));
        Mix { t, bases, users, stop, tasks }
    }

    /// Stops every task and waits for it; the refresh chains as they ended.
    pub async fn stop(&mut self) -> Vec<Chain> {
        self.stop.store(true, Ordering::SeqCst);
        let mut chains = Vec::new();
        for task in std::mem::take(&mut self.tasks) {
            chains.extend(task.await.expect("a traffic task panicked"));
        }
        chains
    }
}

fn at(bases: &[String], n: usize) -> &str {
    &bases[n % bases.len()]
}

fn running(s: &AtomicBool) -> bool {
    !s.load(Ordering::SeqCst)
}

async fn cc(t: Arc<Traffic>, b: Arc<Vec<String>>, s: Arc<AtomicBool>, mut n: usize) -> Option<Chain> {
    while running(&s) {
        t.client_credentials(at(&b, n), &t.m2m).await;
        n += 1;
        tokio::time::sleep(PAUSE).await;
    }
    None
}

async fn password(
    t: Arc<Traffic>,
    b: Arc<Vec<String>>,
    s: Arc<AtomicBool>,
    user: String,
    mut n: usize,
) -> Option<Chain> {
    while running(&s) {
        t.password(at(&b, n), &user, false).await;
        n += 1;
        tokio::time::sleep(PAUSE).await;
    }
    None
}

async fn crowded(
    t: Arc<Traffic>,
    b: Arc<Vec<String>>,
    s: Arc<AtomicBool>,
    user: String,
    mut n: usize,
) -> Option<Chain> {
    while running(&s) {
        t.password_as("password (6 at once, one account)", at(&b, n), &user, false).await;
        n += 1;
        tokio::time::sleep(PAUSE).await;
    }
    None
}

/// Rotates without pause; after a 503 it presents the same token again on the next instance.
/// A refused newest token is recorded (by `Traffic::refresh`) and the chain logs in anew.
async fn refresh(
    t: Arc<Traffic>,
    b: Arc<Vec<String>>,
    s: Arc<AtomicBool>,
    mut chain: Chain,
    mut n: usize,
) -> Option<Chain> {
    while running(&s) {
        n += 1;
        match t.refresh(at(&b, n), &mut chain).await {
            Seen::Ok(_) => tokio::time::sleep(PAUSE).await,
            Seen::Refused => {
                while running(&s) && !matches!(t.login(at(&b, n), &mut chain).await, Seen::Ok(_)) {
                    tokio::time::sleep(RETRY).await;
                }
            }
            _ => tokio::time::sleep(RETRY).await,
        }
    }
    Some(chain)
}

async fn introspect(t: Arc<Traffic>, b: Arc<Vec<String>>, s: Arc<AtomicBool>, live: String) -> Option<Chain> {
    let mut n = 0;
    while running(&s) {
        t.introspect(at(&b, n), &live, true).await;
        n += 1;
        tokio::time::sleep(PAUSE).await;
    }
    None
}

async fn code_flows(t: Arc<Traffic>, b: Arc<Vec<String>>, s: Arc<AtomicBool>, user: String) -> Option<Chain> {
    let mut n = 0;
    while running(&s) {
        t.code_flow([at(&b, n), at(&b, n + 1), at(&b, n + 2)], &user).await;
        n += 1;
        tokio::time::sleep(PAUSE).await;
    }
    None
}

/// Logs in, then revokes the refresh token or the access token it got (in turn), on another
/// instance, retrying until the revocation is answered 200.
async fn revocations(t: Arc<Traffic>, b: Arc<Vec<String>>, s: Arc<AtomicBool>, user: String) -> Option<Chain> {
    let mut n = 0;
    while running(&s) {
        n += 1;
        let Seen::Ok(body) = t.password(at(&b, n), &user, true).await else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let (hint, token) = match n % 2 {
            0 => ("refresh_token", body["refresh_token"].as_str().unwrap_or_default().to_string()),
            _ => ("access_token", body["access_token"].as_str().unwrap_or_default().to_string()),
        };
        let mut k = n;
        while running(&s) {
            k += 1;
            if let Seen::Ok(_) = t.revoke(at(&b, k), &token, hint).await {
                break;
            }
            tokio::time::sleep(RETRY).await;
        }
        tokio::time::sleep(PAUSE).await;
    }
    None
}

impl Mix {
    /// Every token whose revocation was answered 200 is inactive on every instance; a revoked
    /// access token is also refused by `/userinfo` (the deny list is read per request).
    pub async fn revocations_hold(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let revoked = self.t.ledger.revocations();
        for (hint, token) in &revoked {
            for base in self.bases.iter() {
                if !settles(|| self.t.introspect(base, token, false)).await {
                    problems.push(format!("revocation: could not introspect a revoked {hint} on {base}"));
                }
                if *hint == "access_token" {
                    let r = self.t.http.get(format!("{base}/userinfo")).bearer_auth(token).send().await;
                    if r.as_ref().is_ok_and(|r| r.status() == 200) {
                        problems.push(format!("revocation: {base}/userinfo accepts a revoked access token"));
                    }
                }
            }
        }
        if revoked.is_empty() {
            problems.push("revocation: none was answered 200 during the run".into());
        }
        problems
    }

    /// A token two rotations old or more (older than the one the reuse grace covers) is reuse:
    /// refused, and its family with it (presented last, once the traffic stopped, because it
    /// ends the chain).
    pub async fn spent_stays_spent(&self, chains: &[Chain]) -> Vec<String> {
        let Some(chain) = chains.iter().find(|c| c.tokens.len() >= 3) else {
            return vec!["refresh: no chain rotated twice".into()];
        };
        let mut problems = Vec::new();
        for (what, token) in [
            ("a token rotated long ago", &chain.tokens[0]),
            ("its family's newest", &chain.tokens[chain.tokens.len() - 1]),
        ] {
            let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
            let r = self
                .t
                .http
                .post(format!("{}/token", self.bases[0]))
                .basic_auth(&self.t.web.0, Some(&self.t.web.1))
                .form(&form);
            let (s, _, body) = crate::helpers::json(r.send().await.unwrap()).await;
            if (s, body["error"].as_str()) != (400, Some("invalid_grant")) {
                problems.push(format!("refresh: {what} after reuse should be invalid_grant, got {s} {body}"));
            }
        }
        problems
    }
}

/// Calls `f` until it gets an answer that is not a 503 (at most 5 s): whether it did.
async fn settles<F: std::future::Future<Output = Seen>>(mut f: impl FnMut() -> F) -> bool {
    for _ in 0..25 {
        match f().await {
            Seen::Unavailable | Seen::Unreachable => tokio::time::sleep(Duration::from_millis(200)).await,
            _ => return true,
        }
    }
    false
}
