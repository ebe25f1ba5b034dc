//! What must outlive the database file: the pending deletion tickets (G6)
//! and the age signal. When a store is set aside — at open or while running,
//! for damage, a foreign file or an old copy put back — the fresh store
//! starts fail-closed, but these are carried into it, salvaged from the
//! damaged file as far as SQLite can still read it and from the *keep file*
//! beside it, `consentgate.db-keep`, which holds them too: a file whose
//! header was destroyed cannot be read at all, and a deletion the backend
//! never received must not be lost with it.
//!
//! The keep file is written like the head marker (temporary file, fsync,
//! rename), after every commit that changes a pending ticket or the age
//! signal, and caught up at open; a failure to write it is logged and
//! otherwise harmless (the database still has everything).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::deletions::salvage_tickets;
use super::Store;
use crate::error::Result;
use crate::ticket::{DeletionStatus, Ticket};

/// Appended to the database file's name for the keep file.
pub(crate) const KEEP_SUFFIX: &str = "-keep";

/// First field of the keep file, naming its format.
const FORMAT: u32 = 1;

/// The keep file's path for the database at `db`.
pub(crate) fn keep_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}{KEEP_SUFFIX}", db.display()))
}

/// A pending ticket as the keep file holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeptTicket {
    request_id: String,
    created_ms: i64,
    installation_ids: Vec<String>,
    user_id: Option<String>,
    reason: Option<String>,
    endpoints: Vec<String>,
    pending_endpoints: Vec<String>,
    policy_id: String,
    revision: u32,
}

/// The keep file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct KeepFile {
    consentgate_keep: u32,
    age_years: Option<i32>,
    parental_consent: bool,
    tickets: Vec<KeptTicket>,
}

/// What a fresh store takes over from the one set aside.
#[derive(Debug, Clone, Default)]
pub(crate) struct Carried {
    /// Every deletion ticket that could be read (pending ones at least).
    pub tickets: Vec<Ticket>,
    /// The age signal (`age_years`, `parental_consent`), if it could be read.
    pub age: Option<(Option<i32>, bool)>,
    /// Neither the damaged file nor the keep file could say which deletion
    /// requests there were: some may be lost.
    pub tickets_unreadable: bool,
}

/// Reads what can be read of the store at `db` (about to be set aside) and
/// of the keep file beside it. Never fails: what cannot be read is missing.
pub(crate) fn salvage(db: &Path) -> Carried {
    let from_db = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()
    .filter(|_| db.is_file());
    let db_tickets = from_db.as_ref().and_then(salvage_tickets);
    let db_age = from_db.as_ref().and_then(|c| read_age(c).ok());
    let kept = read(db);
    let mut tickets = db_tickets.clone().unwrap_or_default();
    if let Some(k) = &kept {
        for t in &k.tickets {
            if !tickets.iter().any(|x| x.request_id == t.request_id) {
                tickets.push(from_kept(t));
            }
        }
    }
    Carried {
        tickets,
        age: db_age
            .flatten()
            .or_else(|| kept.as_ref().map(|k| (k.age_years, k.parental_consent))),
        tickets_unreadable: db_tickets.is_none() && kept.is_none(),
    }
}

fn from_kept(t: &KeptTicket) -> Ticket {
    Ticket {
        request_id: t.request_id.clone(),
        created_ms: t.created_ms,
        installation_ids: t.installation_ids.clone(),
        user_id: t.user_id.clone(),
        reason: t.reason.clone(),
        endpoints: t.endpoints.clone(),
        pending_endpoints: t.pending_endpoints.clone(),
        policy_id: t.policy_id.clone(),
        revision: t.revision,
        status: DeletionStatus::Pending,
        receipt: None,
        attempts: 0,
        next_attempt_ms: t.created_ms,
        receiptless: 0,
    }
}

/// The age signal stored in `meta`, `None` when none was ever reported.
fn read_age(conn: &Connection) -> rusqlite::Result<Option<(Option<i32>, bool)>> {
    let get = |k: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .optional()
    };
    let years = get("age_years")?;
    let parental = get("parental_consent")?;
    if years.is_none() && parental.is_none() {
        return Ok(None);
    }
    Ok(Some((
        years.and_then(|v| v.parse().ok()),
        parental.as_deref() == Some("true"),
    )))
}

/// The keep file beside `db`, if it is there and readable.
fn read(db: &Path) -> Option<KeepFile> {
    let bytes = fs::read(keep_path(db)).ok()?;
    let k: KeepFile = serde_json::from_slice(&bytes).ok()?;
    (k.consentgate_keep == FORMAT).then_some(k)
}

impl Store {
    /// The keep file's content for the store as it is now.
    fn keep_content(&self) -> Result<Vec<u8>> {
        let tickets = self
            .pending_deletions()?
            .into_iter()
            .map(|t| KeptTicket {
                request_id: t.request_id,
                created_ms: t.created_ms,
                installation_ids: t.installation_ids,
                user_id: t.user_id,
                reason: t.reason,
                endpoints: t.endpoints,
                pending_endpoints: t.pending_endpoints,
                policy_id: t.policy_id,
                revision: t.revision,
            })
            .collect();
        let (age_years, parental_consent) = read_age(&self.conn)?.unwrap_or((None, false));
        let k = KeepFile {
            consentgate_keep: FORMAT,
            age_years,
            parental_consent,
            tickets,
        };
        Ok(serde_json::to_vec(&k).unwrap_or_default())
    }

    /// Rewrites the keep file when it differs from the store (after a commit
    /// that changed a pending ticket or the age, and at open). A failure is
    /// logged: the database still holds everything.
    pub(super) fn write_keep(&self) {
        let result = self.keep_content().and_then(|content| {
            let path = keep_path(&self.path);
            if fs::read(&path).is_ok_and(|old| old == content) {
                return Ok(());
            }
            let tmp = PathBuf::from(format!("{}.tmp", path.display()));
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(&content)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            Ok(())
        });
        if let Err(e) = result {
            log::warn!("consentgate: keep file not updated: {e}");
        }
    }

    /// Writes what was carried over from a store set aside into this fresh
    /// one, in one durable transaction.
    pub(super) fn carry_over(&mut self, carried: &Carried) -> Result<()> {
        self.write(true, |txn| {
            for t in &carried.tickets {
                txn.put_deletion(t)?;
            }
            if let Some((years, parental)) = carried.age {
                if let Some(y) = years {
                    txn.set_meta("age_years", &y.to_string())?;
                }
                txn.set_meta("parental_consent", &parental.to_string())?;
            }
            Ok(())
        })
    }
}
