//! The one consent transaction. Every change of consent — the user's, the
//! age gate, GPC, expiry, a material revision, a deletion request — goes
//! through [`Engine::apply`]: the decision rows, one ledger entry per changed
//! purpose (hash-chained, G5), the purge of every queue partition that needs
//! a purpose no longer granted and of its pending batches (G3), the user id
//! if `account_id` is no longer allowed, and any extra writes (a deletion's
//! erase), in one SQLite transaction with `synchronous = FULL` (G4). After
//! the commit, under the buffer lock, the new snapshot is published and the
//! buffer purged. If the commit fails nothing changed (G7) — unless SQLite
//! reports the file damaged: then `recovery` sets it aside and the change is
//! applied on a fresh store, so a withdrawal never fails for a damaged file.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{lock, Db, Engine};
use crate::consent::{self, Change, ConsentSource, Facts, StoredDecision};
use crate::error::Result;
use crate::ledger::{LedgerEntry, LedgerKind};
use crate::queue;
use crate::snapshot::Snapshot;
use crate::store::Txn;

/// Writes a caller adds to a consent transaction.
pub(super) type ExtraWrites<'a> = &'a dyn Fn(&mut Txn<'_>) -> Result<()>;

impl Engine {
    /// Applies `changes` and `meta` writes in one durable transaction with
    /// their ledger entries and the purge of everything no longer allowed,
    /// then publishes the new snapshot and purges the buffer. Returns whether
    /// anything changed. On error nothing changed.
    pub(super) fn apply(
        &self,
        db: &mut Db,
        changes: &[Change],
        meta: &[(&str, Option<String>)],
    ) -> Result<bool> {
        self.apply_with(db, changes, meta, None, None)
    }

    /// [`Engine::apply`] for changes read from another CMP's string: each
    /// ledger entry keeps `signal_hash`, the string's sha256.
    pub(super) fn apply_signal(
        &self,
        db: &mut Db,
        changes: &[Change],
        meta: &[(&str, Option<String>)],
        signal_hash: &str,
    ) -> Result<bool> {
        self.apply_with(db, changes, meta, None, Some(signal_hash))
    }

    /// [`Engine::apply`] with `erase`: also empty every partition and run the
    /// extra writes in the same transaction (a deletion request).
    ///
    /// Some damage SQLite finds only when a page is written. A user's
    /// decision (a withdrawal above all) must not fail for it: the damaged
    /// store is set aside, the gate goes on with a fresh, fail-closed one
    /// (see [`Engine::recover_store`]) and the change is applied there.
    pub(super) fn apply_with(
        &self,
        db: &mut Db,
        changes: &[Change],
        meta: &[(&str, Option<String>)],
        erase: Option<ExtraWrites<'_>>,
        signal_hash: Option<&str>,
    ) -> Result<bool> {
        match self.apply_once(db, changes, meta, erase, signal_hash, true) {
            Err(e) if e.is_damage() => {
                self.recover_store(db, &e)?;
                // The app has not seen the notice yet: this change keeps it.
                self.apply_once(db, changes, meta, erase, signal_hash, false)
            }
            other => other,
        }
    }

    /// One attempt of [`Engine::apply_with`]; a user's decision clears the
    /// `store_recovery` notice only when `may_clear_recovery`.
    fn apply_once(
        &self,
        db: &mut Db,
        changes: &[Change],
        meta: &[(&str, Option<String>)],
        erase: Option<ExtraWrites<'_>>,
        signal_hash: Option<&str>,
        may_clear_recovery: bool,
    ) -> Result<bool> {
        let now = self.clock.now_ms();
        let mut decisions = db.decisions.clone();
        for c in changes {
            decisions.insert(
                self.policy.purposes[c.purpose].id.clone(),
                StoredDecision {
                    status: c.to,
                    decided_at_ms: now,
                    source: c.source,
                    revision: self.policy.revision,
                    reason: c.reason,
                },
            );
        }
        let mut eval = consent::evaluate(
            &self.policy,
            &Facts {
                decisions: &decisions,
                first_seen: &db.first_seen,
                install_revision: db.install_revision,
                notice_revision: db.notice_revision,
                restrictions: self.restrictions(db),
                now_ms: now,
            },
        );
        // The interop view; being the CMP, also the strings and keys of this
        // state, written after the commit (and before the call returns).
        let (interop, pending) = self.interop_for(db, eval.granted, &eval.state, now);
        eval.state.interop = interop;
        let old = self.snapshot.load_full();
        let purge: Vec<_> = db
            .store
            .partitions()
            .iter()
            .filter(|p| {
                erase.is_some()
                    || queue::partition_purposes(&self.policy, &p.categories) & !eval.granted != 0
            })
            .filter(|p| db.queue.counts.get(&p.id).is_some_and(|c| c.events > 0))
            .cloned()
            .collect();
        let account_allowed = self
            .policy
            .reserved
            .account_id
            .is_some_and(|c| self.policy.category_purpose_mask(c) & !eval.granted == 0);
        if changes.is_empty()
            && pending.is_none()
            && erase.is_none()
            && meta.is_empty()
            && purge.is_empty()
            && old.granted == eval.granted
            && old.state == {
                let mut s = eval.state.clone();
                s.store_recovery = db.recovery.clone();
                s.version = old.state.version;
                s
            }
        {
            return Ok(false);
        }
        let policy = &self.policy;
        let installation_id = db.installation_id.clone();
        let clears_recovery = db.recovery.is_some()
            && may_clear_recovery
            && changes.iter().any(|c| {
                matches!(
                    c.source,
                    ConsentSource::Banner | ConsentSource::Settings | ConsentSource::Api
                )
            });
        for c in changes {
            log::debug!(
                "consentgate: purpose {} -> {} ({})",
                self.policy.purposes[c.purpose].id,
                c.to.as_str(),
                c.source.as_str()
            );
        }
        // Only the snapshot changes (e.g. the first evaluation at open): no write.
        // (Clearing the recovery notice always comes with a change.)
        let needs_write =
            !changes.is_empty() || !meta.is_empty() || !purge.is_empty() || erase.is_some();
        if needs_write {
            db.store.write(true, |txn: &mut Txn<'_>| {
                let mut group = 0i64;
                for c in changes {
                    let p = &policy.purposes[c.purpose];
                    txn.put_decision(&p.id, &decisions[&p.id])?;
                    let e = txn.append_ledger(LedgerEntry {
                        seq: 0,
                        txn: group,
                        at_ms: now,
                        kind: LedgerKind::Decision,
                        purpose: p.id.clone(),
                        status: c.to,
                        source: c.source,
                        policy_id: policy.policy_id.clone(),
                        revision: i64::from(policy.revision),
                        acknowledged_from: None,
                        policy_hash: policy.hash.clone(),
                        app_version: self.app_version.clone(),
                        region: self.region.clone(),
                        installation_id: installation_id.clone(),
                        signal_hash: signal_hash.map(str::to_string),
                        prev_hash: String::new(),
                        hash: String::new(),
                    })?;
                    group = e.txn;
                }
                for p in &purge {
                    txn.clear_partition(p)?;
                    txn.delete_batches_of(p.id)?;
                }
                if let Some(extra) = erase {
                    extra(txn)?;
                }
                if clears_recovery {
                    txn.clear_recovery()?;
                }
                for (k, v) in meta {
                    match v {
                        Some(v) => txn.set_meta(k, v)?,
                        None => txn.delete_meta(k)?,
                    }
                }
                if !account_allowed {
                    txn.delete_meta("user_id")?;
                }
                Ok(())
            })?;
        }
        db.decisions = decisions;
        if clears_recovery {
            db.recovery = None;
        }
        for p in &purge {
            db.queue.counts.insert(p.id, Default::default());
        }
        let mut state = eval.state;
        state.store_recovery = db.recovery.clone();
        state.version = old.state.version + 1;
        let snapshot = Arc::new(Snapshot::new(&self.policy, eval.granted, state));
        let revokes_usage = self.usage_purposes & old.granted & !eval.granted != 0;
        let allowed = snapshot.allowed;
        {
            let mut buffer = lock(&self.buffer);
            if revokes_usage {
                // Events a host buffered under an earlier version must not
                // land now (G3); read under this lock by `record_captured`.
                buffer.revoked_version = snapshot.state.version;
            }
            self.allowed.store(allowed, Ordering::Release);
            self.snapshot.store(snapshot);
            buffer.purge(eval.granted);
        }
        lock(&self.collected).retain_allowed(&self.policy, allowed);
        if let Some(w) = pending {
            self.push_write(db, eval.granted, w);
        }
        db.next_expiry_ms = eval.next_expiry_ms;
        if !changes.is_empty() {
            // A new ledger entry may make the first one prunable.
            db.ledger_due_ms = self.ledger_due(db);
        }
        Ok(true)
    }
}
