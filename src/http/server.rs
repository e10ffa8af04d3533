//! The listener (RFC 9112 via hyper): HTTP/1.1 connections with a header read timeout against slow clients, bounded header size and count, and graceful shutdown.
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never fires there and a
//! client that trickles its headers (slowloris) holds a connection forever.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
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
    /// How long in-flight requests get to finish after a shutdown signal.
    pub drain_timeout: Duration,
}

impl ConnLimits {
    pub fn from_settings(s: &crate::config::Settings) -> ConnLimits {
        ConnLimits {
            header_read_timeout: Duration::from_secs(s.header_read_timeout),
            max_headers: 64,
            max_head_bytes: 16 * 1024,
            drain_timeout: Duration::from_secs(s.shutdown_grace),
        }
    }
}

/// Serves `router` until `shutdown` resolves, then stops accepting and lets open connections
/// finish their requests for at most `drain_timeout`.
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
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = router.clone().map_request(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc)));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
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
