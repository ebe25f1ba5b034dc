//! `acknowledge_policy`: the user was shown a policy change that needs no
//! new consent (`crate::acknowledge`). One durable transaction appends a
//! ledger entry of kind `acknowledgement` (revision and policy hash in
//! force, time, source, the revision shown before; hash-chained like every
//! entry, G5) and moves the notice revision to the revision in force; then
//! the new state, without `needs_acknowledgement`, is published. Nothing
//! else clears it: recording events, flushing and reopening leave it due.

use super::open::NOTICE_REVISION;
use super::{user_source, Db, Engine};
use crate::acknowledge;
use crate::consent::{ConsentSource, ConsentState, ConsentStatus};
use crate::error::Result;
use crate::ledger::{LedgerEntry, LedgerKind};

impl Engine {
    /// Records that the user was shown the policy change due (`banner`,
    /// `settings` or `api`). With nothing due it is a no-op: no ledger
    /// entry, the state returned as it is.
    pub fn acknowledge_policy(&self, source: ConsentSource) -> Result<ConsentState> {
        user_source(source)?;
        self.change(|e, db| e.acknowledge(db, source))
    }

    /// The acknowledgement's transaction; false when nothing was due.
    fn acknowledge(&self, db: &mut Db, source: ConsentSource) -> Result<bool> {
        let Some(change) = acknowledge::due(&self.policy, db.notice_revision) else {
            return Ok(false);
        };
        let entry = LedgerEntry {
            seq: 0,
            txn: 0,
            at_ms: self.clock.now_ms(),
            kind: LedgerKind::Acknowledgement,
            purpose: String::new(),
            status: ConsentStatus::Unset,
            source,
            policy_id: self.policy.policy_id.clone(),
            revision: change.to_revision,
            acknowledged_from: Some(change.from_revision),
            policy_hash: self.policy.hash.clone(),
            app_version: self.app_version.clone(),
            region: self.region.clone(),
            installation_id: db.installation_id.clone(),
            signal_hash: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
        db.store.write(true, |txn| {
            txn.append_ledger(entry)?;
            txn.set_meta(NOTICE_REVISION, &self.policy.revision.to_string())
        })?;
        log::debug!(
            "consentgate: policy revision {} acknowledged (was {}, {})",
            change.to_revision,
            change.from_revision,
            source.as_str()
        );
        db.notice_revision = self.policy.revision;
        // A later acknowledgement may make the first one prunable.
        db.ledger_due_ms = self.ledger_due(db);
        // Publishes the state without the change due (nothing more to write).
        self.apply(db, &[], &[])
    }
}
