//! What opening a store checks before it trusts the file, beyond what SQLite
//! itself notices: the file-format versions in the header, the consent ledger
//! (its chain, and that every stored decision is the latest ledger entry for
//! its purpose), and the *head marker* — a small file beside the database,
//! `consentgate.db-head`, naming the last ledger entry written.
//!
//! SQLite cannot tell that the write-ahead log beside a database is stale
//! (copied from an earlier moment of the same file) or belongs to another
//! database: it replays whatever validly checksummed frames it finds, and the
//! store silently rolls back to other decisions. The marker catches that. It
//! is rewritten (written to a temporary file, fsynced, renamed over) only
//! after a consent transaction has committed with `synchronous = FULL`, or at
//! open to catch up with a database that passed every check, so it can lag
//! the database after a crash but never run ahead of it: a database
//! whose ledger ends before the marker, or holds a different entry where the
//! marker points, is not the one this installation last wrote.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::consent::{ConsentSource, ConsentStatus, StoredDecision};
use crate::ledger::{Anchor, Canonical, ChainCheck, LedgerKind};

/// Appended to the database file's name for the head marker.
pub(crate) const HEAD_SUFFIX: &str = "-head";

/// The highest ledger head open accepts (half of `i64::MAX`).
const MAX_HEAD_SEQ: u64 = (i64::MAX as u64) / 2;

/// First line of a marker file.
const HEAD_MAGIC: &str = "consentgate ledger head 1";

/// The last ledger entry written: its seq and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub seq: u64,
    pub hash: String,
}

/// The marker's path for the database at `db`.
pub(crate) fn head_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}{HEAD_SUFFIX}", db.display()))
}

/// Reads the marker beside `db`. A missing marker is `None` (a store written
/// before markers existed, or a fresh one); so is an unreadable one, which is
/// logged: the marker only adds a check, and its loss must not cost the
/// user's decisions.
pub(crate) fn read_head(db: &Path) -> Option<Head> {
    let text = match fs::read_to_string(head_path(db)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            log::warn!("consentgate: ledger head marker unreadable ({e}); not checked");
            return None;
        }
    };
    let parsed = (|| {
        let mut lines = text.lines();
        if lines.next()? != HEAD_MAGIC {
            return None;
        }
        let (seq, hash) = lines.next()?.split_once(' ')?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Head {
            seq: seq.parse().ok()?,
            hash: hash.to_string(),
        })
    })();
    if parsed.is_none() {
        log::warn!("consentgate: ledger head marker damaged; not checked");
    }
    parsed
}

/// Replaces the marker beside `db` with `head`: written to a temporary file
/// (mode 0600, like the database), fsynced, then renamed over the old one,
/// so a crash leaves the old marker or the new one, never a torn one.
pub(crate) fn write_head(db: &Path, head: &Head) -> std::io::Result<()> {
    let path = head_path(db);
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    writeln!(f, "{HEAD_MAGIC}\n{} {}", head.seq, head.hash)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, &path)
}

/// What the 100-byte SQLite header says is wrong with the file, if anything
/// consentgate cares about: SQLite opens a file whose write version is
/// above 2 read-only (every consent write would then fail) and refuses one
/// whose read version is; and consentgate's files never reserve bytes at the
/// end of each page (a nonzero value makes SQLite misread pages on write).
pub(crate) fn header_problem(header: &[u8]) -> Option<String> {
    let (&write, &read, &reserved) = (header.get(18)?, header.get(19)?, header.get(20)?);
    if !matches!(write, 1 | 2) || !matches!(read, 1 | 2) {
        return Some(format!(
            "the file format versions in its header (write {write}, read {read}) are not ones SQLite can write"
        ));
    }
    (reserved != 0).then(|| {
        format!("its header reserves {reserved} bytes per page, which consentgate's files never do")
    })
}

/// Checks the ledger as it is read, entry by entry, and then the stored
/// decisions and the head marker against it.
pub(crate) struct LedgerScan {
    chain: ChainCheck,
    marker: Option<Head>,
    /// The hash of the entry the marker names, once read.
    at_marker: Option<String>,
    /// The latest entry per purpose: status, source, time, revision.
    latest: HashMap<String, (ConsentStatus, ConsentSource, i64, u32)>,
}

