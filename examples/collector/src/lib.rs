//! The reference collector of consentgate (SPEC §7): the backend side of the wire protocol
//! (SPEC §5) over SQLite, small enough to run inside a test.
//!
//! ```no_run
//! use consentgate_collector::{Collector, CollectorConfig};
//!
//! let collector = Collector::start(CollectorConfig::new("/tmp/collector.sqlite"))?;
//! // Point the SDK's endpoint at `collector.url()`, upload, then look at the other side:
//! let stats = collector.stats();
//! assert_eq!(stats.duplicates, 0);
//! let info = collector.installation("8d0c…");
//! assert!(!info.deleted);
//! collector.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! This file owns the public surface ([`Collector`], [`CollectorConfig`], [`Stats`],
//! [`InstallationInfo`]); the rest is split by concern: `http` (framing), `server` (threads
//! and connections), `api` (endpoints), `wire` (body checks), `store` (SQLite), `faults`
//! (`--fail-rate`).

#![deny(missing_docs)]

mod api;
mod faults;
mod http;
mod server;
mod store;
mod wire;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Worker threads serving requests, so tests can hit the collector concurrently.
const WORKERS: usize = 4;

/// How to run a [`Collector`].
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    /// Address to listen on; port 0 picks a free port (read it back with [`Collector::addr`]).
    pub listen: SocketAddr,
    /// SQLite database file, created if missing; `":memory:"` keeps everything in memory.
    pub db_path: PathBuf,
    /// Probability in `0.0..=1.0` that a POST fails on purpose (500, 429 or a dropped
    /// connection before handling; 500 or a drop after commit with probability
    /// `fail_rate / 3`). GET requests never fail.
    pub fail_rate: f64,
    /// Seed of the fault stream: the same seed and the same sequence of requests give the
    /// same faults.
    pub seed: u64,
}

impl CollectorConfig {
    /// Listens on `127.0.0.1:0`, stores in `db_path`, injects no faults.
    pub fn new(db_path: impl Into<PathBuf>) -> CollectorConfig {
        CollectorConfig {
            listen: (Ipv4Addr::LOCALHOST, 0).into(),
            db_path: db_path.into(),
            fail_rate: 0.0,
            seed: 0,
        }
    }
}

/// Totals of a collector, as served by `GET /v1/stats`.
///
/// `batches`, `events`, `installations` and `erased_installations` count what is stored
/// now (erasure removes batches and events); `duplicates` and `deletions` are kept in the
/// database; the `injected_*` counters are for this process only.
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

/// A running collector. Stops on [`Collector::shutdown`] or when dropped.
#[derive(Debug)]
pub struct Collector {
    app: Arc<api::App>,
    server: server::Server,
}

fn storage_error(e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("collector database: {e}"))
}

impl Collector {
    /// Opens the database, binds the address and starts serving on a small thread pool.
    ///
    /// Fails on a `fail_rate` outside `0.0..=1.0`, an unusable database (or one written by a
    /// newer collector) or an address that cannot be bound.
    pub fn start(config: CollectorConfig) -> io::Result<Collector> {
        if !(0.0..=1.0).contains(&config.fail_rate) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fail rate {} is not within 0..=1", config.fail_rate),
            ));
        }
        let app = Arc::new(api::App {
            store: store::Store::open(&config.db_path)?,
            faults: faults::Faults::new(config.fail_rate, config.seed),
        });
        let server = server::Server::start(config.listen, Arc::clone(&app), WORKERS)?;
        Ok(Collector { app, server })
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
        self.app.stats().map_err(storage_error)
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
        self.app.store.installation(id).map_err(storage_error)
    }

    /// Stops accepting connections, answers those already accepted and joins the threads.
    pub fn shutdown(mut self) {
        self.server.stop();
    }
}
