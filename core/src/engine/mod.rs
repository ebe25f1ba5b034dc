//! The engine behind [`crate::ConsentGate`]: the state of one open data
//! directory, its locks and their order, and every operation the exported
//! API delegates to. Its parts:
//!
//! - `open` — opening a directory: the lock, the store, the installation,
//!   the first evaluation;
//! - `apply` — **the one consent transaction**: decisions, ledger entries,
//!   the withdrawal purge of partitions and buffer (G3), then the new snapshot;
//! - `recovery` — a store found damaged while writing is set aside and the
//!   gate goes on, fail-closed, on a fresh one;
//! - `maintenance` — expiry, material revisions, TTL and ledger retention;
//! - `writer` — the writer thread: group commits and maintenance when due;
//! - `capture` — recording events (from the app, or a host buffer);
//! - `outbox` — uploads and deletion requests under the locks;
//! - `signals` — another CMP's keys read into decisions, or (as a
//!   registered CMP) the TC/GPP strings and keys written after each change;
//! - `export` — the data-subject copy.
//!
//! Locks, always taken in this order: `db` (the store and everything derived
//! from it), then `buffer` (records not yet committed), then `collected`.
//! `record_event` takes only `buffer`; `allows` takes none: it reads one
//! atomic word, stored with each new snapshot under the buffer lock.
//! Listeners are called after every lock is released.

mod acknowledge;
mod apply;
mod capture;
mod export;
mod maintenance;
mod open;
mod outbox;
mod recovery;
mod signals;
pub(crate) mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::consent::{
    self, Change, ConsentListener, ConsentSource, ConsentState, ConsentStatus, PurposeDecision,
    Restrictions, StoreRecovery, StoredDecision,
};
use crate::deletion::DeletionListener;
use crate::device::{AgeSignal, Collected, PlatformSignals};
use crate::error::{Error, Result};
use crate::event::signed;
use crate::ledger::{LedgerCheck, LedgerEntry};
use crate::policy::{Policy, PurposeKind};
use crate::queue::{Buffer, DiskQueue, QueueStats};
use crate::snapshot::Snapshot;
use crate::store::{DirLock, Store};
use crate::ticket::DeletionTicket;
use crate::wire::InFlight;

pub use open::OpenOptions;

/// Locks a mutex. A panic while holding a lock must not take every later
/// call down with it (G7); the data guarded here is kept consistent by the
/// store's transactions, not by the lock.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything derived from the store, guarded by one mutex (`db`).
struct Db {
    store: Store,
    decisions: HashMap<String, StoredDecision>,
    first_seen: HashMap<String, u32>,
    install_revision: u32,
    /// The latest policy revision the user is known to have been shown
    /// (`acknowledge`): below the revision in force, a change is due.
    notice_revision: u32,
    installation_id: String,
    age: AgeSignal,
    signals: PlatformSignals,
    queue: DiskQueue,
    /// The earliest expiry of a decision in force (`consent_ttl_days`).
    next_expiry_ms: Option<i64>,
    /// When the ledger's first entry may be pruned (`ledger_retention_days`).
    ledger_due_ms: Option<i64>,
    /// Set while maintenance failed: when to try again.
    retry_maintenance_ms: Option<i64>,
    /// Requests handed to the host and not completed.
    in_flight: InFlight,
    /// A recovery at this or an earlier open, reported on the state until the
    /// user next decides (they have then seen the banner again).
    recovery: Option<StoreRecovery>,
    /// The host's key-value store and what was read from or written to it.
    interop: signals::Signals,
}

/// One open data directory.
pub(crate) struct Engine {
    policy: Policy,
    region: Option<String>,
    app_version: String,
    clock: Arc<dyn Clock>,
    /// Purposes `usage_events` needs (`u64::MAX` when the policy has no
    /// such category: never all granted).
    usage_purposes: u64,
    db: Mutex<Db>,
    buffer: Mutex<Buffer>,
    collected: Mutex<Collected>,
    snapshot: ArcSwap<Snapshot>,
    /// `snapshot.allowed`, stored with it under the buffer lock: the one word
    /// `allows()` and `record_event()` read.
    allowed: AtomicU64,
    listener: Mutex<Option<Arc<dyn ConsentListener>>>,
    deletion_listener: Mutex<Option<Arc<dyn DeletionListener>>>,
    closed: AtomicBool,
    /// Held by a running `flush` (one at a time per gate).
    flushing: Mutex<()>,
    writer: writer::Signal,
    /// Held until close: one gate per data directory.
    dir_lock: Mutex<Option<DirLock>>,
}

