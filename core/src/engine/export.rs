//! The data-subject access copy: everything stored locally about the user,
//! as one JSON document (installation id, user id, policy, consent state,
//! ledger, receipts, queued records, the batch awaiting upload, deletion
//! requests with the earlier installation ids they name, and the device
//! fields and install referrer held in memory).

use serde_json::{json, Value};

use super::{lock, Engine};
use crate::error::{Error, Result};
use crate::ledger;
use crate::ticket::DeletionTicket;

impl Engine {
    /// Everything stored locally, as one JSON document.
    pub fn export_data(&self) -> Result<String> {
        self.commit_buffer()?;
        let db = lock(&self.db);
        let entries = db.store.ledger()?;
        let mut records = Vec::new();
        for p in db.store.partitions() {
            let mut after = 0;
            loop {
                let chunk = db.store.records(p, after, 10_000)?;
                let Some(last) = chunk.last() else { break };
                after = last.seq;
                records.extend(chunk.into_iter().map(|r| {
                    json!({"seq": r.seq, "name": r.name, "ts": crate::clock::rfc3339(r.ts_ms),
                           "categories": p.categories,
                           "props": r.props.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok())})
                }));
            }
        }
        let collected = lock(&self.collected);
        let doc = json!({
            "exported_at": crate::clock::rfc3339(self.clock.now_ms()),
            "installation_id": db.installation_id,
            "user_id": db.store.meta("user_id")?,
            "region": self.region,
            "app_version": self.app_version,
            "policy": {
                "id": self.policy.policy_id,
                "revision": self.policy.revision,
                "hash": self.policy.hash,
                "document": serde_json::from_str::<Value>(&self.policy.canonical_json).unwrap_or(Value::Null),
            },
            "consent": self.snapshot.load().state,
            "age": {"age_years": db.age.age_years, "parental_consent": db.age.parental_consent},
            "ledger": entries,
            "receipts": ledger::receipts(&self.policy, &entries),
            "queue": records,
            "deletion_requests": db.store.deletions()?.iter().map(DeletionTicket::from).collect::<Vec<_>>(),
            "pending_batches": db.store.pending_batch()?.map(|b| json!({"batch_id": b.batch_id, "endpoint": b.endpoint, "first_seq": b.first_seq, "last_seq": b.last_seq, "attempts": b.attempts})),
            "device_in_memory": collected.device,
            "install_referrer_in_memory": collected.install_referrer,
        });
        serde_json::to_string_pretty(&doc).map_err(|e| {
            Error::Gate(crate::GateError::Internal {
                message: e.to_string(),
            })
        })
    }
}
