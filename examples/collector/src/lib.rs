//! The reference collector of consentgate (SPEC §7): the backend side of the wire protocol
//! (SPEC §5), strict to its own `openapi.json`, over SQLite (one node) or PostgreSQL (any
//! number of nodes sharing one database), small enough to run inside a test.
//!
//! ```no_run
//! use consentgate_collector::{Collector, CollectorConfig};
//!
//! let collector = Collector::start(CollectorConfig::new("/tmp/collector.sqlite"))?;
//! // Point the SDK's endpoint at `collector.url()`, upload, then look at the other side:
//! let stats = collector.stats();
//! assert_eq!(stats.duplicates, 0);
//! let info = collector.installation("8d0c2d4e-6f1a-4b7c-9e3d-2a1b0c9d8e7f");
//! assert!(!info.deleted);
//! collector.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! This file owns the public surface ([`Collector`], [`CollectorConfig`], [`Database`],
//! [`Stats`], [`InstallationInfo`]) and the tokio runtime a collector runs on; the rest is
//! split by concern: `server` (connections, hyper, shutdown), `framing` (what hyper lets
//! through that RFC 9112 refuses, write deadlines), `api` (routes, headers, limits), `wire`
//! (body checks), `store` (the storage interface and its SQLite and PostgreSQL engines),
//! `faults` (`--fail-rate`).

#![deny(missing_docs)]

mod api;
mod faults;
mod framing;
mod server;
mod store;
mod wire;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where a collector keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file, created if missing; `":memory:"` keeps everything in memory. One
    /// collector process per file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host:5432/db`, or
    /// `postgres://user@/db?host=/run/postgresql` for a Unix socket). Any number of
    /// collector processes may share the database.
    Postgres(String),
}

impl Database {
    /// Reads a `--db` value: `postgres://…` or `postgresql://…` is PostgreSQL, `sqlite:FILE`
    /// or any other text an SQLite file.
    pub fn parse(value: &str) -> Database {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Database::Postgres(value.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(
                value.strip_prefix("sqlite:").unwrap_or(value),
            ))
        }
    }
}

impl FromStr for Database {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Database, Self::Err> {
        Ok(Database::parse(value))
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Database {
        Database::Sqlite(path)
    }
}

/// A URL with its password replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = &rest[..at];
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f.debug_tuple("Postgres").field(&redact(url)).finish(),
        }
    }
}

/// How to run a [`Collector`].
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    /// Address to listen on; port 0 picks a free port (read it back with [`Collector::addr`]).
    pub listen: SocketAddr,
    /// Where the data is kept.
    pub db: Database,
    /// Probability in `0.0..=1.0` that a POST fails on purpose (500, 429 or a dropped
    /// connection before handling; 500 or a drop after commit with probability
    /// `fail_rate / 3`). GET requests never fail.
    pub fail_rate: f64,
    /// Seed of the fault stream: the same seed and the same sequence of requests give the
    /// same faults.
    pub seed: u64,
}

impl CollectorConfig {
    /// Listens on `127.0.0.1:0`, stores in the SQLite file `db_path`, injects no faults.
    pub fn new(db_path: impl Into<PathBuf>) -> CollectorConfig {
        CollectorConfig::with_database(Database::Sqlite(db_path.into()))
    }

    /// Listens on `127.0.0.1:0`, stores in `db`, injects no faults.
    pub fn with_database(db: Database) -> CollectorConfig {
        CollectorConfig {
            listen: (Ipv4Addr::LOCALHOST, 0).into(),
            db,
            fail_rate: 0.0,
            seed: 0,
        }
    }
}

/// Totals of a collector, as served by `GET /v1/stats`.
///
/// `batches`, `events`, `installations` and `erased_installations` count what is stored
/// now (erasure removes batches and events); `duplicates` and `deletions` are kept in the
/// database — all of these are the same whichever node of a PostgreSQL collector is asked;
/// the `injected_*` counters are for this process only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Batches stored.
    pub batches: u64,
    /// Events stored.
    pub events: u64,
    /// Batches received again under a stored `batch_id` (answered `duplicate`, not stored).
    pub duplicates: u64,
    /// Distinct deletion requests processed (repeats of a `request_id` are not counted).
    pub deletions: u64,
    /// Distinct installation ids with stored batches.
    pub installations: u64,
    /// Distinct installation ids ever erased.
    pub erased_installations: u64,
    /// Injected `500` answers (before handling or after commit).
    pub injected_500: u64,
    /// Injected `429` answers (always before handling).
    pub injected_429: u64,
    /// Injected dropped connections (before handling or after commit).
    pub injected_drop: u64,
    /// Of the injected 500s and drops, those that happened after the request was stored.
    pub injected_after_commit: u64,
}

/// What the collector holds about one installation id, as served by
/// `GET /v1/installations/{id}`. An id never seen is all zeros and not deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationInfo {
    /// The id asked about.
    pub installation_id: String,
    /// Events stored for it now.
    pub events: u64,
    /// Batches stored for it now.
    pub batches: u64,
    /// Whether a deletion request ever erased it. Batches received after the erasure are
    /// accepted and counted above (a new life), and the flag stays set.
    pub deleted: bool,
    /// How many deletion requests erased it.
    pub erasures: u64,
}

/// A running collector. Stops gracefully on [`Collector::shutdown`] or when dropped.
#[derive(Debug)]
pub struct Collector {
    app: Arc<api::App>,
    server: server::Server,
    runtime: Option<tokio::runtime::Runtime>,
}

