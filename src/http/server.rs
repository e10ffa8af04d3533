//! The listener (RFC 9112 via hyper): HTTP/1.1 connections with a header read timeout against
//! slow clients, bounded header size and count, a cap on open connections, and a shutdown that
//! first turns the load balancer away (readiness fails, responses carry RFC 9112 §9.6
//! `Connection: close`) before it stops accepting and drains.
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never fires there and a
//! client that trickles its headers (slowloris) holds a connection forever.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// Limits applied to every connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Time a client has to send a complete request head, and to start the next one on a
    /// kept-alive connection.
    pub header_read_timeout: Duration,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Read buffer, which bounds the size of a request head (hyper's minimum is 8 KiB).
    pub max_head_bytes: usize,
    /// How long in-flight requests get to finish once the listener has closed.
    pub drain_timeout: Duration,
    /// Most connections open at once (lowered to what the open-file limit leaves room for).
    pub max_connections: usize,
    /// How long, after the shutdown signal, readiness fails while requests are still served.
    pub shutdown_delay: Duration,
}

impl ConnLimits {
    pub fn from_settings(s: &crate::config::Settings) -> ConnLimits {
        ConnLimits {
            header_read_timeout: Duration::from_secs(s.header_read_timeout),
            max_headers: 64,
            max_head_bytes: 16 * 1024,
            drain_timeout: Duration::from_secs(s.shutdown_grace),
            max_connections: s.max_connections,
            shutdown_delay: Duration::from_secs(s.shutdown_delay),
        }
    }
}

/// Set when the shutdown signal arrives: `/readyz` fails and every response closes its
/// connection. The listener puts it in each request's extensions.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Serves `router` until `shutdown` resolves; then keeps serving for `shutdown_delay` with
/// readiness failing and `Connection: close` on every response; then stops accepting and lets
/// open connections finish their requests for at most `drain_timeout` (idle ones close at once).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_head_bytes.max(8192));
    let graceful = GracefulShutdown::new();
    let draining = Draining::default();
    let mut gate = Gate::new(&listener, limits.max_connections);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut stop = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        tokio::select! {
            biased;
            () = &mut stop, if draining.is_set() => break,
            () = &mut shutdown, if !draining.is_set() => {
                draining.0.store(true, Ordering::Relaxed);
                stop.as_mut().reset((Instant::now() + limits.shutdown_delay).into());
                if !limits.shutdown_delay.is_zero() {
                    tracing::info!(delay_s = limits.shutdown_delay.as_secs(), "draining: /readyz fails and responses close their connections until the listener closes");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Some(slot) = gate.admit(&stream) {
                        let conn = Conn { stream, peer, slot };
                        conn.spawn(&builder, &graceful, &router, &draining);
                    }
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("drain timeout reached; closing remaining connections");
        }
    }
    Ok(())
}

/// One accepted connection, admitted under the cap.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
}

impl Conn {
    /// Serves the connection on its own task. The peer address and the drain flag go into each
    /// request; while draining, each response asks the client to close the connection.
    fn spawn(self, builder: &Builder, graceful: &GracefulShutdown, router: &Router, draining: &Draining) {
        let Conn { stream, peer, slot } = self;
        let _ = stream.set_nodelay(true);
        let (into_request, on_response) = (draining.clone(), draining.clone());
        let svc = router
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req.extensions_mut().insert(into_request.clone());
                req
            })
            .map_response(move |mut resp: Response| {
                if on_response.is_set() {
                    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                resp
            });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc)));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// Descriptors kept free of client connections: the database pool (16 PostgreSQL connections, or
/// 8 SQLite ones with their WAL files), the metrics listener, outgoing key-set fetches, stdio and
/// the runtime's own.
const FD_HEADROOM: usize = 128;

const REFUSAL_BODY: &str =
    r#"{"error":"temporarily_unavailable","error_description":"too many connections; retry later"}"#;

/// The connection cap. A connection over it is accepted, sent a 503 and closed at once, rather
/// than left in the kernel's accept queue: the client (or its load balancer) learns at once and
/// can go elsewhere, the refusal is counted, and the process holds the descriptor for no longer
/// than one write.
struct Gate {
    slots: Arc<Semaphore>,
    cap: usize,
    open: metrics::Gauge,
    refused: metrics::Counter,
    refusal: Vec<u8>,
    warned_at: Option<Instant>,
}

/// One admitted connection: its permit, and its share of `oauthd_connections_open`.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: metrics::Gauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.decrement(1.0);
    }
}

impl Gate {
    fn new(listener: &TcpListener, wanted: usize) -> Gate {
        let cap = connection_cap(wanted);
        let name = listener.local_addr().map_or_else(|_| "unknown".to_string(), |a| a.to_string());
        let refusal = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncache-control: no-store\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{REFUSAL_BODY}",
            REFUSAL_BODY.len()
        );
        Gate {
            slots: Arc::new(Semaphore::new(cap)),
            cap,
            open: metrics::gauge!("oauthd_connections_open", "listener" => name.clone()),
            refused: metrics::counter!("oauthd_connections_refused_total", "listener" => name),
            refusal: refusal.into_bytes(),
            warned_at: None,
        }
    }

    /// A slot for `stream`, or `None` when every one is taken: then the client gets the 503
    /// (without waiting: the send buffer of a new socket is empty) and the stream is dropped.
    fn admit(&mut self, stream: &TcpStream) -> Option<Slot> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            self.open.increment(1.0);
            return Some(Slot { _permit: permit, open: self.open.clone() });
        }
        self.refused.increment(1);
        let _ = stream.try_write(&self.refusal);
        if self.warned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            tracing::warn!(max_connections = self.cap, "connection limit reached; refusing new connections");
            self.warned_at = Some(Instant::now());
        }
        None
    }
}

/// `wanted` connections, or fewer when the open-file limit leaves no room for them. The soft
/// limit is first raised towards `wanted + FD_HEADROOM`, as far as the hard limit allows: the
/// usual soft default of 1024 is there for select(), which tokio does not use.
fn connection_cap(wanted: usize) -> usize {
    let Some(limit) = raise_fd_limit(wanted.saturating_add(FD_HEADROOM)) else { return wanted };
    let cap = cap_within(wanted, limit);
    if cap < wanted {
        tracing::warn!(
            max_connections = wanted,
            open_file_limit = limit,
            "max_connections lowered to {cap}: raise the open-file limit (ulimit -n) for more"
        );
    }
    cap
}

fn cap_within(wanted: usize, fd_limit: usize) -> usize {
    wanted.min(fd_limit.saturating_sub(FD_HEADROOM)).max(1)
}

/// The open-file soft limit after raising it towards `want`, if the platform tells it.
#[cfg(unix)]
fn raise_fd_limit(want: usize) -> Option<usize> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let want = libc::rlim_t::try_from(want).unwrap_or(libc::rlim_t::MAX);
    if lim.rlim_cur < want {
        let raised = libc::rlimit { rlim_cur: want.min(lim.rlim_max), rlim_max: lim.rlim_max };
        // SAFETY: setrlimit only reads the struct it is given; the soft limit stays within the hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    Some(usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX))
}

#[cfg(not(unix))]
fn raise_fd_limit(_want: usize) -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_headroom_under_the_open_file_limit() {
        assert_eq!(cap_within(10_000, 1024), 1024 - FD_HEADROOM);
        assert_eq!(cap_within(100, 1024), 100);
        assert_eq!(cap_within(10_000, 1_048_576), 10_000);
        assert_eq!(cap_within(10_000, 64), 1, "never zero: the server must accept something");
    }
}
