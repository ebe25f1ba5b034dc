//! The exported upload and deletion calls: the pull-based `next_upload` /
//! `complete_upload` pair, `flush` with the host's uploader, and deletion
//! requests. Each delegates to the engine.

use std::sync::Arc;

use super::ConsentGate;
use crate::deletion::DeletionListener;
use crate::error::GateError;
use crate::ticket::DeletionTicket;
use crate::upload::{FlushReport, Uploader};
use crate::wire::{UploadResult, UploadTask};

#[uniffi::export]
impl ConsentGate {
    /// What to send next: a deletion request first (always, whatever the
    /// consent), then a batch already built (resent with the same
    /// `batch_id`), then a new batch of allowed records for the region's
    /// endpoint; `Wait` while backing off; `Done` when nothing may be sent.
    pub fn next_upload(&self) -> Result<UploadTask, GateError> {
        Ok(self.engine.next_upload()?)
    }

    /// Reports how the request `request_id` ended. 2xx: delivered and
    /// removed; other 4xx than 408/429: dropped and counted (a deletion
    /// request is marked failed); 408, 429, 5xx and network errors: retried
    /// with backoff under the same id. An unknown id is ignored (its records
    /// were purged meanwhile).
    pub fn complete_upload(
        &self,
        request_id: String,
        result: UploadResult,
    ) -> Result<(), GateError> {
        self.engine.complete_upload(&request_id, &result)?;
        Ok(())
    }

    /// Sends everything that may be sent now through `uploader`, one request
    /// at a time, and stops at the first backoff (`wait_ms` says when the
    /// next try is due). Flushes of one gate run one at a time; a request
    /// handed out by `next_upload` and never completed is taken back and
    /// sent again by the next flush, under the same id (the backend
    /// deduplicates). Returns what happened.
    pub fn flush(&self, uploader: Arc<dyn Uploader>) -> Result<FlushReport, GateError> {
        Ok(self.engine.flush(uploader)?)
    }

    /// The user asks to be forgotten (G6). In one durable transaction: every
    /// consent purpose is revoked (ledger source `deletion`), the queue is
    /// emptied, the user id and collected device data are cleared, the
    /// installation id is rotated, and a ticket naming every installation id
    /// whose data reached an endpoint (and every such endpoint) is stored. The
    /// ticket is sent before any other upload, whatever the consent, retried
    /// across restarts until the backend acknowledges it, and never evicted.
    pub fn request_deletion(&self, reason: Option<String>) -> Result<DeletionTicket, GateError> {
        Ok(self.engine.request_deletion(reason)?)
    }

    /// Every deletion request made on this device, oldest first (empty, with
    /// a warning in the log, if the store cannot be read).
    pub fn deletion_requests(&self) -> Vec<DeletionTicket> {
        self.engine.deletion_requests().unwrap_or_else(|e| {
            log::warn!("consentgate: could not read deletion requests: {e}");
            Vec::new()
        })
    }

    /// Sets the listener told when a deletion ticket changes.
    pub fn set_deletion_listener(&self, listener: Arc<dyn DeletionListener>) {
        self.engine.set_deletion_listener(listener)
    }
}
