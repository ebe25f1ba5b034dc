//! Deletion requests (G6): the ticket the app sees, the request body of SPEC
//! §5, reading the backend's receipt, and `request_deletion`, which creates
//! them. Tickets are stored by `store` and driven by `upload` (which sends
//! them before any other upload, retries them across restarts and never
//! evicts them).

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::store::DeletionRow;
use crate::upload::{gzip, headers, UploadRequest};

/// Where a deletion request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DeletionStatus {
    /// Not yet acknowledged by every endpoint; retried until it is.
    Pending,
    /// Every endpoint acknowledged; the last receipt is kept.
    Acknowledged {
        /// The backend's receipt id.
        receipt_id: String,
        /// `accepted` or `completed`, as the backend said.
        status: String,
    },
    /// An endpoint refused the request (4xx); show it to the user.
    Failed {
        /// The HTTP status.
        status: u16,
    },
}

/// A deletion request as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct DeletionTicket {
    /// Idempotency key of the request.
    pub request_id: String,
    /// When the user asked.
    pub created_at_ms: i64,
    /// Every installation id the request covers.
    pub installation_ids: Vec<String>,
    /// Every endpoint it goes to.
    pub endpoints: Vec<String>,
    /// The reason given.
    pub reason: Option<String>,
    /// Where it stands.
    pub status: DeletionStatus,
}

/// Told when a deletion ticket changes (created, acknowledged, failed).
#[uniffi::export(with_foreign)]
pub trait DeletionListener: Send + Sync {
    /// The ticket after the change.
    fn on_deletion_changed(&self, ticket: DeletionTicket);
}

