//! Instances that go away under load: kill -9 with refreshes in flight (RFC 9700 §4.14.2 reuse
//! detection must not eat a rotation whose answer was lost), and SIGTERM rolling restarts behind
//! a load balancer that follows `/readyz` and redispatches refused connections.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::fleet::{failed_logins, left_in_transaction};
use super::ledger::Seen;
use super::processes::Server;
use super::traffic::{password_of, Chain, Traffic};
use crate::helpers::{fresh_database, Backend, TestApp};

const ISSUER: &str = "http://oauthd.faults.test";

/// A database, the clients on it, `users` with their passwords, and `n` real servers on it.
async fn setup(
    n: usize,
    users: &[String],
    env: &[(&str, &str)],
    transport_errors_ok: bool,
) -> (String, Traffic, Vec<Server>) {
    let db = fresh_database(Backend::Postgres).await;
    let admin = TestApp::spawn_on(db.clone(), |s| s.issuer = ISSUER.into()).await;
    let mut t = Traffic::provision(&admin).await;
    t.ledger.transport_errors_ok = transport_errors_ok;
    for u in users {
        admin.user(u, &password_of(u)).await;
    }
    let mut env = env.to_vec();
    env.push(("OAUTHD_ISSUER", ISSUER));
    let servers: Vec<Server> = (0..n).map(|_| Server::spawn(&db, &env)).collect();
    for s in &servers {
        assert!(s.ready(Duration::from_secs(30)).await, "{} did not start:\n{}", s.base, s.log_tail());
    }
    (db, t, servers)
}

