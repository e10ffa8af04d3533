//! Real `oauthd serve` processes (the binary cargo built for this test run), for what only a
//! process shows: kill -9, SIGTERM (POSIX signals), a cold start, the CPU it burns (`/proc`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub base: String,
    metrics: String,
    env: Vec<(String, String)>,
    pub log: PathBuf,
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

impl Server {
    /// Starts `oauthd serve` on `database_url` on free ports (API and metrics). Cheap Argon2 and a
    /// 1 s client cache unless `env` says otherwise; `env` comes last, so it wins.
    pub fn spawn(database_url: &str, env: &[(&str, &str)]) -> Server {
        let (addr, metrics) = (free_port(), free_port());
        let mut all: Vec<(String, String)> = [
            ("OAUTHD_DATABASE_URL", database_url.to_string()),
            ("OAUTHD_BIND", addr.to_string()),
            ("OAUTHD_METRICS_BIND", metrics.to_string()),
            ("OAUTHD_ISSUER", format!("http://{addr}")),
            ("OAUTHD_ARGON2_MEMORY_KIB", "1024".into()),
            ("OAUTHD_ARGON2_ITERATIONS", "1".into()),
            ("OAUTHD_CLIENT_CACHE_TTL", "1".into()),
            ("OAUTHD_LOG_FORMAT", "json".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let log = std::env::temp_dir().join(format!("oauthd-faults-{}.log", addr.port()));
        let child = start(&all, &log);
        Server { child, base: format!("http://{addr}"), metrics: format!("http://{metrics}/metrics"), env: all, log }
    }

    /// Starts it again on the same ports and settings, after it exited.
    pub fn respawn(&mut self) {
        self.child = start(&self.env, &self.log);
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether `/readyz` answered 200 within `within`.
    pub async fn ready(&self, within: Duration) -> bool {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
        let started = Instant::now();
        while started.elapsed() < within {
            if http.get(format!("{}/readyz", self.base)).send().await.is_ok_and(|r| r.status() == 200) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid; it has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0, "kill {signal}");
    }

    /// The exit status, if the process ended within `within`.
    pub async fn exited(&mut self, within: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// CPU time the process has used, user and system, in clock ticks (proc(5): fields 14, 15).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after_name = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or_default();
        let fields: Vec<&str> = after_name.split(' ').collect();
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        field(11) + field(12)
    }

    /// The value of the first metrics line that starts with `series` (a name, with labels if any).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = reqwest::get(&self.metrics).await.ok()?.text().await.ok()?;
        text.lines()
            .find(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// The end of its log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }
}

fn start(env: &[(String, String)], log: &PathBuf) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The log stays behind only when the test failed.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
