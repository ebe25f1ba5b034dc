//! The local store: one SQLite database per data directory, and every line of
//! SQL in the crate, split by table group: `decisions` (decisions and the
//! purposes seen), `ledger` (the consent ledger's rows), `queue` (partitions
//! and their event tables), `outbox` (upload batches and the endpoints data
//! reached), `deletions` (deletion tickets). `schema` owns the tables and the
//! migrations between versions, `open` what opening a file does (classify,
//! upgrade, verify, probe, set aside), `integrity` the checks SQLite cannot
//! make itself (ledger chain, head marker), `lock` the data directory's lock.
//!
//! This module holds the [`Store`] handle, the one way to write ([`Store::write`]
//! with a [`Txn`]: durable with `synchronous = FULL` for consent, G4) and the
//! `meta` key-value table.
//!
//! Queued records live in one table per *partition*: the set of categories a
//! record needs. Withdrawing a purpose empties whole partitions with an
//! unqualified `DELETE`, which SQLite executes by dropping the table's pages
//! rather than row by row, so the purge (G3) stays cheap however long the queue.

mod copy;
mod decisions;
mod deletions;
pub(crate) mod integrity;
mod keep;
mod ledger;
mod lock;
mod open;
mod outbox;
mod queue;
mod schema;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{
    params, Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior,
};

use crate::consent::{StoreRecovery, StoredDecision};
use crate::error::{Error, Result};
use integrity::Head;
use keep::Carried;
use open::set_aside;

pub(crate) use copy::{copy_data_dir, verdict};
pub(crate) use ledger::{read_ledger, verify_ledger};
pub(crate) use lock::DirLock;
pub use lock::LOCK_FILE;
pub(crate) use open::open_read_only;
pub(crate) use outbox::BatchRow;
pub(crate) use queue::{Partition, PartitionCounts, QueuedRecord};
pub use schema::SCHEMA_VERSION;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "consentgate.db";

/// Why an open attempt failed.
enum OpenFailure {
    /// The file is not a usable consentgate database: set it aside.
    Unusable(String),
    /// The environment failed (permissions, disk): report, touch nothing.
    Fatal(Error),
}

/// The open database.
pub(crate) struct Store {
    pub(super) conn: Connection,
    /// The database file (the head marker sits beside it).
    pub(super) path: PathBuf,
    pub(super) ledger_head: (u64, String),
    pub(super) partitions: Vec<Partition>,
}

/// What opening the store read, handed once to the gate so it is not read again.
pub(crate) struct Loaded {
    pub decisions: HashMap<String, StoredDecision>,
    pub first_seen: HashMap<String, u32>,
    /// Counts per partition id.
    pub counts: HashMap<i64, PartitionCounts>,
    pub max_seq: u64,
}

/// Writes inside one transaction; see [`Store::write`].
pub(crate) struct Txn<'a> {
    pub(super) tx: Transaction<'a>,
    pub(super) head: (u64, String),
    pub(super) partitions: &'a mut Vec<Partition>,
    /// Set by writes the keep file mirrors (tickets, the age signal).
    pub(super) keep_dirty: bool,
}

impl From<rusqlite::Error> for OpenFailure {
    /// The environment's failures (permissions, a read-only or full disk,
    /// I/O errors, locks, memory) leave the file alone; anything else the
    /// file itself causes while it is opened and read (not a database,
    /// corrupt pages, an unknown format, missing or foreign tables, values
    /// of the wrong type) makes it unusable, and it is set aside.
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => {
                OpenFailure::Unusable("the file is not a SQLite database".into())
            }
            Some(ErrorCode::DatabaseCorrupt) => {
                OpenFailure::Unusable("the database file is corrupt".into())
            }
            Some(
                ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::NoLargeFileSupport,
            ) => OpenFailure::Fatal(Error::Sqlite(e)),
            _ => {
                OpenFailure::Unusable(format!("the database cannot be read as consentgate's: {e}"))
            }
        }
    }
}

