//! Delivering deletion tickets: which one goes next (pending tickets block
//! every other upload), and what a reply does — a receipt acknowledges the
//! endpoint, a 4xx marks the ticket failed for the app to show, anything
//! else retries with backoff under the same request id, across restarts.

use super::request::{parse_receipt, request};
use crate::error::Result;
use crate::store::Store;
use crate::ticket::{DeletionStatus, DeletionTicket, Ticket};
use crate::wire::{
    backoff_ms, classify, InFlight, Reply, UploadResult, UploadTask, IN_FLIGHT_RECHECK_MS,
};

/// A 2xx deletion reply without a receipt is accepted after this many tries.
const RECEIPTLESS_ACCEPT_AFTER: u32 = 5;

/// The deletion request to send now, if any is pending: `Upload` for one
/// that is due, `Wait` while every pending one is backing off or out with the
/// host. `None` when no ticket is pending (other uploads may go).
pub(crate) fn next(
    store: &Store,
    in_flight: &mut InFlight,
    now: i64,
) -> Result<Option<UploadTask>> {
    let mut wait: Option<i64> = None;
    let mut note_wait = |ms: i64| wait = Some(wait.map_or(ms, |w: i64| w.min(ms)));
    let pending = store.pending_deletions()?;
    for t in &pending {
        if in_flight.contains(&t.request_id) {
            note_wait(IN_FLIGHT_RECHECK_MS);
        } else if t.next_attempt_ms > now {
            note_wait(t.next_attempt_ms - now);
        } else if let Some(endpoint) = t.pending_endpoints.first() {
            in_flight.hand_out(&t.request_id, now);
            return Ok(Some(UploadTask::Upload {
                request: request(t, endpoint),
            }));
        }
    }
    Ok((!pending.is_empty()).then(|| wait.map_or(UploadTask::Done, |ms| UploadTask::Wait { ms })))
}

/// The pending ticket with this request id, if `request_id` names one.
pub(crate) fn pending(store: &Store, request_id: &str) -> Result<Option<Ticket>> {
    Ok(store
        .pending_deletions()?
        .into_iter()
        .find(|t| t.request_id == request_id))
}

/// Applies a reply to `ticket` and stores it (durably: an acknowledged
/// deletion must not be sent forever, a failed one must be shown). Returns
/// the ticket as it now stands and whether another attempt is scheduled.
pub(crate) fn complete(
    store: &mut Store,
    mut ticket: Ticket,
    result: &UploadResult,
    now: i64,
) -> Result<(DeletionTicket, bool)> {
    let receipt = match result {
        UploadResult::Http { body, .. } => parse_receipt(body.as_deref()),
        UploadResult::NetworkError { .. } => None,
    };
    let t = &mut ticket;
    let retry = match (classify(result), receipt) {
        (Reply::Delivered, Some(receipt)) => {
            endpoint_acknowledged(t, Some(receipt));
            false
        }
        (Reply::Refused(status), _) => {
            t.status = DeletionStatus::Failed { status };
            false
        }
        // 2xx without a readable receipt: ask again (the request is
        // idempotent), but a backend that never sends one must not block
        // every later upload: accept it after a few tries.
        (Reply::Delivered, None) => {
            t.attempts += 1;
            t.receiptless += 1;
            if t.receiptless >= RECEIPTLESS_ACCEPT_AFTER {
                endpoint_acknowledged(t, None);
                false
            } else {
                t.next_attempt_ms = now + backoff_ms(t.attempts, &t.request_id, None);
                true
            }
        }
        (Reply::Retry { retry_after_ms }, _) => {
            t.attempts += 1;
            t.next_attempt_ms = now + backoff_ms(t.attempts, &t.request_id, retry_after_ms);
            true
        }
    };
    store.write(true, |txn| txn.put_deletion(&ticket))?;
    log::debug!(
        "consentgate: deletion request now {}",
        ticket.status.columns().0
    );
    Ok(((&ticket).into(), retry))
}

/// One endpoint has acknowledged (with a receipt, or none after the
/// receiptless tries); the ticket is acknowledged, with the last receipt,
/// when no endpoint is left.
fn endpoint_acknowledged(t: &mut Ticket, receipt: Option<(String, String)>) {
    if !t.pending_endpoints.is_empty() {
        t.pending_endpoints.remove(0);
    }
    t.attempts = 0;
    t.receiptless = 0;
    if receipt.is_some() {
        t.receipt = receipt;
    }
    if t.pending_endpoints.is_empty() {
        let (receipt_id, status) = t
            .receipt
            .clone()
            .unwrap_or_else(|| (String::new(), "accepted".into()));
        t.status = DeletionStatus::Acknowledged { receipt_id, status };
    }
}
