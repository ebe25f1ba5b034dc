//! Deletion requests (G6): creating the ticket for the erase transaction
//! (which installation ids and endpoints it names), the request body and
//! receipt of SPEC §5 (`request`), and its delivery — sent before anything
//! else, retried across restarts, never evicted (`retry`). The ticket and its
//! status enum are values in `ticket`; the transaction that erases the local
//! data with it is the engine's one consent transaction.

mod request;
mod retry;

pub(crate) use retry::{complete, next, pending};

use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::store::{Store, Txn};
use crate::ticket::{DeletionStatus, DeletionTicket, Ticket};

/// Longest accepted reason.
pub const MAX_REASON_BYTES: usize = 200;

/// Told when a deletion ticket changes (created, acknowledged, failed).
#[uniffi::export(with_foreign)]
pub trait DeletionListener: Send + Sync {
    /// The ticket after the change.
    fn on_deletion_changed(&self, ticket: DeletionTicket);
}

/// Checks the reason an app gives.
pub(crate) fn check_reason(reason: Option<&str>) -> Result<()> {
    match reason {
        Some(r) if r.is_empty() || r.len() > MAX_REASON_BYTES => Err(Error::Invalid(format!(
            "reason must be 1 to {MAX_REASON_BYTES} bytes, got {}",
            r.len()
        ))),
        _ => Ok(()),
    }
}

/// The ticket for a request to forget `installation_id`: it names every
/// installation id whose data reached an endpoint (and every such endpoint)
/// since the last request, plus the region's endpoint, which hears of it even
/// if nothing was ever sent (the backend may hold data about the user from
/// elsewhere).
pub(crate) fn new_ticket(
    store: &Store,
    policy: &Policy,
    region: Option<&str>,
    installation_id: &str,
    user_id: Option<String>,
    reason: Option<String>,
    now_ms: i64,
) -> Result<Ticket> {
    let mut installation_ids = vec![installation_id.to_string()];
    let mut endpoints: Vec<String> = Vec::new();
    for (id, endpoint) in store.endpoints_used()? {
        if !installation_ids.contains(&id) {
            installation_ids.push(id);
        }
        if !endpoints.contains(&endpoint) {
            endpoints.push(endpoint);
        }
    }
    if let Some((e, _)) = policy.endpoint_for(region) {
        if !endpoints.contains(&e.url) {
            endpoints.push(e.url.clone());
        }
    }
    Ok(Ticket {
        request_id: uuid::Uuid::new_v4().to_string(),
        created_ms: now_ms,
        installation_ids,
        user_id,
        reason,
        pending_endpoints: endpoints.clone(),
        endpoints,
        policy_id: policy.policy_id.clone(),
        revision: policy.revision,
        status: DeletionStatus::Pending,
        receipt: None,
        attempts: 0,
        next_attempt_ms: now_ms,
        receiptless: 0,
    })
}

/// The deletion's own writes in the erase transaction: the ticket, and the
/// endpoints it now covers forgotten.
pub(crate) fn erase_writes(txn: &mut Txn<'_>, ticket: &Ticket) -> Result<()> {
    txn.put_deletion(ticket)?;
    txn.clear_endpoints_used()
}
