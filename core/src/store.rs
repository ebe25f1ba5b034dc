//! The local store: one SQLite database per data directory, and every line of
//! SQL in the crate. Owns the schema (versioned by `PRAGMA user_version`, one
//! `upgrade_from` step per version), the file's permissions (0600), recovery of
//! a corrupt or foreign file (moved aside as `<name>.corrupt-<ms>`, replaced by
//! a fresh, fail-closed store), durable consent transactions (`synchronous =
//! FULL`, G4), and the event queue tables.
//!
//! Queued records live in one table per *partition*: the set of categories a
//! record needs. Withdrawing a purpose empties whole partitions with an
//! unqualified `DELETE`, which SQLite executes by dropping the table's pages
//! rather than row by row, so the purge (G3) stays cheap however long the queue.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};

use crate::consent::{ConsentSource, ConsentStatus, PromptReason, StoreRecovery, StoredDecision};
use crate::error::{Error, Result};
use crate::integrity::{self, Head, LedgerScan, HEAD_SUFFIX};
use crate::ledger::{Anchor, Canonical, ChainCheck, LedgerCheck, LedgerEntry};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "consentgate.db";

/// Ledgers at least this long are verified at open in two halves at once.
const SPLIT_LEDGER_SCAN_AT: u64 = 2048;

/// The schema version this code writes. A newer file is not ours to touch.
const SCHEMA_VERSION: i64 = 2;

/// A queued record waiting in memory or on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueuedRecord {
    pub seq: u64,
    pub ts_ms: i64,
    pub name: String,
    pub props: Option<String>,
}

impl QueuedRecord {
    /// Size charged against `max_queue_bytes`.
    pub fn bytes(&self) -> u64 {
        (self.name.len() + self.props.as_ref().map_or(0, |p| p.len()) + 16) as u64
    }
}

/// An upload batch: a range of one partition's records under a stable id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchRow {
    pub batch_id: String,
    pub partition: i64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Base URL of the endpoint it goes to.
    pub endpoint: String,
    pub created_ms: i64,
    pub attempts: u32,
    pub next_attempt_ms: i64,
}

/// A deletion request as stored; never evicted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletionRow {
    pub request_id: String,
    pub created_ms: i64,
    pub installation_ids: Vec<String>,
    pub user_id: Option<String>,
    pub reason: Option<String>,
    /// Every endpoint the request goes to.
    pub endpoints: Vec<String>,
    /// Endpoints that have not acknowledged yet.
    pub pending_endpoints: Vec<String>,
    pub policy_id: String,
    pub revision: u32,
    /// `pending`, `acknowledged` or `failed`.
    pub status: String,
    pub receipt_id: Option<String>,
    pub receipt_status: Option<String>,
    pub failed_status: Option<u16>,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    /// 2xx replies without a receipt from the current endpoint.
    pub receiptless: u32,
}

const BATCH_COLUMNS: &str =
    "batch_id, partition, first_seq, last_seq, endpoint, created_ms, attempts, next_attempt_ms";

fn batch_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchRow> {
    Ok(BatchRow {
        batch_id: r.get(0)?,
        partition: r.get(1)?,
        first_seq: r.get::<_, i64>(2)? as u64,
        last_seq: r.get::<_, i64>(3)? as u64,
        endpoint: r.get(4)?,
        created_ms: r.get(5)?,
        attempts: r.get::<_, i64>(6)? as u32,
        next_attempt_ms: r.get(7)?,
    })
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// Counts of one partition's table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PartitionCounts {
    pub events: u64,
    pub bytes: u64,
    pub oldest_ms: Option<i64>,
}

/// A partition: the categories its records need, and its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    pub id: i64,
    /// Category ids joined by `,`, sorted.
    pub categories: String,
}

impl Partition {
    fn table(&self) -> String {
        format!("events_{}", self.id)
    }
}