impl LedgerScan {
    /// Starts a scan of the ledger retained after `anchor`.
    pub fn new(anchor: &Anchor, marker: Option<Head>) -> Self {
        let at_marker = marker
            .as_ref()
            .filter(|m| m.seq == anchor.seq)
            .map(|_| anchor.hash.clone());
        LedgerScan {
            chain: ChainCheck::new(anchor),
            marker,
            at_marker,
            latest: HashMap::new(),
        }
    }

    /// Joins the scan of the entries that follow (see [`ChainCheck::then`]):
    /// the later scan's latest entries win.
    pub fn then(mut self, later: LedgerScan) -> LedgerScan {
        self.latest.extend(later.latest);
        LedgerScan {
            chain: self.chain.then(later.chain),
            marker: self.marker,
            at_marker: self.at_marker.or(later.at_marker),
            latest: self.latest,
        }
    }

    /// The next entry, in seq order, as its canonical form and hashes.
    pub fn push(&mut self, c: &Canonical<'_>, prev_hash: &str, hash: &str) {
        self.chain.push_parts(c, prev_hash, hash);
        if self.marker.as_ref().is_some_and(|m| m.seq == c.seq) {
            self.at_marker = Some(hash.to_string());
        }
        if c.kind != LedgerKind::Decision {
            // An acknowledgement decides nothing: no stored decision to match.
            return;
        }
        let latest = (c.status, c.source, c.at_ms, c.revision);
        match self.latest.get_mut(c.purpose) {
            Some(l) => *l = latest,
            None => {
                self.latest.insert(c.purpose.to_string(), latest);
            }
        }
    }

    /// Why the store cannot be trusted, if it cannot: the chain breaks, a
    /// stored decision is not what the ledger last recorded for its purpose,
    /// or the ledger (ending at `head`) is not the one the marker names.
    pub fn finish(
        self,
        decisions: &HashMap<String, StoredDecision>,
        head: &Head,
        anchor: &Anchor,
    ) -> Result<(), String> {
        let check = self.chain.finish();
        if let Some(problem) = check.problem {
            return Err(format!("the consent ledger does not verify: {problem}"));
        }
        // Seqs are SQLite integers: past i64::MAX they were negative on
        // disk, and a head anywhere near it leaves no room to append (no real
        // ledger gets within 2^62 entries of it).
        if head.seq > MAX_HEAD_SEQ {
            return Err(format!(
                "the consent ledger's seqs run out of range (entry {})",
                head.seq
            ));
        }
        for (purpose, d) in decisions {
            if self.latest.get(purpose) != Some(&(d.status, d.source, d.decided_at_ms, d.revision))
            {
                return Err(format!(
                    "the stored decision for purpose \"{purpose}\" is not the one the consent ledger last recorded"
                ));
            }
        }
        if let Some(purpose) = self.latest.keys().find(|p| !decisions.contains_key(*p)) {
            return Err(format!(
                "the consent ledger records purpose \"{purpose}\" but no stored decision is readable for it"
            ));
        }
        let Some(marker) = self.marker else {
            return Ok(());
        };
        if head.seq < marker.seq {
            return Err(format!(
                "the database is older than the last consent decision recorded beside it (ledger entry {}, the file ends at {}): an old copy or a stale write-ahead log",
                marker.seq, head.seq
            ));
        }
        match self.at_marker {
            Some(hash) if hash != marker.hash => Err(format!(
                "the consent ledger is not the one last written here (entry {} differs): a write-ahead log or database of another installation",
                marker.seq
            )),
            // The entry was pruned since, or is the genesis: nothing to compare.
            _ if marker.seq <= anchor.seq => Ok(()),
            None if marker.seq > 0 => Err(format!(
                "the consent ledger lacks entry {} recorded beside it",
                marker.seq
            )),
            _ => Ok(()),
        }
    }
}

/// Why a database that is missing, empty or without a schema (what a fresh
/// install has) is not simply a fresh install: the marker beside it says
/// consent decisions were recorded, so the file was lost or replaced.
pub(crate) fn fresh_problem(db: &Path) -> Option<String> {
    let marker = read_head(db).filter(|m| m.seq > 0)?;
    Some(format!(
        "the database holds nothing, though consent decisions were recorded beside it (ledger entry {}): the file was lost or replaced",
        marker.seq
    ))
}
