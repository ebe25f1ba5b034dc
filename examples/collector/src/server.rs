//! Connections of a running collector: the accept loop, hyper's HTTP/1.1 on each connection,
//! and graceful shutdown. Routes and answers are [`crate::api`]'s.
//!
//! Every connection is a tokio task, so an idle or trickling client costs a little memory and
//! no thread: it can never keep others waiting. Its limits:
//! - the request head must arrive within [`HEAD_DEADLINE`] (also the keep-alive idle limit,
//!   since hyper starts that clock whenever it waits for a head), and is at most
//!   [`MAX_HEAD_BYTES`] long (431 beyond);
//! - its body and its answer have the deadlines of [`crate::api`]; a write making no progress
//!   for [`crate::framing::WRITE_TIMEOUT`] ends the connection;
//! - at most [`MAX_CONNECTIONS`] connections are served at once; more wait in the kernel's
//!   accept queue.
//!
//! Stopping stops accepting, lets every connection finish the request it is in (idle ones
//! close at once), and gives up on what is still running after [`SHUTDOWN_GRACE`].

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::api::{self, DropConnection};
use crate::framing::{Framing, Guarded, MAX_HEAD_BYTES};

/// Longest a client may take to send a request head, or stay idle between requests.
pub(crate) const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 16_384;
/// Longest graceful shutdown waits for requests in progress.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// The address a client on this machine reaches `addr` at (unspecified → loopback).
pub(crate) fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// A running accept loop.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `router` on `listener` (call within the runtime).
    pub fn spawn(listener: TcpListener, router: Router) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, router, stopped));
        Ok(Server {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the connections to finish (see the module doc).
    /// Idempotent; returns at once the second time.
    pub async fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            if task.await.is_err() {
                log::error!("collector accept loop panicked");
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut stopped: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_DEADLINE)
        .max_header_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    loop {
        let slot = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let framing = Arc::new(Framing::default());
        let io = TokioIo::new(Guarded::new(stream, Arc::clone(&framing)));
        let service = ConnectionService {
            router: router.clone(),
            framing,
            requests: Arc::new(AtomicU64::new(0)),
        };
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                log::debug!("connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            log::warn!("shutdown: requests still running after {SHUTDOWN_GRACE:?} were abandoned");
        }
    }
}

/// The error that makes hyper close a connection without answering (an injected drop).
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose (--fail-rate)")
    }
}

impl StdError for Dropped {}

/// One connection's service: refuses requests whose framing [`Framing`] found ambiguous,
/// routes the others and turns [`DropConnection`] answers into dropped connections.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    framing: Arc<Framing>,
    requests: Arc<AtomicU64>,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response;
    type Error = Dropped;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Dropped>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        // hyper serves one request at a time per connection, in order: the n-th call is the
        // n-th head the reader followed.
        let index = self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(why) = self.framing.refusal(index) {
            let mut response = api::error(StatusCode::BAD_REQUEST, why);
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Box::pin(async move { Ok(response) });
        }
        let router = self.router.clone();
        Box::pin(async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(infallible) => match infallible {},
            };
            if response.extensions().get::<DropConnection>().is_some() {
                return Err(Dropped);
            }
            Ok(response)
        })
    }
}
