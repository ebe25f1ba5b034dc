//! The exported inspection calls: queue figures, the ledger and its
//! verification, the data-subject export, the installation id, the consent
//! listener. Each delegates to the engine.

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
