//! Uploads and deletion requests under the engine's locks: the `Outbox` and
//! `Sendable` views `upload` works on are built here, under the store lock,
//! with what is collected and allowed at that moment; `flush` loops over
//! them with the host's [`Uploader`]; `request_deletion` runs the erase
//! through the one consent transaction.

use std::sync::Arc;

use super::{lock, Db, Engine};
use crate::consent::ConsentSource;
use crate::device::Collected;
use crate::error::Result;
use crate::ticket::DeletionTicket;
use crate::upload::{self, Completed, FlushReport, Outbox, Sendable, Uploader};
use crate::wire::{UploadResult, UploadTask};

/// Most requests one `flush` sends.
const FLUSH_MAX_REQUESTS: i32 = 100_000;

impl Engine {
    /// What to send next (after committing the buffer, so that it goes too).
    pub fn next_upload(&self) -> Result<UploadTask> {
        self.check_open()?;
        self.commit_buffer()?;
        let mut db = lock(&self.db);
        let collected = lock(&self.collected);
        self.with_outbox(&mut db, &collected, upload::next_task)
    }

    /// Applies a reply, then tells the deletion listener.
    pub fn complete_upload(&self, request_id: &str, result: &UploadResult) -> Result<Completed> {
        self.check_open()?;
        let completed = {
            let mut db = lock(&self.db);
            let now = self.clock.now_ms();
            let db = &mut *db;
            upload::complete(
                &mut Outbox {
                    store: &mut db.store,
                    queue: &mut db.queue,
                    in_flight: &mut db.in_flight,
                    installation_id: &db.installation_id,
                },
                request_id,
                result,
                now,
            )?
        };
        if let Completed::Deletion { ticket, .. } = &completed {
            self.notify_deletion(ticket.clone());
        }
        Ok(completed)
    }

    /// Sends everything that may be sent now through `uploader`, one request
    /// at a time, and stops at the first backoff. One flush at a time: a
    /// request handed out earlier (by `next_upload`) and never completed is
    /// taken back and sent again now, under the same id, instead of blocking
    /// uploads until it times out.
    pub fn flush(&self, uploader: Arc<dyn Uploader>) -> Result<FlushReport> {
        let _one_at_a_time = lock(&self.flushing);
        lock(&self.db).in_flight.clear();
        let mut report = FlushReport::default();
        while report.requests < FLUSH_MAX_REQUESTS {
            match self.next_upload()? {
                UploadTask::Done => return Ok(report),
                UploadTask::Wait { ms } => {
                    report.wait_ms = Some(ms);
                    return Ok(report);
                }
                UploadTask::Upload { request } => {
                    let id = request.request_id.clone();
                    // An uploader that throws has not delivered anything we know of.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        uploader.send(request)
                    }))
                    .unwrap_or_else(|_| UploadResult::NetworkError {
                        message: "the host uploader threw".into(),
                    });
                    report.requests += 1;
                    report.add(&self.complete_upload(&id, &result)?);
                }
            }
        }
        Ok(report)
    }

    /// The user asks to be forgotten (G6): one durable transaction revokes
    /// every consent purpose (ledger source `deletion`), empties the queue,
    /// clears the user id, rotates the installation id and stores the ticket.
    pub fn request_deletion(&self, reason: Option<String>) -> Result<DeletionTicket> {
        crate::deletion::check_reason(reason.as_deref())?;
        self.check_open()?;
        let ticket = {
            let mut db = lock(&self.db);
            let now = self.clock.now_ms();
            let user_id = match db.store.meta("user_id")? {
                Some(id) => Some(id),
                None => lock(&self.collected).user_id.clone(),
            };
            let ticket = crate::deletion::new_ticket(
                &db.store,
                &self.policy,
                self.region.as_deref(),
                &db.installation_id,
                user_id,
                reason,
                now,
            )?;
            let new_id = uuid::Uuid::new_v4().to_string();
            let changes = self.force_denied(|_| true, ConsentSource::Deletion);
            let meta = [("installation_id", Some(new_id.clone())), ("user_id", None)];
            let erase = |t: &mut crate::store::Txn<'_>| crate::deletion::erase_writes(t, &ticket);
            self.apply_with(&mut db, &changes, &meta, Some(&erase), None)?;
            db.installation_id = new_id;
            db.in_flight.clear();
            *lock(&self.collected) = Collected::default();
            log::info!(
                "consentgate: deletion requested; local data erased, installation id rotated"
            );
            DeletionTicket::from(&ticket)
        };
        self.notify();
        self.notify_deletion(ticket.clone());
        Ok(ticket)
    }

    fn with_outbox<T>(
        &self,
        db: &mut Db,
        collected: &Collected,
        f: impl FnOnce(&mut Outbox<'_>, &Sendable<'_>) -> Result<T>,
    ) -> Result<T> {
        let snapshot = self.snapshot.load();
        let now = Sendable {
            policy: &self.policy,
            region: self.region.as_deref(),
            app_version: &self.app_version,
            snapshot: &snapshot,
            signals: db.signals,
            collected,
            now_ms: self.clock.now_ms(),
        };
        f(
            &mut Outbox {
                store: &mut db.store,
                queue: &mut db.queue,
                in_flight: &mut db.in_flight,
                installation_id: &db.installation_id,
            },
            &now,
        )
    }
}