/// Why an open attempt failed.
enum OpenFailure {
    /// The file is not a usable consentgate database: set it aside.
    Unusable(String),
    /// The environment failed (permissions, disk): report, touch nothing.
    Fatal(Error),
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

/// The open database.
pub(crate) struct Store {
    conn: Connection,
    /// The database file (the head marker sits beside it).
    path: PathBuf,
    ledger_head: (u64, String),
    partitions: Vec<Partition>,
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
    tx: Transaction<'a>,
    head: (u64, String),
    partitions: &'a mut Vec<Partition>,
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
                let (s, loaded, moved_to) = Store::fresh_after_setting_aside(&path, now_ms)?;
                let moved_to = moved_to.display().to_string();
                Ok((s, loaded, Some(StoreRecovery { reason, moved_to })))
            }
        }
    }

    /// Moves the unusable file at `path` aside and opens a fresh store in
    /// its place; returns it, what it read, and where the file went.
    fn fresh_after_setting_aside(path: &Path, now_ms: i64) -> Result<(Store, Loaded, PathBuf)> {
        let moved_to = set_aside(path, now_ms)?;
        match Store::try_open(path) {
            Ok((s, loaded)) => Ok((s, loaded, moved_to)),
            Err(OpenFailure::Fatal(e)) => Err(e),
            Err(OpenFailure::Unusable(r)) => {
                Err(Error::Invalid(format!("fresh store unusable: {r}")))
            }
        }
    }

    fn try_open(path: &Path) -> std::result::Result<(Store, Loaded), OpenFailure> {
        if path.is_dir() {
            return Err(OpenFailure::Unusable(
                "a directory stands where the database file should be".into(),
            ));
        }
        if !path.exists() {
            if let Some(problem) = integrity::fresh_problem(path) {
                return Err(OpenFailure::Unusable(problem));
            }
        }
        let header = read_header(path).map_err(|e| OpenFailure::Fatal(e.into()))?;
        if !header.is_empty() && !header.starts_with(b"SQLite format 3\0") {
            return Err(OpenFailure::Unusable(
                "the file is not a SQLite database".into(),
            ));
        }
        if let Some(problem) = integrity::header_problem(&header) {
            return Err(OpenFailure::Unusable(problem));
        }
        create_private(path).map_err(|e| OpenFailure::Fatal(e.into()))?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Classify the file (version, schema) before writing anything to
        // it: a file set aside for that is kept exactly as it was found. The
        // checks of its contents (`load_caches`) come after the switch to WAL
        // and any upgrade, so a file set aside for those may differ in the
        // header fields those rewrite.
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < 0 {
            return Err(OpenFailure::Unusable(format!(
                "schema version {version} is not one consentgate writes"
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(OpenFailure::Unusable(format!(
                "schema version {version} is newer than this consentgate understands ({SCHEMA_VERSION})"
            )));
        }
        let objects: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if version == 0 && objects > 0 {
            return Err(OpenFailure::Unusable(
                "the database belongs to another application".into(),
            ));
        }
        // Before anything is written: the tables of the version it claims.
        check_schema(&conn, version)?;
        if objects == 0 {
            if let Some(problem) = integrity::fresh_problem(path) {
                return Err(OpenFailure::Unusable(problem));
            }
        }
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("consentgate: journal_mode is {mode}, not wal");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        // The tables an upgrade adds are made from TABLES: no check needed.
        for v in version..SCHEMA_VERSION {
            upgrade_from(&conn, v)?;
        }
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            ledger_head: (0, String::new()),
            partitions: Vec::new(),
        };
        let loaded = store.load_caches()?;
        Ok((store, loaded))
    }

    /// Reads what is cached in memory, touching every table so a damaged
    /// page is found now, at open, rather than later; returns what the gate
    /// needs of it.
    fn load_caches(&mut self) -> std::result::Result<Loaded, OpenFailure> {
        let anchor = self.ledger_anchor()?;
        self.ledger_head = self
            .conn
            .query_row(
                "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
            )
            .optional()?
            .unwrap_or_else(|| (anchor.seq, anchor.hash.clone()));
        let mut stmt = self
            .conn
            .prepare("SELECT id, categories FROM partitions ORDER BY id")?;
        self.partitions = stmt
            .query_map([], |r| {
                Ok(Partition {
                    id: r.get(0)?,
                    categories: r.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        for table in [
            "meta",
            "decisions",
            "purposes_seen",
            "batches",
            "deletions",
            "endpoints_used",
        ] {
            let _: i64 =
                self.conn
                    .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        }
        // Everything open() needs, read here once, so that damage is
        // classified (and the file set aside) now rather than failing later.
        self.deletions()?;
        self.pending_batch()?;
        // Every meta value is read as text somewhere later: read them all now.
        let mut stmt = self.conn.prepare("SELECT key, value FROM meta")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            row?;
        }
        drop(stmt);
        // The ledger is verified and the decisions checked against it, and
        // both against the head marker (see `integrity`), before anything is
        // trusted. The ledger and the queue are the long reads of open: a
        // long ledger's first half is scanned on a second, read-only
        // connection while this one counts the queue and scans the rest.
        let marker = integrity::read_head(&self.path);
        let split = if self.ledger_head.0.saturating_sub(anchor.seq) >= SPLIT_LEDGER_SCAN_AT {
            self.conn
                .query_row(
                    "SELECT seq, hash FROM ledger WHERE seq <= ?1 ORDER BY seq DESC LIMIT 1",
                    // Any split point reads every row once, in the same
                    // order as one scan would; this one halves a sound ledger.
                    [(anchor.seq + (self.ledger_head.0 - anchor.seq) / 2) as i64],
                    |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
                )
                .optional()?
        } else {
            None
        };
        let (counts, scan) = match split {
            None => {
                let counts = self.all_partition_counts()?;
                let mut scan = LedgerScan::new(&anchor, marker.clone());
                each_ledger_entry(&self.conn, None, None, |c, p, h| scan.push(c, p, h))?;
                (counts, scan)
            }
            Some((mid, mid_hash)) => {
                let path = &self.path;
                let first_half = || {
                    let conn = Connection::open_with_flags(
                        path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    let mut scan = LedgerScan::new(&anchor, marker.clone());
                    each_ledger_entry(&conn, None, Some(mid), |c, p, h| scan.push(c, p, h))
                        .map(|()| scan)
                };
                let second_half = || {
                    let counts = self.all_partition_counts()?;
                    let from = Anchor {
                        seq: mid,
                        hash: mid_hash.clone(),
                    };
                    let mut scan = LedgerScan::new(&from, marker.clone());
                    each_ledger_entry(&self.conn, Some(mid), None, |c, p, h| scan.push(c, p, h))
                        .map(|()| (counts, scan))
                };
                let (first, second) = std::thread::scope(|s| {
                    match std::thread::Builder::new()
                        .name("consentgate-open".into())
                        .spawn_scoped(s, first_half)
                    {
                        Ok(t) => {
                            let second = second_half();
                            let first = t.join().unwrap_or_else(|_| {
                                Err(Error::Invalid("the ledger scan panicked".into()))
                            });
                            (first, second)
                        }
                        // No thread to be had: one after the other.
                        Err(_) => (first_half(), second_half()),
                    }
                });
                let (counts, second) = second?;
                (counts, first?.then(second))
            }
        };
        let decisions = self.decisions()?;
        let head = Head {
            seq: self.ledger_head.0,
            hash: self.ledger_head.1.clone(),
        };
        scan.finish(&decisions, &head, &anchor)
            .map_err(OpenFailure::Unusable)?;
        self.probe_writes()?;
        if head.seq > 0 && marker.as_ref() != Some(&head) {
            self.write_head();
        }
        Ok(Loaded {
            decisions,
            first_seen: self.first_seen()?,
            counts,
            max_seq: self.max_seq()?,
        })
    }

    /// Makes the writes a consent change makes — rewrite the stored
    /// decisions and settings, append to the ledger, allocate pages and free
    /// them again — in a transaction that is rolled back, so the file stays
    /// as it was. Some damage (header fields, the free-page list, a page
    /// only read when a row is appended) SQLite notices only when writing:
    /// found here, the file is set aside at open instead of refusing the
    /// user's next decision.
    ///
    /// A store the environment makes read-only (a read-only directory or
    /// file) cannot be probed: it opens as before, readable, and its writes
    /// fail with `Storage`. (A header that makes SQLite open the file
    /// read-only was rejected earlier, by [`integrity::header_problem`].)
    fn probe_writes(&self) -> std::result::Result<(), OpenFailure> {
        let probe = self.conn.unchecked_transaction().and_then(|tx| {
            tx.execute_batch(
                "UPDATE meta SET value = value;
                 UPDATE decisions SET status = status;
                 INSERT INTO ledger(seq, txn, at_ms, purpose, status, source, policy_id, revision, \
                     policy_hash, app_version, region, installation_id, prev_hash, hash) \
                     SELECT coalesce(max(seq), 0) + 1, 0, 0, '', '', '', '', 0, '', '', NULL, '', '', '' \
                     FROM ledger;
                 CREATE TABLE consentgate_probe(x BLOB);
                 INSERT INTO consentgate_probe VALUES (zeroblob(16384));
                 DROP TABLE consentgate_probe;",
            )?;
            tx.rollback()
        });
        match probe {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ReadOnly) => {
                log::info!("consentgate: store is read-only here; writes will fail");
                Ok(())
            }
            other => Ok(other?),
        }
    }

    /// Replaces a store found damaged while writing: closes it, moves the
    /// file aside as open would, and opens a fresh one in its place. Returns
    /// what the fresh store read and where the damaged file went. If it
    /// cannot be moved, the damaged store is opened again and the error
    /// returned.
    pub fn set_aside_and_reopen(&mut self, now_ms: i64) -> Result<(Loaded, PathBuf)> {
        let placeholder = Connection::open_in_memory()?;
        let damaged = std::mem::replace(&mut self.conn, placeholder);
        // Closed before the move, so SQLite does not clean up files by a name
        // that will then be the fresh store's.
        if let Err((_, e)) = damaged.close() {
            log::warn!("consentgate: damaged store did not close cleanly: {e}");
        }
        match Store::fresh_after_setting_aside(&self.path, now_ms) {
            Ok((fresh, loaded, moved_to)) => {
                *self = fresh;
                Ok((loaded, moved_to))
            }
            Err(e) => {
                if self.path.exists() {
                    self.conn = Connection::open(&self.path)?;
                }
                Err(e)
            }
        }
    }

    /// The partitions that exist.
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    /// Reads a meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Every stored decision by purpose id.
    pub fn decisions(&self) -> Result<HashMap<String, StoredDecision>> {
        let mut stmt = self.conn.prepare(
            "SELECT purpose, status, decided_at_ms, source, revision, reason FROM decisions",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (purpose, status, at, source, revision, reason) = row?;
            // A row we cannot read counts as no decision (fail-closed).
            let (Some(status), Some(source)) =
                (ConsentStatus::parse(&status), ConsentSource::parse(&source))
            else {
                continue;
            };
            out.insert(
                purpose,
                StoredDecision {
                    status,
                    decided_at_ms: at,
                    source,
                    revision: u32::try_from(revision).unwrap_or(0),
                    reason: reason.as_deref().and_then(PromptReason::parse),
                },
            );
        }
        Ok(out)
    }

    /// Revision in which each purpose was first seen.
    pub fn first_seen(&self) -> Result<HashMap<String, u32>> {
        let mut stmt = self
            .conn
            .prepare("SELECT purpose, first_revision FROM purposes_seen")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = HashMap::new();
        for row in rows {
            let (p, rev) = row?;
            out.insert(p, u32::try_from(rev).unwrap_or(0));
        }
        Ok(out)
    }

    /// Where the retained ledger starts.
    pub fn ledger_anchor(&self) -> Result<Anchor> {
        ledger_anchor(&self.conn)
    }

    /// The whole retained ledger in order.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>> {
        read_ledger(&self.conn)
    }

    /// Verifies the retained ledger from its anchor.
    pub fn verify_ledger(&self) -> Result<LedgerCheck> {
        verify_ledger(&self.conn)
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

    /// Counts of every partition, by partition id.
    fn all_partition_counts(&self) -> Result<HashMap<i64, PartitionCounts>> {
        let mut counts = HashMap::new();
        for p in &self.partitions {
            counts.insert(p.id, self.partition_counts(p)?);
        }
        Ok(counts)
    }

    /// Counts of one partition.
    pub fn partition_counts(&self, p: &Partition) -> Result<PartitionCounts> {
        let (events, bytes): (i64, i64) = self.conn.query_row(
            &format!(
                "SELECT count(*), coalesce(sum(bytes), 0) FROM {}",
                p.table()
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let oldest_ms = self.oldest_in(p)?;
        Ok(PartitionCounts {
            events: events as u64,
            bytes: bytes as u64,
            oldest_ms,
        })
    }

    fn oldest_in(&self, p: &Partition) -> Result<Option<i64>> {
        oldest_in(&self.conn, p)
    }

    /// Highest record seq on disk.
    pub fn max_seq(&self) -> Result<u64> {
        let mut max = self
            .meta("last_seq")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0u64);
        for p in &self.partitions {
            let m: Option<i64> =
                self.conn
                    .query_row(&format!("SELECT max(seq) FROM {}", p.table()), [], |r| {
                        r.get(0)
                    })?;
            max = max.max(m.unwrap_or(0) as u64);
        }
        Ok(max)
    }

    /// Queued records of a partition in seq order, from `after_seq` on, at most `limit`.
    pub fn records(
        &self,
        p: &Partition,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<QueuedRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT seq, ts_ms, name, props FROM {} WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            p.table()
        ))?;
        let rows = stmt.query_map(params![after_seq as i64, limit as i64], |r| {
            Ok(QueuedRecord {
                seq: r.get::<_, i64>(0)? as u64,
                ts_ms: r.get(1)?,
                name: r.get(2)?,
                props: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The oldest batch not yet acknowledged.
    pub fn pending_batch(&self) -> Result<Option<BatchRow>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {BATCH_COLUMNS} FROM batches ORDER BY created_ms, first_seq LIMIT 1"
            ))?
            .query_row([], batch_row)
            .optional()?)
    }

    /// The batch with this id, if it is still pending.
    pub fn pending_batch_by_id(&self, batch_id: &str) -> Result<Option<BatchRow>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE batch_id = ?1"
            ))?
            .query_row([batch_id], batch_row)
            .optional()?)
    }

    /// Every deletion request, oldest first.
    pub fn deletions(&self) -> Result<Vec<DeletionRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT request_id, created_ms, installation_ids, user_id, reason, endpoints, pending_endpoints, \
             policy_id, revision, status, receipt_id, receipt_status, failed_status, attempts, next_attempt_ms, \
             receiptless FROM deletions ORDER BY created_ms, request_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DeletionRow {
                request_id: r.get(0)?,
                created_ms: r.get(1)?,
                installation_ids: parse_list(&r.get::<_, String>(2)?),
                user_id: r.get(3)?,
                reason: r.get(4)?,
                endpoints: parse_list(&r.get::<_, String>(5)?),
                pending_endpoints: parse_list(&r.get::<_, String>(6)?),
                policy_id: r.get(7)?,
                revision: r.get::<_, i64>(8)? as u32,
                status: r.get(9)?,
                receipt_id: r.get(10)?,
                receipt_status: r.get(11)?,
                failed_status: r.get::<_, Option<i64>>(12)?.map(|v| v as u16),
                attempts: r.get::<_, i64>(13)? as u32,
                next_attempt_ms: r.get(14)?,
                receiptless: r.get::<_, i64>(15)? as u32,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every (installation id, endpoint) pair whose data reached the endpoint
    /// since the last deletion request.
    pub fn endpoints_used(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT installation_id, endpoint FROM endpoints_used ORDER BY 1, 2")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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
            };
            let out = f(&mut txn)?;
            let head = txn.head.clone();
            txn.tx.commit()?;
            Ok((out, head))
        })();
        if durable {
            // Back to the group-commit setting; failing to switch only costs speed.
            let _ = self.conn.pragma_update(None, "synchronous", "NORMAL");
        }
        match result {
            Ok((out, head)) => {
                let moved = head != self.ledger_head;
                self.ledger_head = head;
                if moved {
                    // Only now: the commit is on disk (consent writes are
                    // durable), so the marker never runs ahead of it.
                    self.write_head();
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

impl Txn<'_> {
    /// The partitions that exist, including any created in this transaction.
    pub fn partitions(&self) -> Vec<Partition> {
        self.partitions.clone()
    }

    /// Sets a meta value.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.tx
            .prepare_cached("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
            .execute(params![key, value])?;
        Ok(())
    }

    /// Removes a meta value.
    pub fn delete_meta(&mut self, key: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM meta WHERE key = ?1")?
            .execute([key])?;
        Ok(())
    }

    /// Records that `purpose` exists as of `revision` (first sighting wins).
    pub fn see_purpose(&mut self, purpose: &str, revision: u32) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO purposes_seen(purpose, first_revision) VALUES (?1, ?2)",
            )?
            .execute(params![purpose, revision])?;
        Ok(())
    }

    /// Writes the decision row of a purpose.
    pub fn put_decision(&mut self, purpose: &str, d: &StoredDecision) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO decisions(purpose, status, decided_at_ms, source, revision, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(purpose) DO UPDATE SET \
                 status = excluded.status, decided_at_ms = excluded.decided_at_ms, source = excluded.source, \
                 revision = excluded.revision, reason = excluded.reason",
            )?
            .execute(params![
                purpose,
                d.status.as_str(),
                d.decided_at_ms,
                d.source.as_str(),
                d.revision,
                d.reason.map(|r| r.as_str())
            ])?;
        Ok(())
    }

    /// Appends a ledger entry, filling in `seq`, `prev_hash` and `hash`
    /// (and `txn` when it is 0: the entry then starts a new event).
    pub fn append_ledger(&mut self, mut e: LedgerEntry) -> Result<LedgerEntry> {
        e.seq = self
            .head
            .0
            .checked_add(1)
            .filter(|s| i64::try_from(*s).is_ok())
            .ok_or_else(|| Error::Invalid("the consent ledger has no seq left".into()))?;
        if e.txn == 0 {
            e.txn = e.seq;
        }
        e.prev_hash = self.head.1.clone();
        e.hash = crate::ledger::entry_hash(&e);
        self.tx
            .prepare_cached(
                "INSERT INTO ledger(seq, txn, at_ms, purpose, status, source, policy_id, revision, policy_hash, \
                 app_version, region, installation_id, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                e.seq as i64,
                e.txn as i64,
                e.at_ms,
                e.purpose,
                e.status.as_str(),
                e.source.as_str(),
                e.policy_id,
                e.revision,
                e.policy_hash,
                e.app_version,
                e.region,
                e.installation_id,
                e.prev_hash,
                e.hash
            ])?;
        self.head = (e.seq, e.hash.clone());
        Ok(e)
    }

    /// Prunes the ledger prefix made of entries older than `cutoff_ms` that are
    /// not the latest entry for their purpose, anchoring the chain at the last
    /// pruned entry. Returns how many entries were pruned.
    pub fn prune_ledger(&mut self, cutoff_ms: i64) -> Result<u64> {
        // The first entry that must stay: young, or the latest for its purpose.
        let keep_from: Option<i64> = self.tx.query_row(
            "SELECT min(seq) FROM ledger l WHERE at_ms >= ?1 \
             OR seq = (SELECT max(seq) FROM ledger m WHERE m.purpose = l.purpose)",
            [cutoff_ms],
            |r| r.get(0),
        )?;
        let Some(keep_from) = keep_from else {
            return Ok(0);
        };
        let last_pruned: Option<(i64, String)> = self
            .tx
            .query_row(
                "SELECT seq, hash FROM ledger WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
                [keep_from],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((seq, hash)) = last_pruned else {
            return Ok(0);
        };
        let n = self
            .tx
            .execute("DELETE FROM ledger WHERE seq <= ?1", [seq])?;
        self.set_meta("ledger_anchor_seq", &seq.to_string())?;
        self.set_meta("ledger_anchor_hash", &hash)?;
        Ok(n as u64)
    }

    /// The partition for a set of categories, created if needed.
    pub fn partition(&mut self, categories: &str) -> Result<Partition> {
        if let Some(p) = self.partitions.iter().find(|p| p.categories == categories) {
            return Ok(p.clone());
        }
        self.tx.execute(
            "INSERT INTO partitions(categories) VALUES (?1)",
            [categories],
        )?;
        let p = Partition {
            id: self.tx.last_insert_rowid(),
            categories: categories.to_string(),
        };
        self.tx
            .execute_batch(&format!("CREATE TABLE {}{EVENTS_COLUMNS}", p.table()))?;
        self.partitions.push(p.clone());
        Ok(p)
    }

    /// Inserts records into a partition.
    pub fn insert_records<'r>(
        &mut self,
        p: &Partition,
        records: impl IntoIterator<Item = &'r QueuedRecord>,
    ) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "INSERT INTO {}(seq, ts_ms, name, props, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
            p.table()
        ))?;
        for r in records {
            stmt.execute(params![
                r.seq as i64,
                r.ts_ms,
                r.name,
                r.props,
                r.bytes() as i64
            ])?;
        }
        Ok(())
    }

    /// Deletes every record of a partition (G3).
    pub fn clear_partition(&mut self, p: &Partition) -> Result<()> {
        // No WHERE clause: SQLite's truncate optimisation frees the pages
        // without visiting rows.
        self.tx.execute(&format!("DELETE FROM {}", p.table()), [])?;
        Ok(())
    }

    /// Deletes a partition's records with seq in `first..=last`; returns (events, bytes).
    pub fn delete_range(&mut self, p: &Partition, first: u64, last: u64) -> Result<(u64, u64)> {
        self.delete_returning(
            &format!(
                "DELETE FROM {} WHERE seq BETWEEN ?1 AND ?2 RETURNING bytes",
                p.table()
            ),
            params![first as i64, last as i64],
        )
    }

    /// Stores a new batch.
    pub fn insert_batch(&mut self, b: &BatchRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO batches(batch_id, partition, first_seq, last_seq, endpoint, created_ms, attempts, \
                 next_attempt_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                b.batch_id,
                b.partition,
                b.first_seq as i64,
                b.last_seq as i64,
                b.endpoint,
                b.created_ms,
                b.attempts,
                b.next_attempt_ms
            ])?;
        Ok(())
    }

    /// Records a failed attempt of a batch.
    pub fn retry_batch(
        &mut self,
        batch_id: &str,
        attempts: u32,
        next_attempt_ms: i64,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE batches SET attempts = ?2, next_attempt_ms = ?3 WHERE batch_id = ?1",
            )?
            .execute(params![batch_id, attempts, next_attempt_ms])?;
        Ok(())
    }

    /// Forgets a batch.
    pub fn delete_batch(&mut self, batch_id: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM batches WHERE batch_id = ?1")?
            .execute([batch_id])?;
        Ok(())
    }

    /// Forgets every batch of a partition (its records were purged).
    pub fn delete_batches_of(&mut self, partition: i64) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM batches WHERE partition = ?1")?
            .execute([partition])?;
        Ok(())
    }

    /// Notes that an installation's data reached an endpoint.
    pub fn mark_endpoint_used(&mut self, installation_id: &str, endpoint: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO endpoints_used(installation_id, endpoint) VALUES (?1, ?2)",
            )?
            .execute([installation_id, endpoint])?;
        Ok(())
    }

    /// Forgets the endpoints used (a deletion request now covers them).
    pub fn clear_endpoints_used(&mut self) -> Result<()> {
        self.tx.execute("DELETE FROM endpoints_used", [])?;
        Ok(())
    }

    /// Inserts or replaces a deletion request.
    pub fn put_deletion(&mut self, d: &DeletionRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO deletions(request_id, created_ms, installation_ids, user_id, reason, \
                 endpoints, pending_endpoints, policy_id, revision, status, receipt_id, receipt_status, \
                 failed_status, attempts, next_attempt_ms, receiptless) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                d.request_id,
                d.created_ms,
                json_list(&d.installation_ids),
                d.user_id,
                d.reason,
                json_list(&d.endpoints),
                json_list(&d.pending_endpoints),
                d.policy_id,
                d.revision,
                d.status,
                d.receipt_id,
                d.receipt_status,
                d.failed_status,
                d.attempts,
                d.next_attempt_ms,
                d.receiptless
            ])?;
        Ok(())
    }

    /// Deletes the oldest `n` records of a partition; returns (events, bytes) removed.
    pub fn delete_oldest(&mut self, p: &Partition, n: u64) -> Result<(u64, u64)> {
        self.delete_returning(
            &format!(
                "DELETE FROM {t} WHERE seq IN (SELECT seq FROM {t} ORDER BY seq LIMIT ?1) RETURNING bytes",
                t = p.table()
            ),
            [n as i64],
        )
    }

    /// Deletes records of a partition captured before `cutoff_ms`; returns (events, bytes).
    pub fn delete_older_than(&mut self, p: &Partition, cutoff_ms: i64) -> Result<(u64, u64)> {
        if self.oldest_in(p)?.is_none_or(|o| o >= cutoff_ms) {
            return Ok((0, 0));
        }
        self.delete_returning(
            &format!("DELETE FROM {} WHERE ts_ms < ?1 RETURNING bytes", p.table()),
            [cutoff_ms],
        )
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

    /// Oldest capture time in a partition.
    pub fn oldest_in(&mut self, p: &Partition) -> Result<Option<i64>> {
        oldest_in(&self.tx, p)
    }

    /// Lowest seq in a partition.
    pub fn min_seq_in(&mut self, p: &Partition) -> Result<Option<u64>> {
        let v: Option<i64> =
            self.tx
                .query_row(&format!("SELECT min(seq) FROM {}", p.table()), [], |r| {
                    r.get(0)
                })?;
        Ok(v.map(|v| v as u64))
    }
}