async fn logged_in(t: &Traffic, base: &str, user: &str) -> Chain {
    let mut chain = Chain { user: user.into(), tokens: Vec::new() };
    assert!(matches!(t.login(base, &mut chain).await, Seen::Ok(_)), "{user} logs in");
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_in_flight_when_its_instance_is_killed_is_not_lost() {
    let _one_at_a_time = super::serial().await;
    let users: Vec<String> = (0..8).map(|k| format!("kill{k}")).collect();
    let (db, t, mut servers) = setup(2, &users, &[], true).await;
    let mut chains = Vec::new();
    for u in &users {
        chains.push(logged_in(&t, &servers[1].base, u).await);
    }
    let rounds = (super::window().as_secs_f64() * 1.6).ceil() as usize;
    for round in 0..rounds {
        // Every chain refreshes on the victim back to back until it dies: at the kill, each has
        // a request at some stage, a few of them past their commit.
        let (t, victim, pid) = (&t, servers[0].base.clone(), servers[0].pid());
        let kill_at = Duration::from_millis(150 + 37 * round as u64);
        let launches = chains.iter_mut().map(|chain| {
            let victim = &victim;
            async move { while let Seen::Ok(_) = t.refresh(victim, chain).await {} }
        });
        let kill = async move {
            tokio::time::sleep(kill_at).await;
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        };
        tokio::join!(join_all(launches), kill);
        // Whatever the victim's answer was, the client presents its newest token to the survivor
        // (and, when that is refused, which is recorded as a lost token, logs in again).
        for chain in chains.iter_mut() {
            for _ in 0..20 {
                match t.refresh(&servers[1].base, chain).await {
                    Seen::Unavailable | Seen::Unreachable => tokio::time::sleep(Duration::from_millis(100)).await,
                    Seen::Refused => drop(t.login(&servers[1].base, chain).await),
                    _ => break,
                }
            }
        }
        servers[0].exited(Duration::from_secs(5)).await.expect("killed");
        servers[0].respawn();
        assert!(servers[0].ready(Duration::from_secs(30)).await, "restart:\n{}", servers[0].log_tail());
    }
    for chain in chains.iter_mut() {
        for s in &servers {
            if !matches!(t.refresh(&s.base, chain).await, Seen::Ok(_)) {
                t.ledger.violation(format!("refresh: {} cannot go on on {} after the kills", chain.user, s.base));
            }
        }
    }
    let mut graced = 0.0;
    for s in &servers {
        graced += s.metric(r#"oauthd_security_events_total{event="refresh_grace"}"#).await.unwrap_or(0.0);
    }
    let mut problems = failed_logins(&db, &users).await;
    problems.extend(left_in_transaction(&db).await);
    problems.extend(t.ledger.violations());
    let name = format!("kill -9 of one of two instances, {rounds} times, with 8 refreshes in flight");
    super::report(&name, None, &t.ledger, Some(format!("{graced} answers lost and re-rotated in the grace")));
    super::assert_clean(&name, problems);
}

/// A load balancer: round-robin over the backends whose `/readyz` answered 200 at the last
/// check (every 100 ms); a backend that refuses a connection is out until its next good check.
struct Lb {
    backends: Vec<String>,
    ready: Vec<AtomicBool>,
    next: AtomicUsize,
}

impl Lb {
    fn start(backends: Vec<String>, stop: Arc<AtomicBool>) -> Arc<Lb> {
        let ready = backends.iter().map(|_| AtomicBool::new(true)).collect();
        let lb = Arc::new(Lb { backends, ready, next: AtomicUsize::new(0) });
        let checker = lb.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
            while !stop.load(Ordering::SeqCst) {
                for (b, ready) in checker.backends.iter().zip(&checker.ready) {
                    let ok = http.get(format!("{b}/readyz")).send().await.is_ok_and(|r| r.status() == 200);
                    ready.store(ok, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        lb
    }

    async fn pick(&self) -> String {
        loop {
            for _ in 0..self.backends.len() {
                let i = self.next.fetch_add(1, Ordering::SeqCst) % self.backends.len();
                if self.ready[i].load(Ordering::SeqCst) {
                    return self.backends[i].clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn refused(&self, base: &str) {
        if let Some(i) = self.backends.iter().position(|b| b == base) {
            self.ready[i].store(false, Ordering::SeqCst);
        }
    }
}

enum Job {
    ClientCredentials,
    Password(String),
    Refresh(Chain),
}

async fn through(t: Arc<Traffic>, lb: Arc<Lb>, stop: Arc<AtomicBool>, mut job: Job) -> Option<Chain> {
    while !stop.load(Ordering::SeqCst) {
        let base = lb.pick().await;
        let seen = match &mut job {
            Job::ClientCredentials => t.client_credentials(&base, &t.m2m).await,
            Job::Password(user) => t.password(&base, user, false).await,
            Job::Refresh(chain) => match t.refresh(&base, chain).await {
                Seen::Refused => t.login(&base, chain).await,
                seen => seen,
            },
        };
        if let Seen::Unreachable = seen {
            lb.refused(&base);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match job {
        Job::Refresh(chain) => Some(chain),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_sigterm_restarts_behind_a_load_balancer_lose_nothing() {
    let _one_at_a_time = super::serial().await;
    let users: Vec<String> = (0..5).map(|k| format!("roll{k}")).collect();
    let env = [("OAUTHD_SHUTDOWN_DELAY", "1"), ("OAUTHD_SHUTDOWN_GRACE", "5")];
    let (db, t, mut servers) = setup(3, &users, &env, false).await;
    let t = Arc::new(t);
    let stop = Arc::new(AtomicBool::new(false));
    let lb = Lb::start(servers.iter().map(|s| s.base.clone()).collect(), stop.clone());
    let mut tasks = Vec::new();
    for u in &users[..2] {
        tasks.push(tokio::spawn(through(t.clone(), lb.clone(), stop.clone(), Job::ClientCredentials)));
        tasks.push(tokio::spawn(through(t.clone(), lb.clone(), stop.clone(), Job::Password(u.clone()))));
    }
    for u in &users[2..] {
        let chain = logged_in(&t, &servers[0].base, u).await;
        tasks.push(tokio::spawn(through(t.clone(), lb.clone(), stop.clone(), Job::Refresh(chain))));
    }
    let started = Instant::now();
    let mut problems = Vec::new();
    for s in servers.iter_mut() {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.signal(libc::SIGTERM);
        match s.exited(Duration::from_secs(15)).await {
            Some(status) if status.success() => {}
            other => problems.push(format!("sigterm: {} ended with {other:?}:\n{}", s.base, s.log_tail())),
        }
        s.respawn();
        assert!(s.ready(Duration::from_secs(30)).await, "restart:\n{}", s.log_tail());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut chains: Vec<Chain> = join_all(tasks).await.into_iter().filter_map(|r| r.unwrap()).collect();
    for chain in chains.iter_mut() {
        for s in &servers {
            if !matches!(t.refresh(&s.base, chain).await, Seen::Ok(_)) {
                t.ledger.violation(format!("refresh: {} cannot go on on {} after the restarts", chain.user, s.base));
            }
        }
    }
    problems.extend(failed_logins(&db, &users).await);
    problems.extend(left_in_transaction(&db).await);
    problems.extend(t.ledger.violations());
    let name = "SIGTERM rolling restart of three instances behind a load balancer";
    let took = format!("{:.1} s for the three", started.elapsed().as_secs_f64());
    super::report(name, None, &t.ledger, Some(took));
    super::assert_clean(name, problems);
}