impl Engine {
    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The consent state in force.
    pub fn consent_state(&self) -> ConsentState {
        self.snapshot.load().state.clone()
    }

    /// True when every purpose `category` requires is granted.
    #[inline]
    pub fn allows(&self, category: &str) -> bool {
        self.policy
            .category_index(category)
            .is_some_and(|i| self.allows_index(i))
    }

    #[inline]
    fn allows_index(&self, category: usize) -> bool {
        self.allowed.load(Ordering::Acquire) & (1u64 << category) != 0
    }

    /// Fails with `Closed` after `close`.
    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            Err(crate::GateError::Closed.into())
        } else {
            Ok(())
        }
    }

    /// Applies the user's decisions (`banner`, `settings` or `api`).
    pub fn set_consent(
        &self,
        decisions: &[PurposeDecision],
        source: ConsentSource,
    ) -> Result<ConsentState> {
        user_source(source)?;
        self.change(|e, db| {
            let current = e.snapshot.load();
            let changes = consent::plan(
                &e.policy,
                &current.state,
                decisions,
                source,
                e.restrictions(db),
            )?;
            e.apply(db, &changes, &[])
        })
    }

    /// Grants (`granted`) or denies every consent purpose, as far as the
    /// restrictions in force allow.
    pub fn set_all(&self, granted: bool, source: ConsentSource) -> Result<ConsentState> {
        user_source(source)?;
        self.change(|e, db| {
            let r = e.restrictions(db);
            let current = e.snapshot.load();
            let wanted = consent::all_consent_purposes(&e.policy, granted, r);
            let changes = consent::plan(&e.policy, &current.state, &wanted, source, r)?;
            e.apply(db, &changes, &[])
        })
    }

    /// Reports platform signals; GPC denies sale-or-share purposes.
    pub fn set_platform_signals(&self, signals: PlatformSignals) -> Result<ConsentState> {
        self.change(|e, db| {
            let before = db.signals;
            db.signals = signals;
            let changes: Vec<Change> = if signals.gpc {
                e.force_denied(|p| p.sale_or_share, ConsentSource::Gpc)
            } else {
                Vec::new()
            };
            let applied = e.apply(db, &changes, &[]);
            if applied.is_err() {
                db.signals = before; // G7: a failed write changes nothing
            }
            applied
        })
    }

    /// The platform signals last reported.
    pub fn platform_signals(&self) -> PlatformSignals {
        lock(&self.db).signals
    }

    /// Reports the user's age; under the age gate every consent purpose is denied.
    pub fn set_age(&self, age: AgeSignal) -> Result<ConsentState> {
        if age.age_years.is_some_and(|a| !(0..=150).contains(&a)) {
            return Err(Error::Invalid("age_years must be from 0 to 150".into()));
        }
        self.change(|e, db| {
            let before = db.age;
            db.age = age;
            let changes = if e.restrictions(db).age_gate.is_some() {
                e.force_denied(|_| true, ConsentSource::AgeGate)
            } else {
                Vec::new()
            };
            let meta = [
                ("age_years", age.age_years.map(|a| a.to_string())),
                ("parental_consent", Some(age.parental_consent.to_string())),
            ];
            let applied = e.apply(db, &changes, &meta);
            if applied.is_err() {
                db.age = before; // G7: a failed write changes nothing
            }
            applied
        })
    }

    /// Sets (or clears) the user id; kept on disk only while `account_id` is allowed.
    pub fn set_user_id(&self, user_id: Option<String>) -> Result<()> {
        self.check_open()?;
        if let Some(id) = &user_id {
            if id.is_empty() || id.len() > 256 {
                return Err(Error::Invalid(format!(
                    "user id must be 1 to 256 bytes, got {}",
                    id.len()
                )));
            }
        }
        let mut db = lock(&self.db);
        let allowed = self
            .policy
            .reserved
            .account_id
            .is_some_and(|c| self.allows_index(c));
        let keep = user_id.as_ref().filter(|_| allowed);
        db.store.write(false, |txn| match keep {
            Some(id) => txn.set_meta("user_id", id),
            None => txn.delete_meta("user_id"),
        })?;
        lock(&self.collected).user_id = user_id;
        Ok(())
    }

    /// Queue figures (records in memory count as queued).
    pub fn queue_stats(&self) -> QueueStats {
        let db = lock(&self.db);
        let buffer = lock(&self.buffer);
        let (events, bytes) = db.queue.totals();
        let oldest = match (
            db.queue.oldest(),
            buffer.records.front().map(|p| p.record.ts_ms),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        QueueStats {
            events: signed(events + buffer.records.len() as u64),
            bytes: signed(bytes + buffer.bytes),
            oldest_ms: oldest,
            evicted: signed(db.queue.evicted + buffer.evicted),
            dropped_no_consent: signed(db.queue.dropped_no_consent + buffer.dropped_no_consent),
            delivered: signed(db.queue.delivered),
            rejected: signed(db.queue.rejected),
        }
    }

    /// The retained consent ledger, oldest first.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>> {
        lock(&self.db).store.ledger()
    }

    /// Verifies the hash chain and names the first bad entry.
    pub fn verify_ledger(&self) -> Result<LedgerCheck> {
        lock(&self.db).store.verify_ledger()
    }

    /// The installation id (rotated by a deletion request).
    pub fn installation_id(&self) -> String {
        lock(&self.db).installation_id.clone()
    }

    /// Every deletion request made on this device, oldest first.
    pub fn deletion_requests(&self) -> Result<Vec<DeletionTicket>> {
        Ok(lock(&self.db)
            .store
            .deletions()?
            .iter()
            .map(DeletionTicket::from)
            .collect())
    }

    /// Sets the listener told after each committed change, and tells it now.
    pub fn set_listener(&self, listener: Arc<dyn ConsentListener>) {
        *lock(&self.listener) = Some(listener);
        self.notify();
    }

    /// Sets the listener told when a deletion ticket changes.
    pub fn set_deletion_listener(&self, listener: Arc<dyn DeletionListener>) {
        *lock(&self.deletion_listener) = Some(listener);
    }

    /// Writes every buffered record to disk now.
    pub fn persist(&self) -> Result<()> {
        self.check_open()?;
        self.commit_buffer()
    }

    /// Marks the engine closed and commits what is buffered; the caller
    /// stops the writer thread first. Returns false when it was closed already.
    pub fn close(&self) -> Result<bool> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(false);
        }
        let committed = self.commit_buffer();
        // Released even if the last commit failed: the buffer is lost with
        // the process either way, and the directory must not stay held.
        lock(&self.dir_lock).take();
        committed.map(|()| true)
    }

    /// Runs a change under the store lock, then tells the listener.
    fn change(&self, f: impl FnOnce(&Engine, &mut Db) -> Result<bool>) -> Result<ConsentState> {
        self.check_open()?;
        let changed = {
            let mut db = lock(&self.db);
            f(self, &mut db)?
        };
        if changed {
            self.notify();
        }
        Ok(self.consent_state())
    }

    fn restrictions(&self, db: &Db) -> Restrictions {
        let min_age = self.policy.min_age_for(self.region.as_deref());
        let age_gate = match (min_age, db.age.age_years) {
            (Some(min), Some(age))
                if i64::from(age) < i64::from(min) && !db.age.parental_consent =>
            {
                Some(i32::try_from(min).unwrap_or(i32::MAX))
            }
            _ => None,
        };
        Restrictions {
            age_gate,
            gpc: db.signals.gpc,
        }
    }

    /// Changes that set every consent purpose matching `pick` to denied.
    fn force_denied(
        &self,
        pick: impl Fn(&crate::policy::Purpose) -> bool,
        source: ConsentSource,
    ) -> Vec<Change> {
        let current = self.snapshot.load();
        self.policy
            .purposes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind == PurposeKind::Consent && pick(p))
            .filter(|(i, _)| {
                let stored = current.state.purposes[*i].status;
                let decided = current.state.purposes[*i].decided_at_ms.is_some();
                stored != ConsentStatus::Denied || !decided
            })
            .map(|(i, _)| Change {
                purpose: i,
                to: ConsentStatus::Denied,
                source,
                reason: None,
            })
            .collect()
    }

    /// Tells the consent listener, outside every lock; a listener that
    /// throws does not turn a committed change into an error.
    fn notify(&self) {
        let listener = lock(&self.listener).clone();
        if let Some(l) = listener {
            let state = self.snapshot.load().state.clone();
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                l.on_consent_changed(state)
            }))
            .is_err()
            {
                log::warn!("consentgate: the ConsentListener threw; the change stands");
            }
        }
    }

    /// Tells the deletion listener, outside every lock.
    fn notify_deletion(&self, ticket: DeletionTicket) {
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

/// Apps decide through `banner`, `settings` or `api`; the other sources are
/// recorded by consentgate itself.
fn user_source(source: ConsentSource) -> Result<()> {
    match source {
        ConsentSource::Banner | ConsentSource::Settings | ConsentSource::Api => Ok(()),
        other => Err(Error::Invalid(format!(
            "source \"{}\" is recorded by consentgate itself; apps use banner, settings or api",
            other.as_str()
        ))),
    }
}
