//! Opening a store file: classifying it before anything is written (not a
//! database, another application's, a schema this code does not write),
//! upgrading it, reading everything the gate needs once (so damage is found
//! now), verifying it (`integrity`), probing the writes a consent change
//! makes, and setting an unusable file aside as `<name>.corrupt-<ms>`.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::integrity::{self, Head, LedgerScan, HEAD_SUFFIX};
use super::ledger::each_ledger_entry;
use super::schema::{check_schema, upgrade_from, MARKER_REQUIRED_FROM, SCHEMA_VERSION};
use super::{Loaded, OpenFailure, Partition, Store, DB_FILE};
use crate::error::{Error, Result};
use crate::ledger::Anchor;

/// Ledgers at least this long are verified at open in two halves at once.
pub(super) const SPLIT_LEDGER_SCAN_AT: u64 = 2048;

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
pub(super) fn read_header(path: &Path) -> std::io::Result<Vec<u8>> {
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

/// Creates the database file with mode 0600 if it does not exist, and narrows
/// the mode of an existing one, before SQLite opens it (SQLite gives its WAL
/// and shared-memory files the database file's mode).
pub(super) fn create_private(path: &Path) -> std::io::Result<()> {
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
pub(super) fn set_aside(path: &Path, now_ms: i64) -> Result<PathBuf> {
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

impl Store {
    pub(super) fn try_open(path: &Path) -> std::result::Result<(Store, Loaded), OpenFailure> {
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
        let marker_missing = !integrity::head_path(path).exists();
        if (1..MARKER_REQUIRED_FROM).contains(&version) && marker_missing {
            // A store from before the marker existed: the marker is written
            // now, naming the ledger as it is, before the upgrade makes it
            // required (so a failed write leaves the file as it was).
            let head = current_head(&conn)?;
            integrity::write_head(path, &head).map_err(|e| {
                OpenFailure::Fatal(Error::Io(std::io::Error::other(format!(
                    "the ledger head marker could not be written before upgrading the store, which was left as it was: {e}"
                ))))
            })?;
        }
        for v in version..SCHEMA_VERSION {
            upgrade_from(&conn, v).map_err(|e| {
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
                ) {
                    // Damage the upgrade ran into: set aside, like any other.
                    return OpenFailure::from(e);
                }
                // The environment, or a file this step cannot upgrade: the
                // step's transaction rolled back; say so and stop.
                OpenFailure::Fatal(Error::Io(std::io::Error::other(format!(
                    "upgrading the store from schema version {v} to {} failed, and the file was left as it was: {e}",
                    v + 1
                ))))
            })?;
        }
        if objects == 0 {
            // A fresh store has its marker from the start: a store of this
            // version without one was put back from elsewhere.
            let genesis = Head {
                seq: 0,
                hash: crate::ledger::GENESIS_HASH.to_string(),
            };
            integrity::write_head(path, &genesis).map_err(|e| OpenFailure::Fatal(e.into()))?;
        }
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("consentgate: journal_mode is {mode}, not wal");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            ledger_head: (0, String::new()),
            partitions: Vec::new(),
        };
        let marker_required = version >= MARKER_REQUIRED_FROM;
        let loaded = store.load_caches(marker_required)?;
        Ok((store, loaded))
    }

    /// Reads what is cached in memory, touching every table so a damaged
    /// page is found now, at open, rather than later; returns what the gate
    /// needs of it.
    pub(super) fn load_caches(
        &mut self,
        marker_required: bool,
    ) -> std::result::Result<Loaded, OpenFailure> {
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
        if marker_required && head.seq > 0 && !integrity::head_path(&self.path).exists() {
            return Err(OpenFailure::Unusable(format!(
                "the ledger head marker beside the database is missing, though the ledger records {} entries: an old copy or a backup of the file was put back",
                head.seq
            )));
        }
        self.probe_writes()?;
        if marker.as_ref() != Some(&head) {
            self.write_head();
        }
        self.write_keep();
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
    pub(super) fn probe_writes(&self) -> std::result::Result<(), OpenFailure> {
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
    pub fn set_aside_and_reopen(&mut self, now_ms: i64) -> Result<(Loaded, PathBuf, bool)> {
        let placeholder = Connection::open_in_memory()?;
        let damaged = std::mem::replace(&mut self.conn, placeholder);
        // Closed before the move, so SQLite does not clean up files by a name
        // that will then be the fresh store's.
        if let Err((_, e)) = damaged.close() {
            log::warn!("consentgate: damaged store did not close cleanly: {e}");
        }
        match Store::fresh_after_setting_aside(&self.path, now_ms) {
            Ok((fresh, loaded, moved_to, carried)) => {
                *self = fresh;
                Ok((loaded, moved_to, carried.tickets_unreadable))
            }
            Err(e) => {
                if self.path.exists() {
                    self.conn = Connection::open(&self.path)?;
                }
                Err(e)
            }
        }
    }
}

/// The last ledger entry (or the anchor it was pruned behind, or genesis).
fn current_head(conn: &Connection) -> Result<Head> {
    let anchor = super::ledger::ledger_anchor(conn)?;
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match last {
        Some((seq, hash)) => Head {
            seq: seq as u64,
            hash,
        },
        None => Head {
            seq: anchor.seq,
            hash: anchor.hash,
        },
    })
}
