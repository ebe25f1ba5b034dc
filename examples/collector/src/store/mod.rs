//! Everything the collector keeps, behind one interface ([`Engine`]) with two engines: SQLite
//! ([`sqlite`], embedded, the default) and PostgreSQL ([`postgres`], for several collector
//! nodes sharing one database). This module owns the interface and the values crossing it; each
//! engine owns its schema, its migrations and every SQL statement it runs. Nothing outside
//! `store/` writes SQL.
//!
//! What every engine guarantees, whichever node of a collector is asked:
//! - a `batch_id` is stored at most once — the database enforces it (a unique key), not a
//!   node's memory — and a repeat only bumps the duplicate counter;
//! - a deletion request erases, in one transaction, every batch and event of its installation
//!   ids and of every installation that sent its `user_id`, records the erasure, and keeps the
//!   first receipt issued for its `request_id`, which every later repeat gets back;
//! - erasing N ids costs one set-based statement per table, not N;
//! - totals and per-installation counts are read from the database.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use crate::wire::{Batch, Deletion};
use crate::{Database, InstallationInfo};

/// A boxed future, so that engines can sit behind `dyn Engine`.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage failure: the engine and what went wrong (never an id or a payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<StoreError> for io::Error {
    fn from(e: StoreError) -> io::Error {
        io::Error::other(e.0)
    }
}

/// What storing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOutcome {
    /// New `batch_id`: the batch and this many events were stored.
    Accepted { events: usize },
    /// The `batch_id` was already stored; nothing changed but the duplicate counter.
    Duplicate,
}

/// What a deletion request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletionOutcome {
    /// The receipt of this `request_id` — the first one ever issued for it.
    pub receipt_id: String,
    /// Whether the request had been processed before (nothing was erased this time).
    pub repeated: bool,
}

/// Totals of what is stored now, plus the persistent duplicate counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StoredCounts {
    /// Batches stored.
    pub batches: u64,
    /// Events stored.
    pub events: u64,
    /// Duplicate batches received, ever.
    pub duplicates: u64,
    /// Distinct deletion requests processed.
    pub deletions: u64,
    /// Distinct installation ids with stored batches.
    pub installations: u64,
    /// Distinct installation ids ever erased.
    pub erased_installations: u64,
}

/// One storage engine. Every method is one transaction.
pub(crate) trait Engine: Send + Sync + fmt::Debug {
    /// Stores `batch` and its events unless its `batch_id` is already stored.
    fn store_batch(
        &self,
        batch: Batch,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<BatchOutcome, StoreError>>;

    /// Processes a deletion request (see the module doc); `new_receipt_id` is used only if
    /// the `request_id` was never processed.
    fn erase(
        &self,
        request: Deletion,
        new_receipt_id: String,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<DeletionOutcome, StoreError>>;

    /// Totals over the whole database.
    fn counts(&self) -> BoxFuture<'_, Result<StoredCounts, StoreError>>;

    /// What is stored for one installation id (all zero for an unknown one).
    fn installation(&self, id: String) -> BoxFuture<'_, Result<InstallationInfo, StoreError>>;

    /// Finishes the work already handed over and releases the database. Later calls fail.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The engine of a running collector.
pub(crate) type Store = Arc<dyn Engine>;

/// Opens (creating and migrating as needed) the database `db` names.
pub(crate) async fn open(db: &Database) -> io::Result<Store> {
    match db {
        Database::Sqlite(path) => {
            let path: PathBuf = path.clone();
            let engine = sqlite::SqliteEngine::open(&path)?;
            Ok(Arc::new(engine))
        }
        Database::Postgres(url) => {
            let engine = postgres::PostgresEngine::open(url).await?;
            Ok(Arc::new(engine))
        }
    }
}
