//! Pull-based upload (SPEC §4, §5): the core decides what to send and when,
//! the host does the HTTP. This module owns the [`Uploader`] foreign trait
//! and the [`FlushReport`], which request goes next and what a reply does
//! (`next`: deletion tickets first, then the pending batch under its stable
//! id, then a new batch of records allowed now — G2), and how a batch body
//! is built from what is allowed at hand-out time (`batch`).
//!
//! It works on what the engine hands it under the store lock ([`Outbox`],
//! [`Sendable`]) and never takes a lock itself. Deletion tickets are
//! delivered by `deletion`; the wire basics are in `wire`.

mod batch;
mod next;

pub(crate) use next::{complete, next_task};

use serde::Serialize;

use crate::device::{Collected, PlatformSignals};
use crate::policy::Policy;
use crate::queue::DiskQueue;
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::ticket::DeletionTicket;
use crate::wire::{InFlight, UploadRequest, UploadResult};

/// Sends requests with the host's HTTP stack (OkHttp, URLSession…).
#[uniffi::export(with_foreign)]
pub trait Uploader: Send + Sync {
    /// Sends `request` and reports how it ended. Never throws: failures are
    /// `NetworkError`.
    fn send(&self, request: UploadRequest) -> UploadResult;
}

/// What one `flush` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct FlushReport {
    /// Requests sent.
    pub requests: i32,
    /// Batches the backend accepted.
    pub batches_delivered: i32,
    /// Events the backend accepted.
    pub events_delivered: i64,
    /// Events dropped because the backend refused their batch (4xx).
    pub events_rejected: i64,
    /// Requests that will be retried (408, 429, 5xx, network errors).
    pub retries: i32,
    /// Deletion requests acknowledged.
    pub deletions_acknowledged: i32,
    /// Deletion requests the backend refused (4xx).
    pub deletions_failed: i32,
    /// Set when flush stopped because of backoff: when to try again.
    pub wait_ms: Option<i64>,
}

impl FlushReport {
    /// Counts what one reply did.
    pub(crate) fn add(&mut self, completed: &Completed) {
        match completed {
            Completed::Unknown => {}
            Completed::Batch(BatchOutcome::Delivered(n)) => {
                self.batches_delivered += 1;
                self.events_delivered += *n as i64;
            }
            Completed::Batch(BatchOutcome::Refused(n)) => self.events_rejected += *n as i64,
            Completed::Batch(BatchOutcome::Retry) => self.retries += 1,
            Completed::Deletion { ticket, retry } => match ticket.status {
                crate::ticket::DeletionStatus::Acknowledged { .. } => {
                    self.deletions_acknowledged += 1
                }
                crate::ticket::DeletionStatus::Failed { .. } => self.deletions_failed += 1,
                crate::ticket::DeletionStatus::Pending if *retry => self.retries += 1,
                crate::ticket::DeletionStatus::Pending => {}
            },
        }
    }
}

/// What the upload rules read and change, borrowed from the engine's state
/// under the store lock.
pub(crate) struct Outbox<'a> {
    pub store: &'a mut Store,
    pub queue: &'a mut DiskQueue,
    pub in_flight: &'a mut InFlight,
    pub installation_id: &'a str,
}

/// What a request may carry now: the consent in force and what was
/// collected, as the engine sees them at hand-out time.
pub(crate) struct Sendable<'a> {
    pub policy: &'a Policy,
    pub region: Option<&'a str>,
    pub app_version: &'a str,
    pub snapshot: &'a Snapshot,
    pub signals: PlatformSignals,
    pub collected: &'a Collected,
    pub now_ms: i64,
}

/// What one reply did to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOutcome {
    /// Accepted: this many events left the queue.
    Delivered(u64),
    /// Refused (4xx): this many events were dropped.
    Refused(u64),
    /// Kept for another attempt after backoff.
    Retry,
}

/// What one reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Completed {
    /// No pending request has that id (its records were purged meanwhile).
    Unknown,
    /// A batch.
    Batch(BatchOutcome),
    /// A deletion request, as it stands after the reply, and whether another
    /// attempt at the same endpoint is scheduled.
    Deletion { ticket: DeletionTicket, retry: bool },
}
