//! The threads of a running collector and the life of one connection.
//!
//! One acceptor thread hands each accepted connection to a fixed pool of worker threads over
//! a channel; a worker reads one request, applies the fault plan (POSTs only), asks
//! [`crate::api`] for the answer and writes it. Stopping sets a flag, wakes the acceptor with
//! a connection to itself, closes the channel and joins everything: connections already
//! accepted are still answered.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::api::{self, App};
use crate::faults::Fault;
use crate::http::{self, ReadError, Response};
use crate::wire::MAX_BODY_BYTES;

/// How long a client may take to send its request, or to take our answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest body read off the wire: a gzip body slightly larger than the decompressed limit
/// is legitimate (incompressible data grows a little).
const MAX_WIRE_BODY_BYTES: usize = MAX_BODY_BYTES + 64 * 1024;

/// The acceptor and the worker pool.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

/// The address a client on this machine reaches `addr` at (unspecified → loopback).
pub(crate) fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

impl Server {
    /// Binds `listen` and starts the acceptor and `workers` worker threads.
    pub fn start(listen: SocketAddr, app: Arc<App>, workers: usize) -> io::Result<Server> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let (sender, receiver) = mpsc::channel::<TcpStream>();
        let receiver = Arc::new(Mutex::new(receiver));

        let workers = (0..workers.max(1))
            .map(|i| {
                let receiver = Arc::clone(&receiver);
                let app = Arc::clone(&app);
                thread::Builder::new()
                    .name(format!("collector-worker-{i}"))
                    .spawn(move || work(&receiver, &app))
            })
            .collect::<io::Result<Vec<_>>>()?;

        let flag = Arc::clone(&stopping);
        let acceptor = thread::Builder::new()
            .name("collector-acceptor".into())
            .spawn(move || {
                for connection in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    match connection {
                        Ok(stream) => {
                            if sender.send(stream).is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            // Typically out of file descriptors: back off instead of spinning.
                            log::warn!("accept failed: {e}");
                            thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                // Dropping the sender lets the workers drain the queue and exit.
            })?;

        Ok(Server {
            addr,
            stopping,
            acceptor: Some(acceptor),
            workers,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, answers what was already accepted, joins every thread. Idempotent.
    pub fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        // The acceptor is blocked in accept(): one connection wakes it up to see the flag.
        let _ = TcpStream::connect_timeout(&reachable(self.addr), Duration::from_secs(1));
        if acceptor.join().is_err() {
            log::error!("collector acceptor thread panicked");
        }
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                log::error!("collector worker thread panicked");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn work(receiver: &Mutex<Receiver<TcpStream>>, app: &App) {
    loop {
        let next = receiver
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        let Ok(stream) = next else {
            return;
        };
        // A bug in one request must not shrink the pool.
        if panic::catch_unwind(AssertUnwindSafe(|| serve(stream, app))).is_err() {
            log::error!("request handler panicked");
        }
    }
}

/// Writes `response`; a client that went away is not our problem.
fn answer(stream: &TcpStream, response: &Response) {
    if let Err(e) = http::write_response(stream, response) {
        log::debug!("could not write response: {e}");
    }
}

/// Carries out an injected fault instead of the real answer.
fn inject(stream: TcpStream, fault: Fault) {
    match fault {
        Fault::Status500 => answer(&stream, &Response::error(500, "injected fault")),
        Fault::Status429 => answer(
            &stream,
            &Response::error(429, "injected fault: slow down").with_header("Retry-After", "1"),
        ),
        Fault::Drop => http::drop_connection(stream),
    }
}

/// The life of one connection: one request, one answer (or an injected fault).
fn serve(stream: TcpStream, app: &App) {
    // Best effort: without timeouts a stalled client only holds its worker longer.
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);

    let request = match http::read_request(&stream, MAX_WIRE_BODY_BYTES) {
        Ok(request) => request,
        Err(ReadError::Closed) => return,
        Err(ReadError::Io(e)) => {
            log::debug!("connection failed while reading: {e}");
            return;
        }
        Err(ReadError::TimedOut) => {
            return answer(
                &stream,
                &Response::error(408, "request not received in time"),
            )
        }
        Err(ReadError::TooLarge) => {
            return answer(
                &stream,
                &Response::error(413, format!("body exceeds {MAX_WIRE_BODY_BYTES} bytes")),
            )
        }
        Err(ReadError::Malformed(problem)) => {
            return answer(&stream, &Response::error(400, problem))
        }
    };

    // Faults are drawn after the body is read, so a 500/429 is not lost to a TCP reset
    // caused by unread input.
    let is_post = request.method == "POST";
    if is_post {
        if let Some(fault) = app.faults.before_handling() {
            log::info!("injecting {fault:?} before handling");
            return inject(stream, fault);
        }
    }
    let response = api::handle(app, &request);
    if is_post && response.status == 200 {
        if let Some(fault) = app.faults.after_commit() {
            log::info!("injecting {fault:?} after commit");
            return inject(stream, fault);
        }
    }
    answer(&stream, &response);
}
