//! A deletion request as a value (G6): the [`DeletionTicket`] the app sees,
//! its [`DeletionStatus`] state machine with the one parser of its stored
//! form, and the full stored record ([`Ticket`]) with its retry bookkeeping.
//! Pure data: `deletion` creates and drives tickets, `store` persists them.

use serde::Serialize;

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
        status: i32,
    },
}

impl DeletionStatus {
    /// The stored form: the `status` column and the `failed_status` one (the
    /// receipt columns hold [`Ticket::receipt`]).
    pub(crate) fn columns(&self) -> (&'static str, Option<i32>) {
        match self {
            DeletionStatus::Pending => ("pending", None),
            DeletionStatus::Acknowledged { .. } => ("acknowledged", None),
            DeletionStatus::Failed { status } => ("failed", Some(*status)),
        }
    }

    /// Reads the stored form; `None` for a status this code never writes
    /// (a damaged row: open sets such a store aside, carrying the ticket
    /// over as pending, since sending a deletion twice is harmless and
    /// losing one is not).
    pub(crate) fn from_columns(
        status: &str,
        receipt: Option<&(String, String)>,
        failed_status: Option<i32>,
    ) -> Option<DeletionStatus> {
        Some(match status {
            "pending" => DeletionStatus::Pending,
            "acknowledged" => {
                let (receipt_id, status) = receipt
                    .cloned()
                    .unwrap_or_else(|| (String::new(), "accepted".into()));
                DeletionStatus::Acknowledged { receipt_id, status }
            }
            "failed" => DeletionStatus::Failed {
                status: failed_status.unwrap_or(400),
            },
            _ => return None,
        })
    }

    /// True while the request is still to be delivered.
    pub fn is_pending(&self) -> bool {
        matches!(self, DeletionStatus::Pending)
    }
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

/// A deletion request as stored; never evicted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub request_id: String,
    pub created_ms: i64,
    pub installation_ids: Vec<String>,
    pub user_id: Option<String>,
    pub reason: Option<String>,
    /// Every endpoint the request goes to.
    pub endpoints: Vec<String>,
    /// Endpoints that have not acknowledged yet, in the order they are tried.
    pub pending_endpoints: Vec<String>,
    pub policy_id: String,
    pub revision: u32,
    pub status: DeletionStatus,
    /// The last receipt an endpoint sent (id, `accepted`|`completed`); the
    /// acknowledged status carries it once every endpoint has answered.
    pub receipt: Option<(String, String)>,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    /// 2xx replies without a receipt from the current endpoint.
    pub receiptless: u32,
}

impl From<&Ticket> for DeletionTicket {
    fn from(t: &Ticket) -> Self {
        DeletionTicket {
            request_id: t.request_id.clone(),
            created_at_ms: t.created_ms,
            installation_ids: t.installation_ids.clone(),
            endpoints: t.endpoints.clone(),
            reason: t.reason.clone(),
            status: t.status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_written_and_nothing_else_reads() {
        for s in [
            DeletionStatus::Pending,
            DeletionStatus::Acknowledged {
                receipt_id: "r".into(),
                status: "completed".into(),
            },
            DeletionStatus::Failed { status: 403 },
        ] {
            let receipt = match &s {
                DeletionStatus::Acknowledged { receipt_id, status } => {
                    Some((receipt_id.clone(), status.clone()))
                }
                _ => None,
            };
            let (st, fs) = s.columns();
            assert_eq!(
                DeletionStatus::from_columns(st, receipt.as_ref(), fs),
                Some(s)
            );
        }
        assert_eq!(DeletionStatus::from_columns("pendng", None, None), None);
    }
}