/// Calls `f` with each retained ledger entry with `after < seq <= upto`
/// (either bound open when `None`), in seq order, as its canonical form and
/// its two hashes, borrowed from the row: open reads the whole ledger every
/// time. An unreadable status or source reads as its fallback, so the
/// entry fails verification through its hash.
fn each_ledger_entry(
    conn: &Connection,
    after: Option<u64>,
    upto: Option<u64>,
    mut f: impl FnMut(&Canonical<'_>, &str, &str),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, txn, at_ms, purpose, status, source, policy_id, revision, policy_hash, \
         app_version, region, installation_id, prev_hash, hash FROM ledger \
         WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![
        after.map_or(i64::MIN, |a| a as i64),
        upto.map_or(i64::MAX, |u| u as i64)
    ])?;
    while let Some(r) = rows.next()? {
        let str_at = |i: usize| -> rusqlite::Result<&str> {
            text_at(r, i)?.ok_or_else(|| {
                rusqlite::Error::InvalidColumnType(i, String::new(), rusqlite::types::Type::Null)
            })
        };
        let c = Canonical {
            seq: r.get::<_, i64>(0)? as u64,
            txn: r.get::<_, i64>(1)? as u64,
            at_ms: r.get(2)?,
            purpose: str_at(3)?,
            status: ConsentStatus::parse(str_at(4)?).unwrap_or(ConsentStatus::Unset),
            source: ConsentSource::parse(str_at(5)?).unwrap_or(ConsentSource::Migration),
            policy_id: str_at(6)?,
            revision: r.get::<_, i64>(7)? as u32,
            policy_hash: str_at(8)?,
            app_version: str_at(9)?,
            region: text_at(r, 10)?,
            installation_id: str_at(11)?,
        };
        f(&c, str_at(12)?, str_at(13)?);
    }
    Ok(())
}