/// Runs `future` to completion on `runtime`, also from a thread that is itself inside a tokio
/// runtime (where `block_on` would panic): there, on a helper thread.
fn block_on<F>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return runtime.block_on(future);
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| runtime.block_on(future))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Threads serving requests: one per core, at least two so that one slow request (a large
/// deletion) never holds every thread.
fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .max(2)
}

impl Collector {
    /// Opens (and migrates) the database, binds the address and starts serving.
    ///
    /// Fails on a `fail_rate` outside `0.0..=1.0`, an unusable database (or one written by a
    /// newer collector), a PostgreSQL server that cannot be reached, or an address that
    /// cannot be bound.
    pub fn start(config: CollectorConfig) -> io::Result<Collector> {
        if !(0.0..=1.0).contains(&config.fail_rate) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fail rate {} is not within 0..=1", config.fail_rate),
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads())
            .thread_name("collector")
            .enable_all()
            .build()?;
        let (app, server) = block_on(&runtime, async {
            let store = store::open(&config.db).await?;
            let app = Arc::new(api::App::new(
                store,
                faults::Faults::new(config.fail_rate, config.seed),
            ));
            let bound = tokio::net::TcpListener::bind(config.listen).await;
            let listener = match bound {
                Ok(listener) => listener,
                Err(e) => {
                    app.store.close().await;
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot listen on {}: {e}", config.listen),
                    ));
                }
            };
            let server = server::Server::spawn(listener, api::router(Arc::clone(&app)))?;
            Ok::<_, io::Error>((app, server))
        })?;
        Ok(Collector {
            app,
            server,
            runtime: Some(runtime),
        })
    }

    /// The bound address (with the real port when `listen` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The base URL to configure as the SDK's endpoint, e.g. `http://127.0.0.1:40123`
    /// (an unspecified listen address is given as loopback).
    pub fn url(&self) -> String {
        format!("http://{}", server::reachable(self.addr()))
    }

    fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the collector");
        block_on(runtime, future)
    }

    /// Current totals.
    ///
    /// # Panics
    /// If the database cannot be read: a test must not mistake that for "nothing stored".
    /// Use [`Collector::try_stats`] to handle it instead.
    pub fn stats(&self) -> Stats {
        self.try_stats()
            .unwrap_or_else(|e| panic!("cannot read collector stats: {e}"))
    }

    /// Current totals, or the storage error.
    pub fn try_stats(&self) -> io::Result<Stats> {
        self.run(self.app.stats()).map_err(io::Error::from)
    }

    /// What is stored for installation `id`.
    ///
    /// # Panics
    /// If the database cannot be read (see [`Collector::stats`]); use
    /// [`Collector::try_installation`] to handle it instead.
    pub fn installation(&self, id: &str) -> InstallationInfo {
        self.try_installation(id)
            .unwrap_or_else(|e| panic!("cannot read collector installation: {e}"))
    }

    /// What is stored for installation `id`, or the storage error.
    pub fn try_installation(&self, id: &str) -> io::Result<InstallationInfo> {
        self.run(self.app.store.installation(id.to_owned()))
            .map_err(io::Error::from)
    }

    /// Serves until the process receives SIGTERM or SIGINT (Ctrl-C), then shuts down
    /// gracefully (see [`Collector::shutdown`]). `ready` runs once the signal handlers are in
    /// place, so a script that waits for what it prints may signal at once.
    pub fn serve_until_signal(self, ready: impl FnOnce(&Collector)) -> io::Result<()> {
        let signals = self.run(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                Ok::<_, io::Error>((
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::interrupt())?,
                ))
            }
            #[cfg(not(unix))]
            {
                Ok::<_, io::Error>(())
            }
        })?;
        ready(&self);
        #[cfg(unix)]
        {
            let (mut terminate, mut interrupt) = signals;
            let which = self.run(async {
                tokio::select! {
                    _ = terminate.recv() => "SIGTERM",
                    _ = interrupt.recv() => "SIGINT",
                }
            });
            log::warn!("{which}: shutting down");
        }
        #[cfg(not(unix))]
        {
            let () = signals;
            self.run(async {
                let _ = tokio::signal::ctrl_c().await;
            });
        }
        self.shutdown();
        Ok(())
    }

    /// Stops accepting connections, lets requests in progress finish (each within the request
    /// deadlines; the wait is bounded), closes idle keep-alive connections, then waits until
    /// everything answered is in the database and releases it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let app = Arc::clone(&self.app);
        let server = &mut self.server;
        block_on(&runtime, async move {
            server.stop().await;
            app.store.close().await;
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_values_name_their_engine() {
        assert_eq!(
            Database::parse("collector.sqlite"),
            Database::Sqlite("collector.sqlite".into())
        );
        assert_eq!(
            Database::parse("sqlite:/tmp/c.db"),
            Database::Sqlite("/tmp/c.db".into())
        );
        assert_eq!(
            Database::parse("postgres://u@h/db"),
            Database::Postgres("postgres://u@h/db".into())
        );
        assert!(matches!(
            Database::parse("postgresql://h/db"),
            Database::Postgres(_)
        ));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let db = Database::parse("postgres://app:s3cret@db.example:5432/collector?sslmode=x");
        let shown = format!("{db:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("app:***@db.example:5432/collector"),
            "{shown}"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u:***@h/db");
    }
}
