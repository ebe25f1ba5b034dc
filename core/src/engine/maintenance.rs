//! Maintenance: what time does to consent and to the queue. Expired
//! decisions (`consent_ttl_days`) and ones a material revision superseded
//! are retired (ledger sources `expiry`, `migration`) through the one consent
//! transaction, which purges what they covered; events past `event_ttl_days`
//! are evicted and counted (G8); the ledger is pruned behind an anchor after
//! `ledger_retention_days`. [`Engine::next_due`] says when any of this has
//! work next, so the writer thread can sleep until then and not before.

use super::{Db, Engine};
use crate::clock::DAY_MS;
use crate::consent::{self, Change, ConsentSource, ConsentStatus, Facts, PromptReason};
use crate::error::Result;
use crate::queue;

impl Engine {
    /// Retires expired or superseded decisions (ledger source `expiry` or
    /// `migration`), purges what is no longer allowed, and enforces the
    /// event TTL and ledger retention. Run at open, when [`Engine::next_due`]
    /// says so, and to publish a fresh store's snapshot.
    pub(super) fn maintain(&self, db: &mut Db) -> Result<bool> {
        let now = self.clock.now_ms();
        let eval = consent::evaluate(
            &self.policy,
            &Facts {
                decisions: &db.decisions,
                first_seen: &db.first_seen,
                install_revision: db.install_revision,
                notice_revision: db.notice_revision,
                restrictions: self.restrictions(db),
                now_ms: now,
            },
        );
        let changes: Vec<Change> = eval
            .retired
            .iter()
            .map(|r| Change {
                purpose: r.purpose,
                to: ConsentStatus::Unset,
                source: if r.reason == PromptReason::Expired {
                    ConsentSource::Expiry
                } else {
                    ConsentSource::Migration
                },
                reason: Some(r.reason),
            })
            .collect();
        let changed = self.apply(db, &changes, &[])?;
        self.enforce_retention(db, now)?;
        db.next_expiry_ms = eval.next_expiry_ms;
        db.ledger_due_ms = self.ledger_due(db);
        Ok(changed)
    }

    /// When maintenance has work next, by the clock: the earliest expiry of
    /// a decision in force, the oldest queued record's TTL, the next ledger
    /// prune — or, after a failure, the retry. `None`: nothing will ever be
    /// due until something changes (a decision, a record, a ledger entry).
    pub(super) fn next_due(&self, db: &Db) -> Option<i64> {
        if db.retry_maintenance_ms.is_some() {
            return db.retry_maintenance_ms;
        }
        let ttl = (self.policy.limits.event_ttl_days as i64).saturating_mul(DAY_MS);
        let ttl_due = db.queue.oldest().map(|o| o.saturating_add(ttl));
        [db.next_expiry_ms, ttl_due, db.ledger_due_ms]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the ledger's first entry may be pruned: `ledger_retention_days`
    /// after it, once a later entry records the same purpose (pruning only
    /// ever removes a prefix, and never an entry in force). Unknown when the
    /// ledger cannot be read: then retention waits for the next change.
    pub(super) fn ledger_due(&self, db: &Db) -> Option<i64> {
        let retention = (self.policy.limits.ledger_retention_days as i64).saturating_mul(DAY_MS);
        match db.store.first_superseded_ledger_ms() {
            Ok(at) => at.map(|at| at.saturating_add(retention)),
            Err(e) => {
                log::warn!("consentgate: ledger not readable for retention: {e}");
                None
            }
        }
    }

    fn enforce_retention(&self, db: &mut Db, now: i64) -> Result<()> {
        let cutoff = queue::ttl_cutoff(&self.policy, now);
        let ledger_cutoff = now.saturating_sub(
            (self.policy.limits.ledger_retention_days as i64).saturating_mul(DAY_MS),
        );
        let partitions = db.store.partitions().to_vec();
        let counts = db.store.write(false, |txn| {
            let mut out = Vec::new();
            for p in &partitions {
                let (n, bytes) = txn.delete_older_than(p, cutoff)?;
                if n > 0 {
                    let oldest = txn.oldest_in(p)?;
                    out.push((p.id, n, bytes, oldest));
                }
            }
            let evicted: u64 = out.iter().map(|o| o.1).sum();
            if evicted > 0 {
                txn.set_meta("evicted", &(db.queue.evicted + evicted).to_string())?;
            }
            txn.prune_ledger(ledger_cutoff)?;
            Ok(out)
        })?;
        for (id, n, bytes, oldest) in counts {
            let c = db.queue.counts.entry(id).or_default();
            c.events = c.events.saturating_sub(n);
            c.bytes = c.bytes.saturating_sub(bytes);
            c.oldest_ms = oldest;
            db.queue.evicted += n;
        }
        Ok(())
    }
}
