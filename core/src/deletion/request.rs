//! The deletion request body of SPEC §5 and the receipt a 2xx reply carries.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::ticket::Ticket;
use crate::wire::{post, UploadRequest};

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

/// The request that delivers `ticket` to `endpoint`.
pub(super) fn request(ticket: &Ticket, endpoint: &str) -> UploadRequest {
    let body = Body {
        request_id: &ticket.request_id,
        installation_ids: &ticket.installation_ids,
        user_id: ticket.user_id.as_deref(),
        requested_at: rfc3339(ticket.created_ms),
        reason: ticket.reason.as_deref().unwrap_or("user_request"),
        policy: PolicyRef {
            id: &ticket.policy_id,
            revision: ticket.revision,
        },
    };
    post(
        &ticket.request_id,
        format!("{endpoint}/v1/deletion"),
        &serde_json::to_vec(&body).unwrap_or_default(),
    )
}

#[derive(Deserialize)]
struct Receipt {
    receipt_id: String,
    #[serde(default)]
    status: Option<String>,
}

/// Reads `{"receipt_id": …, "status": …}` from a 2xx reply body.
pub(super) fn parse_receipt(body: Option<&str>) -> Option<(String, String)> {
    let r: Receipt = serde_json::from_str(body?).ok()?;
    Some((r.receipt_id, r.status.unwrap_or_else(|| "accepted".into())))
}