/// Where the retained ledger starts: after pruning, the anchor kept in meta.
fn ledger_anchor(conn: &Connection) -> Result<Anchor> {
    let meta = |key: &str| -> Result<Option<String>> {
        Ok(conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    };
    let seq = meta("ledger_anchor_seq")?.and_then(|s| s.parse().ok());
    let hash = meta("ledger_anchor_hash")?;
    Ok(match (seq, hash) {
        (Some(seq), Some(hash)) => Anchor { seq, hash },
        _ => Anchor::default(),
    })
}

/// The whole retained ledger in order.
pub(crate) fn read_ledger(conn: &Connection) -> Result<Vec<LedgerEntry>> {
    let mut out = Vec::new();
    each_ledger_entry(conn, None, None, |c, prev, hash| {
        out.push(c.to_entry(prev, hash))
    })?;
    Ok(out)
}

/// Verifies the retained ledger from its anchor, entry by entry as it is read.
pub(crate) fn verify_ledger(conn: &Connection) -> Result<LedgerCheck> {
    let mut check = ChainCheck::new(&ledger_anchor(conn)?);
    each_ledger_entry(conn, None, None, |c, prev, hash| {
        check.push_parts(c, prev, hash)
    })?;
    Ok(check.finish())
}

/// Column `i` of `r` as borrowed text (`None` for NULL); any other type is
/// an error, as `get::<String>` would make it.
fn text_at<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    use rusqlite::types::{Type, ValueRef};
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(Some)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e))),
        other => Err(rusqlite::Error::InvalidColumnType(
            i,
            String::new(),
            other.data_type(),
        )),
    }
}

