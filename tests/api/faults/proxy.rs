//! A TCP proxy between the oauthd instances and PostgreSQL that injects the faults of a real
//! network (issue 13): pass, delay every chunk each way, black-hole, cut (a database restart)
//! and reset.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

/// What the link does to the bytes that cross it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Every chunk is delivered this long after it was read, in each direction (latency, not
    /// bandwidth: chunks in flight overlap, as packets do on a slow link).
    Delay(Duration),
    /// Connections are accepted and kept, but nothing is forwarded until the mode changes: the
    /// bytes wait, as TCP retransmits do across a partition that heals.
    BlackHole,
    /// New connections are closed at once, as by a database that is restarting.
    Down,
}

#[derive(Clone, Copy, Debug)]
enum Kill {
    /// FIN: the connection ends as a stopping server ends it.
    Close,
    /// RST (SO_LINGER 0): the connection is torn down, as by a crash or a middlebox.
    Reset,
}

pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    kill: broadcast::Sender<Kill>,
    accepted: Arc<AtomicU64>,
    accept_loop: tokio::task::AbortHandle,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target` (`host:port`).
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, _) = watch::channel(Mode::Pass);
        let (kill, _) = broadcast::channel(16);
        let accepted = Arc::new(AtomicU64::new(0));
        let (m, k, a, target) = (mode.clone(), kill.clone(), accepted.clone(), target.to_string());
        let accept_loop = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::Relaxed);
                let _ = inbound.set_nodelay(true);
                tokio::spawn(relay(inbound, target.clone(), m.subscribe(), k.subscribe()));
            }
        });
        Proxy { port, mode, kill, accepted, accept_loop: accept_loop.abort_handle() }
    }

    /// `database_url` with its port replaced by the proxy's.
    pub fn url_for(&self, database_url: &str) -> String {
        let mut u = url::Url::parse(database_url).unwrap();
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// A database restart: every connection is closed and new ones are refused until `set`.
    pub fn cut(&self) {
        self.set(Mode::Down);
        let _ = self.kill.send(Kill::Close);
    }

    /// Tears down every open connection with a RST; new connections are served as before.
    pub fn reset(&self) {
        let _ = self.kill.send(Kill::Reset);
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

async fn relay(
    mut inbound: TcpStream,
    target: String,
    mode: watch::Receiver<Mode>,
    mut kill: broadcast::Receiver<Kill>,
) {
    if *mode.borrow() == Mode::Down {
        return;
    }
    // A black hole swallows the connection attempt too: nothing reaches PostgreSQL until it ends.
    let connect = async {
        let _ = mode.clone().wait_for(|m| *m != Mode::BlackHole).await;
        TcpStream::connect(&target).await.ok()
    };
    let mut outbound = tokio::select! {
        o = connect => match o {
            Some(o) => o,
            None => return,
        },
        k = kill.recv() => return end(&inbound, None, k),
    };
    let _ = outbound.set_nodelay(true);
    let ended = {
        let (ir, iw) = inbound.split();
        let (or, ow) = outbound.split();
        tokio::select! {
            _ = async { tokio::join!(pump(ir, ow, mode.clone()), pump(or, iw, mode.clone())) } => None,
            k = kill.recv() => Some(k),
        }
    };
    if let Some(k) = ended {
        end(&inbound, Some(&outbound), k);
    }
}

/// Before the streams drop: a reset sets SO_LINGER 0, so that closing sends a RST. (Deprecated
/// because a non-zero linger blocks the dropping thread; a zero one never does.)
#[allow(deprecated)]
fn end(inbound: &TcpStream, outbound: Option<&TcpStream>, kill: Result<Kill, broadcast::error::RecvError>) {
    if let Ok(Kill::Reset) = kill {
        let _ = inbound.set_linger(Some(Duration::ZERO));
        if let Some(o) = outbound {
            let _ = o.set_linger(Some(Duration::ZERO));
        }
    }
}

/// Copies one direction, each chunk delivered after the mode's delay and never while black-holed.
async fn pump(mut from: ReadHalf<'_>, mut to: WriteHalf<'_>, mode: watch::Receiver<Mode>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let mut read_mode = mode.clone();
    let read = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if read_mode.wait_for(|m| *m != Mode::BlackHole).await.is_err() {
                return;
            }
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let delay = match *read_mode.borrow() {
                Mode::Delay(d) => d,
                _ => Duration::ZERO,
            };
            if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    };
    let mut write_mode = mode;
    let write = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if write_mode.wait_for(|m| *m != Mode::BlackHole).await.is_err() || to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

/// Writes a ping and reads it back; the round trip's time.
async fn round_trip(c: &mut TcpStream) -> std::io::Result<Duration> {
    let started = Instant::now();
    c.write_all(b"ping").await?;
    let mut got = [0u8; 4];
    c.read_exact(&mut got).await?;
    assert_eq!(&got, b"ping");
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_delays_holds_and_cuts_what_crosses_it() {
    // An echo server stands in for PostgreSQL.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = echo.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = c.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let proxy = Proxy::start(&target).await;
    let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
    round_trip(&mut c).await.unwrap();
    proxy.set(Mode::Delay(Duration::from_millis(100)));
    let rtt = round_trip(&mut c).await.unwrap();
    assert!(rtt >= Duration::from_millis(200), "100 ms each way: {rtt:?}");
    proxy.set(Mode::BlackHole);
    let held = tokio::time::timeout(Duration::from_millis(300), round_trip(&mut c)).await;
    assert!(held.is_err(), "nothing crosses a black hole");
    proxy.set(Mode::Pass);
    let mut got = [0u8; 4];
    c.read_exact(&mut got).await.unwrap(); // what the black hole held arrives once it ends
    proxy.reset();
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(2), c.read_to_end(&mut rest)).await.unwrap();
    assert!(r.is_err() || rest.is_empty(), "the connection was reset");
    let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
    round_trip(&mut c).await.unwrap();
    proxy.cut();
    let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(2), c.read_to_end(&mut rest)).await.unwrap();
    assert!(r.is_err() || rest.is_empty(), "a cut link refuses new connections");
    assert_eq!(proxy.accepted(), 3);
}