impl From<Error> for OpenFailure {
    fn from(e: Error) -> Self {
        match e {
            Error::Sqlite(e) => e.into(),
            other => OpenFailure::Fatal(other),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, with what opening it
    /// read. A file that is not a consentgate database is moved aside and a
    /// fresh store opened; the returned [`StoreRecovery`] says so.
    pub fn open(dir: &Path, now_ms: i64) -> Result<(Store, Loaded, Option<StoreRecovery>)> {
        fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        match Store::try_open(&path) {
            Ok((s, loaded)) => Ok((s, loaded, None)),
            Err(OpenFailure::Fatal(e)) => Err(e),
            Err(OpenFailure::Unusable(reason)) => {
                log::warn!(
                    "consentgate: store unusable ({reason}); moved aside, starting fail-closed"
                );
                let (s, loaded, moved_to, carried) =
                    Store::fresh_after_setting_aside(&path, now_ms)?;
                Ok((
                    s,
                    loaded,
                    Some(StoreRecovery {
                        reason,
                        moved_to: moved_to.display().to_string(),
                        deletion_requests_unreadable: carried.tickets_unreadable,
                    }),
                ))
            }
        }
    }

    /// Moves the unusable file at `path` aside and opens a fresh store in
    /// its place, carrying over the deletion tickets and the age signal it
    /// could salvage (see `keep`); returns it, what it read, where the file
    /// went and what was carried.
    fn fresh_after_setting_aside(
        path: &Path,
        now_ms: i64,
    ) -> Result<(Store, Loaded, PathBuf, Carried)> {
        let carried = keep::salvage(path);
        let moved_to = set_aside(path, now_ms)?;
        let (mut fresh, loaded) = match Store::try_open(path) {
            Ok(opened) => opened,
            Err(OpenFailure::Fatal(e)) => return Err(e),
            Err(OpenFailure::Unusable(r)) => {
                return Err(Error::Invalid(format!("fresh store unusable: {r}")))
            }
        };
        fresh.carry_over(&carried)?;
        if !carried.tickets.is_empty() {
            log::warn!(
                "consentgate: {} deletion request(s) carried over to the fresh store",
                carried.tickets.len()
            );
        }
        Ok((fresh, loaded, moved_to, carried))
    }

    /// The partitions that exist.
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    /// The recovery notice kept until the user decides again, if any.
    pub fn recovery(&self) -> Result<Option<StoreRecovery>> {
        Ok(
            match (
                self.meta("store_recovery_reason")?,
                self.meta("store_recovery_moved_to")?,
            ) {
                (Some(reason), Some(moved_to)) => Some(StoreRecovery {
                    reason,
                    moved_to,
                    deletion_requests_unreadable: self
                        .meta("store_recovery_deletions_unreadable")?
                        .is_some_and(|v| v == "true"),
                }),
                _ => None,
            },
        )
    }

    /// Reads a meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Rewrites the head marker for the ledger head now committed. A failure
    /// (a full disk) is logged and otherwise harmless: a marker that lags
    /// the database is accepted at open, only one that runs ahead is not.
    fn write_head(&self) {
        let head = Head {
            seq: self.ledger_head.0,
            hash: self.ledger_head.1.clone(),
        };
        if let Err(e) = integrity::write_head(&self.path, &head) {
            log::warn!("consentgate: ledger head marker not updated: {e}");
        }
    }

    /// Runs `f` in one write transaction and commits it. With `durable` the
    /// commit is fsynced (`synchronous = FULL`): consent writes use it so that
    /// a decision is on disk when the call returns (G4). If `f` or the commit
    /// fails, nothing is written.
    pub fn write<T>(
        &mut self,
        durable: bool,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T>,
    ) -> Result<T> {
        if durable {
            self.conn.pragma_update(None, "synchronous", "FULL")?;
        }
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut txn = Txn {
                tx,
                head: self.ledger_head.clone(),
                partitions: &mut self.partitions,
                keep_dirty: false,
            };
            let out = f(&mut txn)?;
            let (head, keep_dirty) = (txn.head.clone(), txn.keep_dirty);
            txn.tx.commit()?;
            Ok((out, head, keep_dirty))
        })();
        if durable {
            // Back to the group-commit setting; failing to switch only costs speed.
            let _ = self.conn.pragma_update(None, "synchronous", "NORMAL");
        }
        match result {
            Ok((out, head, keep_dirty)) => {
                let moved = head != self.ledger_head;
                self.ledger_head = head;
                if moved {
                    // Only now: the commit is on disk (consent writes are
                    // durable), so the marker never runs ahead of it.
                    self.write_head();
                }
                if keep_dirty {
                    self.write_keep();
                }
                Ok(out)
            }
            Err(e) => {
                // The transaction rolled back: the partitions list may name a
                // table that no longer exists.
                if let Ok(mut stmt) = self
                    .conn
                    .prepare("SELECT id, categories FROM partitions ORDER BY id")
                {
                    if let Ok(rows) = stmt.query_map([], |r| {
                        Ok(Partition {
                            id: r.get(0)?,
                            categories: r.get(1)?,
                        })
                    }) {
                        self.partitions = rows.filter_map(|r| r.ok()).collect();
                    }
                }
                Err(e)
            }
        }
    }
}

/// The `meta` keys of the recovery notice.
const RECOVERY_META: [&str; 3] = [
    "store_recovery_reason",
    "store_recovery_moved_to",
    "store_recovery_deletions_unreadable",
];

/// The `meta` keys the keep file mirrors.
const KEPT_META: [&str; 2] = ["age_years", "parental_consent"];

impl Txn<'_> {
    /// The partitions that exist, including any created in this transaction.
    pub fn partitions(&self) -> Vec<Partition> {
        self.partitions.clone()
    }

    /// Sets a meta value.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.keep_dirty |= KEPT_META.contains(&key);
        self.tx
            .prepare_cached("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
            .execute(params![key, value])?;
        Ok(())
    }

    /// Stores the recovery notice (reported until cleared).
    pub fn set_recovery(&mut self, r: &StoreRecovery) -> Result<()> {
        self.set_meta(RECOVERY_META[0], &r.reason)?;
        self.set_meta(RECOVERY_META[1], &r.moved_to)?;
        if r.deletion_requests_unreadable {
            self.set_meta(RECOVERY_META[2], "true")?;
        }
        Ok(())
    }

    /// Clears the recovery notice (the user has decided again).
    pub fn clear_recovery(&mut self) -> Result<()> {
        for k in RECOVERY_META {
            self.delete_meta(k)?;
        }
        Ok(())
    }

    /// Removes a meta value.
    pub fn delete_meta(&mut self, key: &str) -> Result<()> {
        self.keep_dirty |= KEPT_META.contains(&key);
        self.tx
            .prepare_cached("DELETE FROM meta WHERE key = ?1")?
            .execute([key])?;
        Ok(())
    }

    fn delete_returning(&mut self, sql: &str, args: impl rusqlite::Params) -> Result<(u64, u64)> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let mut rows = stmt.query(args)?;
        let (mut n, mut bytes) = (0u64, 0u64);
        while let Some(r) = rows.next()? {
            n += 1;
            bytes += r.get::<_, i64>(0)? as u64;
        }
        Ok((n, bytes))
    }
}