/// A read-only connection to the store in `dir`: inspecting a store (the
/// CLI's `ledger` commands) must not change it, nor set a damaged one aside
/// as opening a gate would.
pub(crate) fn open_read_only(dir: &Path) -> Result<Connection> {
    let path = dir.join(DB_FILE);
    if !path.is_file() {
        return Err(Error::Invalid(format!(
            "{} holds no consentgate database",
            dir.display()
        )));
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// The file's first 100 bytes (SQLite's header), fewer if it is shorter;
/// empty when it does not exist (SQLite would treat a short file as empty and
/// overwrite it, so the caller checks the magic).
fn read_header(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut head = Vec::with_capacity(100);
    f.by_ref().take(100).read_to_end(&mut head)?;
    Ok(head)
}

/// Capture time of a partition's oldest record (by seq, the rowid: O(log n)).
fn oldest_in(conn: &Connection, p: &Partition) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            &format!("SELECT ts_ms FROM {} ORDER BY seq LIMIT 1", p.table()),
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Creates the database file with mode 0600 if it does not exist, and narrows
/// the mode of an existing one, before SQLite opens it (SQLite gives its WAL
/// and shared-memory files the database file's mode).
fn create_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
            }
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
    }
    Ok(())
}

/// Moves an unusable database (and its WAL, shared-memory and head-marker
/// files) aside as `<name>.corrupt-<ms>` so nothing is lost and a fresh store
/// can be created. Returns where the database went, or where its marker went
/// when the database file itself was missing.
fn set_aside(path: &Path, now_ms: i64) -> Result<PathBuf> {
    let side = |p: &Path, suffix: &str| PathBuf::from(format!("{}{suffix}", p.display()));
    let mut target = PathBuf::from(format!("{}.corrupt-{now_ms}", path.display()));
    let mut n = 1;
    while target.exists() || side(&target, HEAD_SUFFIX).exists() {
        target = PathBuf::from(format!("{}.corrupt-{now_ms}.{n}", path.display()));
        n += 1;
    }
    let main_moved = match fs::rename(path, &target) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    for suffix in ["-wal", "-shm"] {
        if side(path, suffix).exists() {
            let _ = fs::rename(side(path, suffix), side(&target, suffix));
        }
    }
    // The marker must go: a fresh store would not match it.
    if side(path, HEAD_SUFFIX).exists() {
        fs::rename(side(path, HEAD_SUFFIX), side(&target, HEAD_SUFFIX))?;
        if !main_moved {
            return Ok(side(&target, HEAD_SUFFIX));
        }
    }
    Ok(target)
}

