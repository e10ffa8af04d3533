//! The faults of issue 13 on the link to PostgreSQL, each under mixed traffic to three instances:
//! a restart (cut), a black hole, a slow (+150 ms) and a crawling (+600 ms) link, and resets.
//! Each run asserts the whole of the list once the fault has ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::fleet::{failed_logins, left_in_transaction, Fleet};
use super::ledger::{Phase, Seen};
use super::mix::Mix;
use super::proxy::{Mode, Proxy};
use super::traffic::{password_of, Chain, Creds, Traffic};
use crate::helpers::TestApp;

/// Every instance answers each grant with 200 this soon after a fault ends.
const RECOVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Copy)]
enum Fault {
    Restart,
    BlackHole,
    Slow,
    Crawling,
    Resets,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Restart => "restart (connections cut, new ones refused)",
            Fault::BlackHole => "black hole (connections kept, nothing forwarded)",
            Fault::Slow => "slow link (+150 ms per chunk each way)",
            Fault::Crawling => "crawling link (+600 ms per chunk each way)",
            Fault::Resets => "resets (every connection RST every 300 ms)",
        }
    }

    /// How long it lasts: a black hole shorter than `db_timeout_ms` (3 s) is only latency, so it
    /// lasts a second longer than that at least.
    fn window(self) -> Duration {
        match self {
            Fault::BlackHole => super::window().max(Duration::from_secs(4)),
            _ => super::window(),
        }
    }

    /// Applies the fault for `window`, then lifts it.
    async fn inflict(self, proxy: &Proxy, window: Duration) {
        let started = Instant::now();
        match self {
            Fault::Restart => proxy.cut(),
            Fault::BlackHole => proxy.set(Mode::BlackHole),
            Fault::Slow => proxy.set(Mode::Delay(Duration::from_millis(150))),
            Fault::Crawling => proxy.set(Mode::Delay(Duration::from_millis(600))),
            Fault::Resets => {
                while started.elapsed() < window {
                    proxy.reset();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
        tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
        proxy.set(Mode::Pass);
    }
}

/// One instance's recovery check: a client never used before, a user, a refresh chain.
struct Probe {
    base: String,
    m2m: Creds,
    user: String,
    chain: Chain,
}

impl Probe {
    async fn provision(admin: &TestApp, t: &Traffic, base: String, k: usize) -> Probe {
        let user = format!("probe{k}");
        admin.user(&user, &password_of(&user)).await;
        let mut chain = Chain { user: user.clone(), tokens: Vec::new() };
        assert!(matches!(t.login(&base, &mut chain).await, Seen::Ok(_)), "the probe logs in");
        Probe { base, m2m: admin.m2m().await, user, chain }
    }

    /// One of each: client_credentials, password, refresh, a whole code flow, introspection and
    /// a revocation, in that order; whether all were 200.
    async fn round(&mut self, t: &Traffic) -> bool {
        let b = self.base.as_str();
        let ok = |s: Seen| matches!(s, Seen::Ok(_));
        if !ok(t.client_credentials(b, &self.m2m).await)
            || !ok(t.refresh(b, &mut self.chain).await)
            || !ok(t.code_flow([b, b, b], &self.user).await)
        {
            return false;
        }
        let Seen::Ok(login) = t.password(b, &self.user, false).await else { return false };
        let access = login["access_token"].as_str().unwrap_or_default();
        ok(t.introspect(b, access, true).await) && ok(t.revoke(b, access, "access_token").await)
    }

    /// Time from `since` to the end of the first round that was all 200 (`None` past 10 s).
    async fn recover(&mut self, t: &Traffic, since: Instant) -> Option<Duration> {
        while since.elapsed() < 2 * RECOVERY {
            if self.round(t).await {
                return Some(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

async fn survive(fault: Fault) {
    let _one_at_a_time = super::serial().await;
    let window = fault.window();
    let fleet = Fleet::start(3).await;
    let admin = &fleet.apps[0];
    let t = Arc::new(Traffic::provision(admin).await);
    let mut probes = Vec::new();
    for (k, base) in fleet.bases().into_iter().enumerate() {
        probes.push(Probe::provision(admin, &t, base, k).await);
    }
    t.ledger.mark(Phase::Before);
    let mut mix = Mix::start(t.clone(), admin, fleet.bases()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    t.ledger.mark(Phase::During);
    fault.inflict(&fleet.proxy, window).await;
    let ended = Instant::now();
    t.ledger.mark(Phase::After);
    let recovery = join_all(probes.iter_mut().map(|p| p.recover(&t, ended))).await;
    let chains = mix.stop().await;

    let mut users = mix.users.clone();
    users.extend(probes.iter().map(|p| p.user.clone()));
    let mut problems = failed_logins(&fleet.direct, &users).await;
    problems.extend(left_in_transaction(&fleet.direct).await);
    problems.extend(mix.revocations_hold().await);
    problems.extend(mix.spent_stays_spent(&chains).await);
    let slowest: Option<Duration> =
        recovery.iter().copied().collect::<Option<Vec<_>>>().and_then(|r| r.into_iter().max());
    if recovery.iter().any(|r| r.is_none_or(|d| d >= RECOVERY)) {
        problems.push(format!("recovery: not every instance answered every grant within 5 s: {recovery:?}"));
    }
    problems.extend(t.ledger.violations());
    super::report(fault.name(), Some(window), &t.ledger, slowest.map(|d| format!("{:.1} s", d.as_secs_f64())));
    super::assert_clean(fault.name(), problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_refuses_no_correct_credentials_and_loses_nothing() {
    survive(Fault::Restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_database_refuses_no_correct_credentials_and_loses_nothing() {
    survive(Fault::BlackHole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_database_link_refuses_no_correct_credentials_and_loses_nothing() {
    survive(Fault::Slow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawling_database_link_refuses_no_correct_credentials_and_loses_nothing() {
    survive(Fault::Crawling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_resets_refuse_no_correct_credentials_and_lose_nothing() {
    survive(Fault::Resets).await;
}
