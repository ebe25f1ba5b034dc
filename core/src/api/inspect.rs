//! The exported inspection calls: queue figures, the ledger and its
//! verification, the data-subject export, the installation id, the consent
//! listener (each delegates to the engine); and, for Rust tools like the
//! CLI, inspecting a data directory without opening a gate on it
//! ([`ledger_at`], [`verify_ledger_at`], [`copy_data_dir`]): nothing there
//! is written or set aside, and it works beside a gate that holds it.

use std::path::Path;
use std::sync::Arc;

use super::ConsentGate;
use crate::consent::ConsentListener;
use crate::error::GateError;
use crate::ledger::{LedgerCheck, LedgerEntry};
use crate::queue::QueueStats;

#[uniffi::export]
impl ConsentGate {
    /// Queue figures (records in memory count as queued).
    pub fn queue_stats(&self) -> QueueStats {
        self.engine.queue_stats()
    }

    /// The retained consent ledger, oldest first.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>, GateError> {
        Ok(self.engine.ledger()?)
    }

    /// Verifies the hash chain and names the first bad entry.
    pub fn verify_ledger(&self) -> Result<LedgerCheck, GateError> {
        Ok(self.engine.verify_ledger()?)
    }

    /// Everything stored locally about the user, as one JSON document (the
    /// data-subject access copy): installation id, user id, policy, consent
    /// state, ledger, receipts, queued records, the batch awaiting upload and
    /// deletion requests (with the earlier installation ids they name).
    pub fn export_data(&self) -> Result<String, GateError> {
        Ok(self.engine.export_data()?)
    }

    /// Sets the listener told after each committed change (and once now, with
    /// the current state). Replaces any earlier listener.
    pub fn set_listener(&self, listener: Arc<dyn ConsentListener>) {
        self.engine.set_listener(listener)
    }

    /// The installation id (a random UUID, rotated by a deletion request).
    pub fn installation_id(&self) -> String {
        self.engine.installation_id()
    }
}

/// The retained ledger of the store in `data_dir`, read through a read-only
/// connection: nothing is written, no policy is needed, and a store that
/// opening would set aside stays where it is to be examined.
///
/// ```no_run
/// let entries = consentgate::ledger_at(std::path::Path::new("/data/app/consentgate"))?;
/// println!("{} entries", entries.len());
/// # Ok::<(), consentgate::GateError>(())
/// ```
pub fn ledger_at(data_dir: &Path) -> Result<Vec<LedgerEntry>, GateError> {
    Ok(crate::store::read_ledger(&crate::store::open_read_only(
        data_dir,
    )?)?)
}

/// The verdict opening the store in `data_dir` would reach — every check
/// open runs (the ledger chain, decisions against the ledger, the head
/// marker, schema and header, a probe of the writes a consent change makes)
/// — reached on a consistent copy, so the store itself is neither upgraded
/// nor set aside. Intact, or why not: the first bad entry is named when the
/// chain breaks.
pub fn verify_ledger_at(data_dir: &Path) -> Result<LedgerCheck, GateError> {
    Ok(crate::store::verdict(data_dir)?)
}

/// Copies the store in `from` into the directory `to` as one consistent
/// moment, even while a gate writes to it: for read-only tools that open a
/// gate on the copy (the CLI's `status` and `export`) instead of the store.
pub fn copy_data_dir(from: &Path, to: &Path) -> Result<(), GateError> {
    Ok(crate::store::copy_data_dir(from, to)?)
}