/// Every table of the schema: the schema version that added it and the
/// statement that creates it. Open compares each table's stored statement
/// with this one (whitespace aside), so a file whose schema text was damaged
/// is set aside at open rather than failing every write later.
const TABLES: &[(i64, &str, &str)] = &[
    (
        1,
        "meta",
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    ),
    (
        1,
        "decisions",
        "CREATE TABLE decisions(purpose TEXT PRIMARY KEY, status TEXT NOT NULL, \
        decided_at_ms INTEGER NOT NULL, source TEXT NOT NULL, revision INTEGER NOT NULL, \
        reason TEXT) WITHOUT ROWID",
    ),
    (
        1,
        "purposes_seen",
        "CREATE TABLE purposes_seen(purpose TEXT PRIMARY KEY, \
        first_revision INTEGER NOT NULL) WITHOUT ROWID",
    ),
    (
        1,
        "ledger",
        "CREATE TABLE ledger(seq INTEGER PRIMARY KEY, txn INTEGER NOT NULL, \
        at_ms INTEGER NOT NULL, purpose TEXT NOT NULL, status TEXT NOT NULL, source TEXT NOT NULL, \
        policy_id TEXT NOT NULL, revision INTEGER NOT NULL, policy_hash TEXT NOT NULL, \
        app_version TEXT NOT NULL, region TEXT, installation_id TEXT NOT NULL, \
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    ),
    (
        1,
        "partitions",
        "CREATE TABLE partitions(id INTEGER PRIMARY KEY, categories TEXT NOT NULL UNIQUE)",
    ),
    (
        2,
        "batches",
        "CREATE TABLE batches(batch_id TEXT PRIMARY KEY, partition INTEGER NOT NULL, \
        first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, endpoint TEXT NOT NULL, \
        created_ms INTEGER NOT NULL, attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL)",
    ),
    (
        2,
        "deletions",
        "CREATE TABLE deletions(request_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, \
        installation_ids TEXT NOT NULL, user_id TEXT, reason TEXT, endpoints TEXT NOT NULL, \
        pending_endpoints TEXT NOT NULL, policy_id TEXT NOT NULL, revision INTEGER NOT NULL, \
        status TEXT NOT NULL, receipt_id TEXT, receipt_status TEXT, failed_status INTEGER, \
        attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, \
        receiptless INTEGER NOT NULL DEFAULT 0)",
    ),
    (
        2,
        "endpoints_used",
        "CREATE TABLE endpoints_used(installation_id TEXT NOT NULL, \
        endpoint TEXT NOT NULL, PRIMARY KEY(installation_id, endpoint)) WITHOUT ROWID",
    ),
];

/// The columns of every partition's queue table, `events_<id>`.
const EVENTS_COLUMNS: &str = "(seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, \
    name TEXT NOT NULL, props TEXT, bytes INTEGER NOT NULL)";

/// Upgrades the schema from `version` to `version + 1`: creates the tables
/// that version added and sets `user_version`, in one transaction.
fn upgrade_from(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    let mut sql = String::from("BEGIN;");
    for (_, _, create) in TABLES.iter().filter(|(v, _, _)| *v == version + 1) {
        sql.push_str(create);
        sql.push(';');
    }
    sql.push_str(&format!("PRAGMA user_version = {}; COMMIT;", version + 1));
    conn.execute_batch(&sql)
}

/// Checks that every table schema `version` has, and each partition's queue
/// table, was created by the statement this code uses (compared with runs
/// of whitespace folded, as SQLite keeps the text as written). A file that
/// claims a version without its first tables is another application's.
fn check_schema(conn: &Connection, version: i64) -> std::result::Result<(), OpenFailure> {
    if version == 0 {
        return Ok(());
    }
    let fold = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut stmt = conn.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table'")?;
    let stored: HashMap<String, String> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?
        .filter_map(|r| match r {
            Ok((name, Some(sql))) => Some(Ok((name, fold(&sql)))),
            Ok((_, None)) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<_>>()?;
    let mut partitions = conn.prepare("SELECT id FROM partitions")?;
    let events = partitions
        .query_map([], |r| r.get::<_, i64>(0))?
        .map(|id| {
            id.map(|id| {
                let name = format!("events_{id}");
                let create = format!("CREATE TABLE {name}{EVENTS_COLUMNS}");
                (name, create)
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if TABLES
        .iter()
        .any(|(added, name, _)| *added == 1 && !stored.contains_key(*name))
    {
        return Err(OpenFailure::Unusable(
            "the database belongs to another application".into(),
        ));
    }
    let fixed = TABLES
        .iter()
        .filter(|(added, _, _)| *added <= version)
        .map(|(_, name, create)| (name.to_string(), create.to_string()));
    for (name, create) in fixed.chain(events) {
        match stored.get(&name) {
            Some(sql) if *sql == fold(&create) => {}
            Some(_) => {
                return Err(OpenFailure::Unusable(format!(
                    "the definition of table {name} is not the one consentgate wrote"
                )))
            }
            None => return Err(OpenFailure::Unusable(format!("table {name} is missing"))),
        }
    }
    Ok(())
}
