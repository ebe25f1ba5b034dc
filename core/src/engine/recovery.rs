//! Runtime recovery: a store that SQLite reports damaged while a consent
//! change is written is set aside, and the gate goes on with a fresh,
//! fail-closed one, as open would have: every purpose unset, the queue empty,
//! a new installation id, `store_recovery` reported — carrying over what the
//! user must never lose: the deletion tickets (salvaged by the store, see
//! `store::keep`) and the age signal.

use super::open::Installed;
use super::{lock, Db, Engine};
use crate::consent::StoreRecovery;
use crate::error::{Error, Result};

impl Engine {
    /// Sets aside a store found damaged while writing and continues on a
    /// fresh one, as open would have: every purpose unset, the queue empty,
    /// a new installation id, `store_recovery` reported. Carried over, as
    /// the user must not lose them: pending deletion tickets (if they can
    /// still be read) and the age signal.
    pub(super) fn recover_store(&self, db: &mut Db, damage: &Error) -> Result<()> {
        let now = self.clock.now_ms();
        let (loaded, moved_to, tickets_unreadable) = db.store.set_aside_and_reopen(now)?;
        let recovery = StoreRecovery {
            reason: format!("the database was found damaged while writing ({damage})"),
            moved_to: moved_to.display().to_string(),
            deletion_requests_unreadable: tickets_unreadable,
        };
        log::warn!("consentgate: store damaged while writing; moved aside, continuing fail-closed");
        db.store.write(true, |txn| {
            txn.set_recovery(&recovery)?;
            // The age as this process knows it is the newest.
            if let Some(age) = db.age.age_years {
                txn.set_meta("age_years", &age.to_string())?;
            }
            txn.set_meta("parental_consent", &db.age.parental_consent.to_string())
        })?;
        let installed = Installed::record(&mut db.store, loaded, &self.policy, &self.region)?;
        db.decisions = installed.decisions;
        db.first_seen = installed.first_seen;
        db.install_revision = installed.install_revision;
        db.notice_revision = installed.notice_revision;
        db.installation_id = installed.installation_id;
        db.age = installed.age;
        db.queue = installed.queue;
        db.next_expiry_ms = None;
        db.ledger_due_ms = None;
        db.in_flight.clear();
        db.recovery = Some(recovery);
        lock(&self.collected).user_id = None;
        lock(&self.buffer).purge(0);
        // Publishes the fail-closed snapshot (nothing to write).
        self.maintain(db)?;
        Ok(())
    }
}
