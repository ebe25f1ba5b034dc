//! Inspecting a store without touching it: a consistent copy of a data
//! directory (taken under a SQLite read transaction, so a gate writing
//! beside it is neither disturbed nor caught half-way), and the verdict
//! opening would reach on it — the same checks, run on the copy, so nothing
//! is upgraded, rewritten or set aside where the store really is.

use std::fs;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::integrity::HEAD_SUFFIX;
use super::keep::KEEP_SUFFIX;
use super::{verify_ledger, OpenFailure, Store, DB_FILE};
use crate::error::{Error, Result};
use crate::ledger::LedgerCheck;

/// Copies the store in `from` (database, write-ahead log, head marker, keep
/// file) into the directory `to` as one consistent moment: the marker first
/// (so it can only lag the copy, never run ahead of it), then the database
/// and its log while a read transaction pins them.
pub(crate) fn copy_data_dir(from: &Path, to: &Path) -> Result<()> {
    let db = from.join(DB_FILE);
    if !db.is_file() && !Path::new(&format!("{}{HEAD_SUFFIX}", db.display())).is_file() {
        return Err(Error::Invalid(format!(
            "{} holds no consentgate database",
            from.display()
        )));
    }
    fs::create_dir_all(to)?;
    let side = |suffix: &str| {
        (
            from.join(format!("{DB_FILE}{suffix}")),
            to.join(format!("{DB_FILE}{suffix}")),
        )
    };
    for suffix in [HEAD_SUFFIX, KEEP_SUFFIX] {
        let (a, b) = side(suffix);
        copy_if_there(&a, &b)?;
    }
    // A reader's snapshot: checkpoints cannot move past it and the log is
    // not restarted while it lasts. A file SQLite cannot read at all is
    // copied as it is (opening the copy then judges it the same way).
    let reader = Connection::open_with_flags(
        &db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|c| {
        c.busy_timeout(std::time::Duration::from_secs(5))?;
        c.execute_batch("BEGIN")?;
        c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(c)
    })
    .ok();
    copy_if_there(&db, &to.join(DB_FILE))?;
    let (a, b) = side("-wal");
    copy_if_there(&a, &b)?;
    drop(reader);
    Ok(())
}

fn copy_if_there(from: &Path, to: &Path) -> Result<()> {
    match fs::copy(from, to) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What opening the store in `dir` would find, reached on a copy: the
/// ledger check when it would open as it is; otherwise `intact: false` with
/// why it would be set aside (the first bad entry named when the chain
/// breaks). The store itself is not changed.
pub(crate) fn verdict(dir: &Path) -> Result<LedgerCheck> {
    let tmp = tempdir_beside()?;
    copy_data_dir(dir, tmp.path())?;
    let path = tmp.path().join(DB_FILE);
    // The chain first, on the copy as it is, so a break is named by entry.
    if let Ok(conn) = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        if let Ok(check) = verify_ledger(&conn) {
            if !check.intact {
                return Ok(check);
            }
        }
    }
    match Store::try_open(&path) {
        Ok((store, _)) => store.verify_ledger(),
        Err(OpenFailure::Unusable(reason)) => Ok(LedgerCheck {
            intact: false,
            entries: 0,
            first_bad_seq: None,
            problem: Some(reason),
        }),
        Err(OpenFailure::Fatal(e)) => Err(e),
    }
}

/// A temporary directory for a copy (removed when dropped).
fn tempdir_beside() -> Result<TempDir> {
    let base = std::env::temp_dir().join(format!(
        "consentgate-inspect-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    fs::create_dir_all(&base)?;
    Ok(TempDir(base))
}

/// A directory removed with everything in it when dropped.
pub(crate) struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