impl From<&DeletionRow> for DeletionTicket {
    fn from(r: &DeletionRow) -> Self {
        let status = match r.status.as_str() {
            "acknowledged" => DeletionStatus::Acknowledged {
                receipt_id: r.receipt_id.clone().unwrap_or_default(),
                status: r
                    .receipt_status
                    .clone()
                    .unwrap_or_else(|| "accepted".into()),
            },
            "failed" => DeletionStatus::Failed {
                status: r.failed_status.unwrap_or(400),
            },
            _ => DeletionStatus::Pending,
        };
        DeletionTicket {
            request_id: r.request_id.clone(),
            created_at_ms: r.created_ms,
            installation_ids: r.installation_ids.clone(),
            endpoints: r.endpoints.clone(),
            reason: r.reason.clone(),
            status,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    request_id: &'a str,
    installation_ids: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    requested_at: String,
    reason: &'a str,
    policy: PolicyRef<'a>,
}

#[derive(Serialize)]
struct PolicyRef<'a> {
    id: &'a str,
    revision: u32,
}

/// The request that delivers `row` to `endpoint`.
pub(crate) fn request(row: &DeletionRow, endpoint: &str) -> UploadRequest {
    let body = Body {
        request_id: &row.request_id,
        installation_ids: &row.installation_ids,
        user_id: row.user_id.as_deref(),
        requested_at: rfc3339(row.created_ms),
        reason: row.reason.as_deref().unwrap_or("user_request"),
        policy: PolicyRef {
            id: &row.policy_id,
            revision: row.revision,
        },
    };
    UploadRequest {
        request_id: row.request_id.clone(),
        method: "POST".into(),
        url: format!("{endpoint}/v1/deletion"),
        headers: headers(&row.request_id),
        body: gzip(&serde_json::to_vec(&body).unwrap_or_default()),
    }
}

#[derive(Deserialize)]
struct Receipt {
    receipt_id: String,
    #[serde(default)]
    status: Option<String>,
}

/// Reads `{"receipt_id": …, "status": …}` from a 2xx reply body.
pub(crate) fn parse_receipt(body: Option<&str>) -> Option<(String, String)> {
    let r: Receipt = serde_json::from_str(body?).ok()?;
    Some((r.receipt_id, r.status.unwrap_or_else(|| "accepted".into())))
}

// ---------------------------------------------------------------------------
// The gate's side: creating tickets and telling the host.

use std::sync::Arc;

use crate::consent::ConsentSource;
use crate::error::GateError;
use crate::gate::{lock, ConsentGate, Inner};

/// Longest accepted reason.
const MAX_REASON_BYTES: usize = 200;

#[uniffi::export]
impl ConsentGate {
    /// The user asks to be forgotten (G6). In one durable transaction: every
    /// consent purpose is revoked (ledger source `deletion`), the queue is
    /// emptied, the user id and collected device data are cleared, the
    /// installation id is rotated, and a ticket naming every installation id
    /// whose data reached an endpoint (and every such endpoint) is stored. The
    /// ticket is sent before any other upload, whatever the consent, retried
    /// across restarts until the backend acknowledges it, and never evicted.
    pub fn request_deletion(&self, reason: Option<String>) -> Result<DeletionTicket, GateError> {
        if let Some(r) = &reason {
            if r.is_empty() || r.len() > MAX_REASON_BYTES {
                return Err(GateError::InvalidArgument {
                    message: format!(
                        "reason must be 1 to {MAX_REASON_BYTES} bytes, got {}",
                        r.len()
                    ),
                });
            }
        }
        self.check_open()?;
        let inner = &self.inner;
        let ticket = {
            let mut db = lock(&inner.db);
            let now = inner.clock.now_ms();
            let old_id = db.installation_id.clone();
            let new_id = uuid::Uuid::new_v4().to_string();
            let mut installation_ids = vec![old_id.clone()];
            let mut endpoints: Vec<String> = Vec::new();
            for (id, endpoint) in db.store.endpoints_used()? {
                if !installation_ids.contains(&id) {
                    installation_ids.push(id);
                }
                if !endpoints.contains(&endpoint) {
                    endpoints.push(endpoint);
                }
            }
            // The region's endpoint hears of it even if nothing was ever sent:
            // the backend may hold data about the user from elsewhere.
            if let Some((e, _)) = inner.policy.endpoint_for(inner.region.as_deref()) {
                if !endpoints.contains(&e.url) {
                    endpoints.push(e.url.clone());
                }
            }
            let user_id = db
                .store
                .meta("user_id")?
                .or_else(|| lock(&inner.collected).user_id.clone());
            let row = DeletionRow {
                request_id: uuid::Uuid::new_v4().to_string(),
                created_ms: now,
                installation_ids,
                user_id,
                reason,
                pending_endpoints: endpoints.clone(),
                endpoints,
                policy_id: inner.policy.policy_id.clone(),
                revision: inner.policy.revision,
                status: "pending".into(),
                receipt_id: None,
                receipt_status: None,
                failed_status: None,
                attempts: 0,
                next_attempt_ms: now,
                receiptless: 0,
            };
            let changes = inner.force_denied(|_| true, ConsentSource::Deletion);
            let meta = [("installation_id", Some(new_id.clone())), ("user_id", None)];
            let erase = |t: &mut crate::store::Txn<'_>| -> crate::error::Result<()> {
                t.put_deletion(&row)?;
                t.clear_endpoints_used()
            };
            inner.apply_with(&mut db, &changes, &meta, Some(&erase))?;
            db.installation_id = new_id;
            db.in_flight.clear();
            let mut collected = lock(&inner.collected);
            *collected = Default::default();
            log::info!(
                "consentgate: deletion requested; local data erased, installation id rotated"
            );
            DeletionTicket::from(&row)
        };
        inner.notify();
        inner.notify_deletion(ticket.clone());
        Ok(ticket)
    }

    /// Every deletion request made on this device, oldest first.
    pub fn deletion_requests(&self) -> Vec<DeletionTicket> {
        match lock(&self.inner.db).store.deletions() {
            Ok(rows) => rows.iter().map(DeletionTicket::from).collect(),
            Err(e) => {
                log::warn!("consentgate: could not read deletion requests: {e}");
                Vec::new()
            }
        }
    }

    /// Sets the listener told when a deletion ticket changes.
    pub fn set_deletion_listener(&self, listener: Arc<dyn DeletionListener>) {
        *lock(&self.inner.deletion_listener) = Some(listener);
    }
}

impl Inner {
    /// Tells the deletion listener, outside every lock.
    pub(crate) fn notify_deletion(&self, ticket: DeletionTicket) {
        let listener = lock(&self.deletion_listener).clone();
        if let Some(l) = listener {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                l.on_deletion_changed(ticket)
            }))
            .is_err()
            {
                log::warn!("consentgate: the DeletionListener threw; the ticket stands");
            }
        }
    }
}
