//! [`ConsentGate`], the object apps hold: it opens the store, keeps the
//! lock-free [`Snapshot`] (and its allowed-categories mask in one atomic
//! word, which `allows()` and `record_event()` read), applies
//! every consent change (decisions, ledger entries and purges in one durable
//! transaction, then a new snapshot), runs the writer thread that group-commits
//! events and does periodic maintenance (expiry, TTL, ledger retention), and
//! tells the host's [`ConsentListener`].
//!
//! Locks, always taken in this order: `db` (the store and everything derived
//! from it), then `buffer` (records not yet committed), then `collected`.
//! `record_event` takes only `buffer`; `allows` takes none.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::{json, Value};

use crate::clock::{Clock, SystemClock, DAY_MS};
use crate::consent::{
    self, Change, ConsentSource, ConsentState, ConsentStatus, Facts, PromptReason, PurposeDecision,
    Restrictions, StoreRecovery, StoredDecision,
};
use crate::device::{
    is_null_ad_id, AdIdProvider, AgeSignal, AttStatus, DeviceInfo, DeviceInfoProvider,
    PlatformSignals,
};
use crate::error::{Error, GateError, Result};
use crate::event::{self, EventInput};
use crate::ledger::{self, LedgerCheck, LedgerEntry};
use crate::policy::{Policy, PurposeKind};
use crate::queue::{self, Buffer, DiskQueue, Pending, QueueStats};
use crate::snapshot::Snapshot;
use crate::store::{Loaded, QueuedRecord, Store, Txn};

/// How an app opens the gate.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GateConfig {
    /// Directory for the database (Android: `noBackupFilesDir`).
    pub data_dir: String,
    /// The policy document bundled with the app (SPEC §3).
    pub policy_json: String,
    /// The user's region (ISO 3166-1 alpha-2, e.g. `KZ`), if known.
    pub region: Option<String>,
    /// The app's version, recorded in the ledger and batches.
    pub app_version: String,
}

/// Open options for Rust callers (the CLI, tests): the policy may come from
/// the data directory, and the clock is injectable.
pub struct OpenOptions {
    /// Directory for the database.
    pub data_dir: PathBuf,
    /// Policy document; `None` uses the one stored in the data directory.
    pub policy_json: Option<String>,
    /// Region; `None` keeps the stored one.
    pub region: Option<String>,
    /// App version.
    pub app_version: String,
    /// The clock every time-dependent rule reads.
    pub clock: Arc<dyn Clock>,
}

/// Told after each committed change of consent state.
#[uniffi::export(with_foreign)]
pub trait ConsentListener: Send + Sync {
    /// The state after the change. Called on the thread that made the change,
    /// after every lock is released; also called once when the listener is set.
    fn on_consent_changed(&self, state: ConsentState);
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum RecordOutcome {
    /// Queued with this sequence number.
    Recorded {
        /// Monotonically increasing sequence number.
        seq: u64,
    },
    /// Not queued, and nothing written.
    Dropped {
        /// Why.
        reason: DropReason,
    },
}

/// An event a host captured into its own buffer (see `record_captured`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CapturedEvent {
    /// Event name, `^[A-Za-z][A-Za-z0-9_.\-]{0,63}$`.
    pub name: String,
    /// Properties as a JSON object, or none.
    pub properties_json: Option<String>,
    /// When the host captured it (ms since the epoch); later than now counts as now.
    pub captured_at_ms: i64,
    /// `ConsentState::version` the host mirrored when it captured the event.
    pub consent_version: u64,
}

/// What `record_captured` did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, uniffi::Record)]
pub struct CaptureReport {
    /// Events queued.
    pub recorded: u32,
    /// Events dropped for lack of consent (now, or at a withdrawal since capture).
    pub dropped_no_consent: u32,
    /// Events skipped as invalid.
    pub invalid: u32,
    /// Why the first invalid event was refused (no payload in it).
    pub first_invalid: Option<String>,
}

/// The queue bounds of the policy in force (G8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, uniffi::Record)]
pub struct QueueLimits {
    /// Most records queued; the oldest are evicted beyond it.
    pub max_queue_events: u64,
    /// Most bytes queued; the oldest are evicted beyond it.
    pub max_queue_bytes: u64,
    /// Most events in one upload batch.
    pub max_batch_events: u64,
}

/// Why an event was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// `usage_events` is not allowed (or the policy defines no such category).
    NoConsent,
}

impl DropReason {
    /// The spelling the CLI prints, e.g. `no_consent`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NoConsent => "no_consent",
        }
    }
}

/// Writes a caller adds to a consent transaction.
pub(crate) type ExtraWrites<'a> = &'a dyn Fn(&mut Txn<'_>) -> Result<()>;

/// Records a store's installation: its id, the policy in force (and the
/// revision in which each purpose was first seen) and the region.
fn record_installation(
    txn: &mut Txn<'_>,
    policy: &Policy,
    region: Option<&str>,
    installation_id: &str,
) -> Result<()> {
    txn.set_meta("installation_id", installation_id)?;
    txn.set_meta("policy_json", &policy.canonical_json)?;
    txn.set_meta("policy_hash", &policy.hash)?;
    if let Some(r) = region {
        txn.set_meta("region", r)?;
    }
    for p in &policy.purposes {
        txn.see_purpose(&p.id, policy.revision)?;
    }
    Ok(())
}

/// What a store holds about this installation, ready for a [`Db`]: read at
/// open, and again when a damaged store is replaced while running.
struct Installed {
    decisions: HashMap<String, StoredDecision>,
    first_seen: HashMap<String, u32>,
    install_revision: u32,
    installation_id: String,
    age: AgeSignal,
    queue: DiskQueue,
}

impl Installed {
    /// Reads the installation from `store` (with what opening it read), and
    /// records it first where it is new or the policy or region changed:
    /// an id, the policy, the purposes first seen, the install revision.
    fn record(
        store: &mut Store,
        loaded: Loaded,
        policy: &Policy,
        region: &Option<String>,
    ) -> Result<Installed> {
        let installation_id = store.meta("installation_id")?;
        let stored_hash = store.meta("policy_hash")?;
        let stored_region = store.meta("region")?;
        let mut first_seen = loaded.first_seen;
        let unseen = policy
            .purposes
            .iter()
            .any(|p| !first_seen.contains_key(&p.id));
        let installation_id = match installation_id {
            Some(id)
                if stored_hash.as_deref() == Some(policy.hash.as_str())
                    && stored_region == *region
                    && !unseen =>
            {
                id
            }
            existing => {
                let id = existing.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                store.write(true, |txn| {
                    record_installation(txn, policy, region.as_deref(), &id)
                })?;
                for p in &policy.purposes {
                    first_seen.entry(p.id.clone()).or_insert(policy.revision);
                }
                if stored_hash.is_none() {
                    store.write(true, |txn| {
                        txn.set_meta("install_revision", &policy.revision.to_string())
                    })?;
                }
                id
            }
        };
        let install_revision = store
            .meta("install_revision")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(policy.revision);
        let age = AgeSignal {
            age_years: store.meta("age_years")?.and_then(|v| v.parse().ok()),
            parental_consent: store.meta("parental_consent")?.as_deref() == Some("true"),
        };
        Ok(Installed {
            decisions: loaded.decisions,
            first_seen,
            install_revision,
            installation_id,
            age,
            queue: DiskQueue::load(store, loaded.counts)?,
        })
    }
}

/// Buffered records that wake the writer early.
const WAKE_AT: usize = 8192;
/// How often the writer commits at the latest.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// How often TTL and retention are enforced while running.
const MAINTAIN_EVERY_MS: i64 = 60_000;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock must not take every later call down with
    // it (G7); the data guarded here is kept consistent by the store's
    // transactions, not by the lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything derived from the store, guarded by one mutex.
pub(crate) struct Db {
    pub(crate) store: Store,
    decisions: HashMap<String, StoredDecision>,
    first_seen: HashMap<String, u32>,
    install_revision: u32,
    pub(crate) installation_id: String,
    age: AgeSignal,
    pub(crate) signals: PlatformSignals,
    pub(crate) queue: DiskQueue,
    next_expiry_ms: Option<i64>,
    last_maintenance_ms: i64,
    /// Requests handed to the host and not completed, with when.
    pub(crate) in_flight: HashMap<String, i64>,
    /// A recovery at this or an earlier open, reported on the state until the
    /// user next decides (they have then seen the banner again).
    recovery: Option<StoreRecovery>,
}

/// What was collected from the host, kept in memory for batches.
#[derive(Default)]
pub(crate) struct Collected {
    pub(crate) device: DeviceInfo,
    pub(crate) ad_id: Option<String>,
    pub(crate) user_id: Option<String>,
}

pub(crate) struct Inner {
    pub(crate) policy: Policy,
    pub(crate) region: Option<String>,
    pub(crate) app_version: String,
    pub(crate) clock: Arc<dyn Clock>,
    usage_category: Option<usize>,
    usage_purposes: u64,
    pub(crate) db: Mutex<Db>,
    pub(crate) buffer: Mutex<Buffer>,
    pub(crate) collected: Mutex<Collected>,
    pub(crate) snapshot: ArcSwap<Snapshot>,
    /// `snapshot.allowed`, stored with it under the buffer lock: the one word
    /// `allows()` and `record_event()` read.
    allowed: AtomicU64,
    /// State version of the last withdrawal that took `usage_events` away.
    usage_revoked_version: AtomicU64,
    listener: Mutex<Option<Arc<dyn ConsentListener>>>,
    pub(crate) deletion_listener: Mutex<Option<Arc<dyn crate::deletion::DeletionListener>>>,
    closed: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The consent gate: one per data directory, shared by the whole app.
#[derive(uniffi::Object)]
pub struct ConsentGate {
    pub(crate) inner: Arc<Inner>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ConsentGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentGate")
            .field("policy_id", &self.inner.policy.policy_id)
            .finish_non_exhaustive()
    }
}

fn valid_region(r: &str) -> bool {
    r.len() == 2 && r.bytes().all(|c| c.is_ascii_uppercase())
}

#[uniffi::export]
impl ConsentGate {
    /// Opens the gate for `config.data_dir` with the system clock. Fails with
    /// `InvalidPolicy` (every problem listed) before touching the disk when
    /// the policy is invalid; a corrupt store is moved aside and replaced by a
    /// fresh, fail-closed one (`ConsentState::store_recovery` says so).
    #[uniffi::constructor]
    pub fn open(config: GateConfig) -> std::result::Result<Arc<ConsentGate>, GateError> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`ConsentGate::open`], with a host-supplied clock (tests, trusted time).
    #[uniffi::constructor]
    pub fn open_with_clock(
        config: GateConfig,
        clock: Arc<dyn Clock>,
    ) -> std::result::Result<Arc<ConsentGate>, GateError> {
        Self::open_with(OpenOptions {
            data_dir: PathBuf::from(config.data_dir),
            policy_json: Some(config.policy_json),
            region: config.region,
            app_version: config.app_version,
            clock,
        })
    }

    /// The consent state in force.
    pub fn consent_state(&self) -> ConsentState {
        self.inner.snapshot.load().state.clone()
    }

    /// Applies the user's decisions. Denying a purpose purges every queued
    /// record that needs it in the same transaction as the ledger entries
    /// (G3); when this returns Ok the decision is on disk (G4). `source` must
    /// be `banner`, `settings` or `api`.
    pub fn set_consent(
        &self,
        decisions: Vec<PurposeDecision>,
        source: ConsentSource,
    ) -> std::result::Result<ConsentState, GateError> {
        self.user_source(source)?;
        self.change(|inner, db| {
            let current = inner.snapshot.load();
            let changes = consent::plan(
                &inner.policy,
                &current.state,
                &decisions,
                source,
                inner.restrictions(db),
            )?;
            inner.apply(db, &changes, &[])
        })
    }

    /// Grants every consent purpose (except sale-or-share purposes while a GPC
    /// signal holds). Fails with `AgeRestricted` under the age gate.
    pub fn accept_all(
        &self,
        source: ConsentSource,
    ) -> std::result::Result<ConsentState, GateError> {
        self.user_source(source)?;
        self.change(|inner, db| {
            let r = inner.restrictions(db);
            let current = inner.snapshot.load();
            let wanted = consent::all_consent_purposes(&inner.policy, true, r);
            let changes = consent::plan(&inner.policy, &current.state, &wanted, source, r)?;
            inner.apply(db, &changes, &[])
        })
    }

    /// Denies every consent purpose and purges what they covered.
    pub fn reject_all(
        &self,
        source: ConsentSource,
    ) -> std::result::Result<ConsentState, GateError> {
        self.user_source(source)?;
        self.change(|inner, db| {
            let r = inner.restrictions(db);
            let current = inner.snapshot.load();
            let wanted = consent::all_consent_purposes(&inner.policy, false, r);
            let changes = consent::plan(&inner.policy, &current.state, &wanted, source, r)?;
            inner.apply(db, &changes, &[])
        })
    }

    /// True when every purpose `category` requires is granted. Lock-free, no
    /// I/O, no allocation; an unknown category is never allowed (G1).
    pub fn allows(&self, category: String) -> bool {
        self.allows_str(&category)
    }

    /// Reports platform signals. With `gpc`, sale-or-share purposes are denied
    /// (ledger source `gpc`) and cannot be granted while the signal holds.
    pub fn set_platform_signals(
        &self,
        signals: PlatformSignals,
    ) -> std::result::Result<ConsentState, GateError> {
        self.change(|inner, db| {
            let before = db.signals;
            db.signals = signals;
            let changes: Vec<Change> = if signals.gpc {
                inner.force_denied(|p| p.sale_or_share, ConsentSource::Gpc)
            } else {
                Vec::new()
            };
            let applied = inner.apply(db, &changes, &[]);
            if applied.is_err() {
                db.signals = before; // G7: a failed write changes nothing
            }
            applied
        })
    }

    /// Reports the user's age. Below the policy's `min_age` (region override
    /// wins) without parental consent, every consent purpose is denied (ledger
    /// source `age_gate`) and granting one fails with `AgeRestricted`.
    pub fn set_age(&self, age: AgeSignal) -> std::result::Result<ConsentState, GateError> {
        if age.age_years.is_some_and(|a| a > 150) {
            return Err(GateError::InvalidArgument {
                message: "age_years must be at most 150".into(),
            });
        }
        self.change(|inner, db| {
            let before = db.age;
            db.age = age;
            let changes = if inner.restrictions(db).age_gate.is_some() {
                inner.force_denied(|_| true, ConsentSource::AgeGate)
            } else {
                Vec::new()
            };
            let meta = [
                ("age_years", age.age_years.map(|a| a.to_string())),
                ("parental_consent", Some(age.parental_consent.to_string())),
            ];
            let applied = inner.apply(db, &changes, &meta);
            if applied.is_err() {
                db.age = before; // G7: a failed write changes nothing
            }
            applied
        })
    }

    /// Sets (or clears) the app's user id, category `account_id`. It is kept
    /// on disk only while `account_id` is allowed, and sent only then.
    pub fn set_user_id(&self, user_id: Option<String>) -> std::result::Result<(), GateError> {
        self.check_open()?;
        if let Some(id) = &user_id {
            if id.is_empty() || id.len() > 256 {
                return Err(GateError::InvalidArgument {
                    message: format!("user id must be 1 to 256 bytes, got {}", id.len()),
                });
            }
        }
        let inner = &self.inner;
        let mut db = lock(&inner.db);
        let allowed = inner.allows("account_id");
        let keep = user_id.clone().filter(|_| allowed);
        db.store
            .write(false, |txn| match &keep {
                Some(id) => txn.set_meta("user_id", id),
                None => txn.delete_meta("user_id"),
            })
            .map_err(GateError::from)?;
        lock(&inner.collected).user_id = user_id;
        Ok(())
    }

    /// Validates and queues one usage event. Without `usage_events` consent the
    /// event is dropped (`dropped{no_consent}`) and nothing is written. Never
    /// touches the disk on the caller's thread.
    pub fn record_event(
        &self,
        name: String,
        properties_json: Option<String>,
    ) -> std::result::Result<RecordOutcome, GateError> {
        self.check_open()?;
        event::validate_name(&name)?;
        if let Some(p) = &properties_json {
            event::validate_properties(p)?;
        }
        log::trace!("consentgate: record_event {name}");
        let now = self.inner.clock.now_ms();
        let mut buffer = lock(&self.inner.buffer);
        Ok(self.inner.capture(&mut buffer, now, name, properties_json))
    }

    /// Queues many events in one call (one FFI crossing). Every event is
    /// validated first; if one is invalid nothing is recorded and the error
    /// names its index.
    pub fn record_events(
        &self,
        events: Vec<EventInput>,
    ) -> std::result::Result<Vec<RecordOutcome>, GateError> {
        self.check_open()?;
        for (i, e) in events.iter().enumerate() {
            let checked = event::validate_name(&e.name).and_then(|_| {
                e.properties_json
                    .as_deref()
                    .map_or(Ok(()), event::validate_properties)
            });
            if let Err(GateError::InvalidArgument { message }) = checked {
                return Err(GateError::InvalidArgument {
                    message: format!("events[{i}]: {message}"),
                });
            }
        }
        let now = self.inner.clock.now_ms();
        let mut buffer = lock(&self.inner.buffer);
        Ok(events
            .into_iter()
            .map(|e| {
                self.inner
                    .capture(&mut buffer, now, e.name, e.properties_json)
            })
            .collect())
    }

    /// Queues events a host buffered on its side so they cross the FFI in
    /// batches. Each carries when it was captured and the `version` of the
    /// consent state the host mirrored then: an event captured before the
    /// last withdrawal of `usage_events` is dropped even if consent was
    /// granted again since (G3), and every event needs consent now too (G2).
    /// Invalid events are skipped and counted rather than thrown (the host
    /// has long returned to its caller); `dropped_no_consent` and `evicted`
    /// add the drops and evictions (oldest first, when the host buffer was
    /// full, G8) the host made itself to the queue figures.
    pub fn record_captured(
        &self,
        events: Vec<CapturedEvent>,
        dropped_no_consent: u64,
        evicted: u64,
    ) -> std::result::Result<CaptureReport, GateError> {
        self.check_open()?;
        let mut report = CaptureReport::default();
        let mut valid = Vec::with_capacity(events.len());
        for e in events {
            let checked = event::validate_name(&e.name).and_then(|_| {
                e.properties_json
                    .as_deref()
                    .map_or(Ok(()), event::validate_properties)
            });
            match checked {
                Ok(()) => valid.push(e),
                Err(err) => {
                    report.invalid += 1;
                    if report.first_invalid.is_none() {
                        report.first_invalid = Some(err.to_string());
                    }
                }
            }
        }
        let now = self.inner.clock.now_ms();
        let revoked = self.inner.usage_revoked_version.load(Ordering::Acquire);
        let mut buffer = lock(&self.inner.buffer);
        buffer.dropped_no_consent += dropped_no_consent;
        buffer.evicted += evicted;
        for e in valid {
            let outcome = if e.consent_version < revoked {
                buffer.dropped_no_consent += 1;
                RecordOutcome::Dropped {
                    reason: DropReason::NoConsent,
                }
            } else {
                let ts = e.captured_at_ms.min(now);
                self.inner
                    .capture(&mut buffer, ts, e.name, e.properties_json)
            };
            match outcome {
                RecordOutcome::Recorded { .. } => report.recorded += 1,
                RecordOutcome::Dropped { .. } => report.dropped_no_consent += 1,
            }
        }
        Ok(report)
    }

    /// The queue bounds of the policy, for a host that buffers events on its
    /// side and must never hold more than the core would keep.
    pub fn queue_limits(&self) -> QueueLimits {
        let l = &self.inner.policy.limits;
        QueueLimits {
            max_queue_events: l.max_queue_events,
            max_queue_bytes: l.max_queue_bytes,
            max_batch_events: l.max_batch_events,
        }
    }

    /// Asks `provider` for the device fields whose category is allowed, and
    /// only those; when none is allowed the provider is not called at all.
    /// The result is kept in memory to describe the device in upload batches.
    pub fn collect_device_info(
        &self,
        provider: Arc<dyn DeviceInfoProvider>,
    ) -> std::result::Result<DeviceInfo, GateError> {
        self.check_open()?;
        let allowed = self.inner.snapshot.load().allowed;
        let info = DeviceInfo::collect(&self.inner.policy, allowed, provider.as_ref());
        log::debug!(
            "consentgate: collected device info ({} categories allowed)",
            allowed.count_ones()
        );
        // A withdrawal may have happened while the provider ran.
        let mut kept = info.clone();
        kept.retain_allowed(&self.inner.policy, self.inner.snapshot.load().allowed);
        lock(&self.inner.collected).device = kept;
        Ok(info)
    }

    /// The advertising id, asked of `provider` only when `advertising_id` is
    /// allowed, ATT is authorized or not applicable, and limit-ad-tracking is
    /// off. An all-zero id counts as absent.
    pub fn advertising_id(&self, provider: Arc<dyn AdIdProvider>) -> Option<String> {
        if self.check_open().is_err() || !self.allows_str("advertising_id") {
            return None;
        }
        let signals = lock(&self.inner.db).signals;
        if signals.limit_ad_tracking
            || !matches!(
                signals.att_status,
                AttStatus::Authorized | AttStatus::NotApplicable
            )
        {
            return None;
        }
        let id = provider.advertising_id().filter(|id| !is_null_ad_id(id))?;
        if !self.allows_str("advertising_id") {
            return None;
        }
        lock(&self.inner.collected).ad_id = Some(id.clone());
        Some(id)
    }

    /// Queue figures (records in memory count as queued).
    pub fn queue_stats(&self) -> QueueStats {
        let db = lock(&self.inner.db);
        let buffer = lock(&self.inner.buffer);
        let (events, bytes) = db.queue.totals();
        let oldest = match (
            db.queue.oldest(),
            buffer.records.front().map(|p| p.record.ts_ms),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        QueueStats {
            events: events + buffer.records.len() as u64,
            bytes: bytes + buffer.bytes,
            oldest_ms: oldest,
            evicted: db.queue.evicted + buffer.evicted,
            dropped_no_consent: db.queue.dropped_no_consent + buffer.dropped_no_consent,
            delivered: db.queue.delivered,
            rejected: db.queue.rejected,
        }
    }

    /// The retained consent ledger, oldest first.
    pub fn ledger(&self) -> std::result::Result<Vec<LedgerEntry>, GateError> {
        Ok(lock(&self.inner.db).store.ledger()?)
    }

    /// Verifies the hash chain and names the first bad entry.
    pub fn verify_ledger(&self) -> std::result::Result<LedgerCheck, GateError> {
        let db = lock(&self.inner.db);
        Ok(db.store.verify_ledger()?)
    }

    /// Everything stored locally about the user, as one JSON document (the
    /// data-subject access copy): installation id, user id, policy, consent
    /// state, ledger, receipts, queued records, the batch awaiting upload and
    /// deletion requests (with the earlier installation ids they name).
    pub fn export_data(&self) -> std::result::Result<String, GateError> {
        self.inner.commit_buffer()?;
        let inner = &self.inner;
        let db = lock(&inner.db);
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
        let collected = lock(&inner.collected);
        let doc = json!({
            "exported_at": crate::clock::rfc3339(inner.clock.now_ms()),
            "installation_id": db.installation_id,
            "user_id": db.store.meta("user_id")?,
            "region": inner.region,
            "app_version": inner.app_version,
            "policy": {
                "id": inner.policy.policy_id,
                "revision": inner.policy.revision,
                "hash": inner.policy.hash,
                "document": serde_json::from_str::<Value>(&inner.policy.canonical_json).unwrap_or(Value::Null),
            },
            "consent": inner.snapshot.load().state,
            "age": {"age_years": db.age.age_years, "parental_consent": db.age.parental_consent},
            "ledger": entries,
            "receipts": ledger::receipts(&inner.policy, &entries),
            "queue": records,
            "deletion_requests": db.store.deletions()?.iter().map(crate::deletion::DeletionTicket::from).collect::<Vec<_>>(),
            "pending_batches": db.store.pending_batch()?.map(|b| json!({"batch_id": b.batch_id, "endpoint": b.endpoint, "first_seq": b.first_seq, "last_seq": b.last_seq, "attempts": b.attempts})),
            "device_in_memory": collected.device,
        });
        serde_json::to_string_pretty(&doc).map_err(|e| GateError::Internal {
            message: e.to_string(),
        })
    }

    /// Sets the listener told after each committed change (and once now, with
    /// the current state). Replaces any earlier listener.
    pub fn set_listener(&self, listener: Arc<dyn ConsentListener>) {
        *lock(&self.inner.listener) = Some(listener);
        self.inner.notify();
    }

    /// Writes every buffered record to disk now.
    pub fn persist(&self) -> std::result::Result<(), GateError> {
        self.check_open()?;
        Ok(self.inner.commit_buffer()?)
    }

    /// Commits what is buffered and stops the writer thread. Later calls
    /// fail with `Closed`. Also done when the last reference is dropped.
    pub fn close(&self) -> std::result::Result<(), GateError> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        *lock(&self.inner.stop) = true;
        self.inner.wake.notify_all();
        if let Some(h) = lock(&self.writer).take() {
            let _ = h.join();
        }
        Ok(self.inner.commit_buffer()?)
    }

    /// The installation id (a random UUID, rotated by a deletion request).
    pub fn installation_id(&self) -> String {
        lock(&self.inner.db).installation_id.clone()
    }
}

impl ConsentGate {
    /// Opens with explicit options (Rust callers: the CLI, tests).
    pub fn open_with(options: OpenOptions) -> std::result::Result<Arc<ConsentGate>, GateError> {
        Ok(Self::open_inner(options)?)
    }

    fn open_inner(o: OpenOptions) -> Result<Arc<ConsentGate>> {
        let given = match &o.policy_json {
            Some(json) => Some(Policy::parse(json).map_err(Error::Policy)?),
            None => None,
        };
        if let Some(r) = &o.region {
            if !valid_region(r) {
                return Err(Error::Invalid(format!(
                    "region must be an ISO 3166-1 alpha-2 code like \"KZ\", got {r:?}"
                )));
            }
        }
        let now = o.clock.now_ms();
        let (mut store, loaded, recovery) = Store::open(&o.data_dir, now)?;
        if let Some(r) = &recovery {
            // Kept in the fresh store so the next open still reports it, even
            // if this one fails below.
            store.write(true, |txn| {
                txn.set_meta("store_recovery_reason", &r.reason)?;
                txn.set_meta("store_recovery_moved_to", &r.moved_to)
            })?;
        }
        let recovery = match (
            store.meta("store_recovery_reason")?,
            store.meta("store_recovery_moved_to")?,
        ) {
            (Some(reason), Some(moved_to)) => Some(StoreRecovery { reason, moved_to }),
            _ => None,
        };
        let policy = match given {
            Some(p) => p,
            None => match store.meta("policy_json")? {
                Some(json) => Policy::parse(&json).map_err(Error::Policy)?,
                None => {
                    return Err(Error::Invalid(match &recovery {
                        Some(r) => format!(
                            "no policy: the database was unusable ({}) and was moved to {}; \
                                 give the policy to start afresh",
                            r.reason, r.moved_to
                        ),
                        None => "no policy: this data directory has none stored yet, \
                                     so one must be given"
                            .into(),
                    }))
                }
            },
        };
        let region = o.region.clone().or(store.meta("region")?);
        let max_seq = loaded.max_seq;
        let installed = Installed::record(&mut store, loaded, &policy, &region)?;
        let db = Db {
            decisions: installed.decisions,
            first_seen: installed.first_seen,
            install_revision: installed.install_revision,
            installation_id: installed.installation_id,
            age: installed.age,
            signals: PlatformSignals::default(),
            queue: installed.queue,
            next_expiry_ms: None,
            last_maintenance_ms: i64::MIN,
            recovery: recovery.clone(),
            in_flight: HashMap::new(),
            store,
        };
        let user_id = db.store.meta("user_id")?;
        let usage_category = policy.category_index("usage_events");
        let usage_purposes = usage_category.map_or(u64::MAX, |c| policy.category_purpose_mask(c));
        let mut state0 = consent::evaluate(
            &policy,
            &Facts {
                decisions: &HashMap::new(),
                first_seen: &HashMap::new(),
                install_revision: 0,
                restrictions: Restrictions::default(),
                now_ms: now,
            },
        );
        state0.state.store_recovery = recovery.clone();
        // Until the first evaluation below, nothing is allowed (fail-closed).
        let snapshot = Snapshot::new(&policy, 0, state0.state);
        let inner = Arc::new(Inner {
            region,
            app_version: o.app_version,
            clock: o.clock,
            usage_category,
            usage_purposes,
            db: Mutex::new(db),
            buffer: Mutex::new(Buffer::default()),
            collected: Mutex::new(Collected {
                user_id,
                ..Collected::default()
            }),
            allowed: AtomicU64::new(snapshot.allowed),
            usage_revoked_version: AtomicU64::new(0),
            snapshot: ArcSwap::from_pointee(snapshot),
            listener: Mutex::new(None),
            deletion_listener: Mutex::new(None),
            closed: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            policy,
        });
        {
            let mut db = lock(&inner.db);
            lock(&inner.buffer).next_seq = max_seq;
            // Retire expired or superseded decisions, purge what is no longer
            // allowed, enforce TTL and retention, and publish the snapshot.
            inner.maintain(&mut db, true)?;
        }
        {
            let db = lock(&inner.db);
            let (events, _) = db.queue.totals();
            log::info!(
                "consentgate: opened policy {} revision {} with {events} queued records",
                inner.policy.policy_id,
                inner.policy.revision
            );
        }
        let thread_inner = Arc::clone(&inner);
        let writer = std::thread::Builder::new()
            .name("consentgate-writer".into())
            .spawn(move || writer_loop(thread_inner))?;
        Ok(Arc::new(ConsentGate {
            inner,
            writer: Mutex::new(Some(writer)),
        }))
    }

    /// Non-allocating `allows` for Rust callers.
    #[inline]
    pub fn allows_str(&self, category: &str) -> bool {
        self.inner.allows(category)
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    pub(crate) fn check_open(&self) -> std::result::Result<(), GateError> {
        if self.inner.closed.load(Ordering::Relaxed) {
            Err(GateError::Closed)
        } else {
            Ok(())
        }
    }

    fn user_source(&self, source: ConsentSource) -> std::result::Result<(), GateError> {
        self.check_open()?;
        match source {
            ConsentSource::Banner | ConsentSource::Settings | ConsentSource::Api => Ok(()),
            other => Err(GateError::InvalidArgument {
                message: format!(
                    "source \"{}\" is recorded by consentgate itself; apps use banner, settings or api",
                    other.as_str()
                ),
            }),
        }
    }

    /// Runs a change under the store lock, then tells the listener.
    pub(crate) fn change(
        &self,
        f: impl FnOnce(&Inner, &mut Db) -> Result<bool>,
    ) -> std::result::Result<ConsentState, GateError> {
        self.check_open()?;
        let changed = {
            let mut db = lock(&self.inner.db);
            f(&self.inner, &mut db)?
        };
        if changed {
            self.inner.notify();
        }
        Ok(self.consent_state())
    }
}

impl Drop for ConsentGate {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            log::warn!("consentgate: final commit failed at drop: {e}");
        }
    }
}

impl Inner {
    pub(crate) fn allows(&self, category: &str) -> bool {
        self.policy
            .category_index(category)
            .is_some_and(|i| self.allowed.load(Ordering::Acquire) & (1u64 << i) != 0)
    }

    pub(crate) fn restrictions(&self, db: &Db) -> Restrictions {
        let min_age = self.policy.min_age_for(self.region.as_deref());
        let age_gate = match (min_age, db.age.age_years) {
            (Some(min), Some(age)) if age < min && !db.age.parental_consent => Some(min),
            _ => None,
        };
        Restrictions {
            age_gate,
            gpc: db.signals.gpc,
        }
    }

    /// Changes that set every consent purpose matching `pick` to denied.
    pub(crate) fn force_denied(
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

    fn capture(
        &self,
        buffer: &mut Buffer,
        now: i64,
        name: String,
        props: Option<String>,
    ) -> RecordOutcome {
        // The consent check and the append happen under the buffer lock, and
        // a withdrawal swaps the snapshot and purges under the same lock: a
        // record is either purged with the rest or refused (G3).
        let allowed = self
            .usage_category
            .is_some_and(|c| self.allowed.load(Ordering::Acquire) & (1u64 << c) != 0);
        if !allowed {
            buffer.dropped_no_consent += 1;
            return RecordOutcome::Dropped {
                reason: DropReason::NoConsent,
            };
        }
        buffer.next_seq += 1;
        let seq = buffer.next_seq;
        let categories = 1u64 << self.usage_category.unwrap_or(0);
        buffer.push(
            Pending {
                categories,
                purposes: self.usage_purposes,
                record: QueuedRecord {
                    seq,
                    ts_ms: now,
                    name,
                    props,
                },
            },
            self.policy.limits.max_queue_events,
        );
        if buffer.records.len() == WAKE_AT {
            self.wake.notify_one();
        }
        RecordOutcome::Recorded { seq }
    }

    /// Applies `changes` and `meta` writes in one durable transaction with
    /// their ledger entries and the purge of everything no longer allowed,
    /// then publishes the new snapshot and purges the buffer. Returns whether
    /// anything changed. On error nothing changed.
    fn apply(
        &self,
        db: &mut Db,
        changes: &[Change],
        meta: &[(&str, Option<String>)],
    ) -> Result<bool> {
        self.apply_with(db, changes, meta, None)
    }

    /// [`Inner::apply`] with `erase`: also empty every partition and run the
    /// extra writes in the same transaction (a deletion request).
    ///
    /// Some damage SQLite finds only when a page is written. A user's
    /// decision (a withdrawal above all) must not fail for it: the damaged
    /// store is set aside, the gate goes on with a fresh, fail-closed one
    /// (see [`Inner::recover_store`]) and the change is applied there.
    pub(crate) fn apply_with(
        &self,
        db: &mut Db,
        changes: &[Change],
        meta: &[(&str, Option<String>)],
        erase: Option<ExtraWrites<'_>>,
    ) -> Result<bool> {
        match self.apply_once(db, changes, meta, erase, true) {
            Err(e) if e.is_damage() => {
                self.recover_store(db, &e)?;
                // The app has not seen the notice yet: this change keeps it.
                self.apply_once(db, changes, meta, erase, false)
            }
            other => other,
        }
    }

    /// Sets aside a store found damaged while writing and continues on a
    /// fresh one, as open would have: every purpose unset, the queue empty,
    /// a new installation id, `store_recovery` reported. Carried over, as
    /// the user must not lose them: pending deletion tickets (if they can
    /// still be read) and the age signal.
    fn recover_store(&self, db: &mut Db, damage: &Error) -> Result<()> {
        let now = self.clock.now_ms();
        let tickets = db.store.deletions().unwrap_or_default();
        let (loaded, moved_to) = db.store.set_aside_and_reopen(now)?;
        let recovery = StoreRecovery {
            reason: format!("the database was found damaged while writing ({damage})"),
            moved_to: moved_to.display().to_string(),
        };
        log::warn!("consentgate: store damaged while writing; moved aside, continuing fail-closed");
        db.store.write(true, |txn| {
            txn.set_meta("store_recovery_reason", &recovery.reason)?;
            txn.set_meta("store_recovery_moved_to", &recovery.moved_to)?;
            if let Some(age) = db.age.age_years {
                txn.set_meta("age_years", &age.to_string())?;
            }
            txn.set_meta("parental_consent", &db.age.parental_consent.to_string())?;
            for t in &tickets {
                txn.put_deletion(t)?;
            }
            Ok(())
        })?;
        let installed = Installed::record(&mut db.store, loaded, &self.policy, &self.region)?;
        db.decisions = installed.decisions;
        db.first_seen = installed.first_seen;
        db.install_revision = installed.install_revision;
        db.installation_id = installed.installation_id;
        db.age = installed.age;
        db.queue = installed.queue;
        db.next_expiry_ms = None;
        db.in_flight.clear();
        db.recovery = Some(recovery);
        lock(&self.collected).user_id = None;
        lock(&self.buffer).purge(0);
        // Publishes the fail-closed snapshot (nothing to write).
        self.maintain(db, false)?;
        Ok(())
    }

    /// One attempt of [`Inner::apply_with`]; a user's decision clears the
    /// `store_recovery` notice only when `may_clear_recovery`.
    fn apply_once(
        &self,
        db: &mut Db,
        changes: &[Change],
        meta: &[(&str, Option<String>)],
        erase: Option<ExtraWrites<'_>>,
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
        let eval = consent::evaluate(
            &self.policy,
            &Facts {
                decisions: &decisions,
                first_seen: &db.first_seen,
                install_revision: db.install_revision,
                restrictions: self.restrictions(db),
                now_ms: now,
            },
        );
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
            .category_index("account_id")
            .is_some_and(|c| self.policy.category_purpose_mask(c) & !eval.granted == 0);
        if changes.is_empty()
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
                let mut group = 0u64;
                for c in changes {
                    let p = &policy.purposes[c.purpose];
                    txn.put_decision(&p.id, &decisions[&p.id])?;
                    let e = txn.append_ledger(LedgerEntry {
                        seq: 0,
                        txn: group,
                        at_ms: now,
                        purpose: p.id.clone(),
                        status: c.to,
                        source: c.source,
                        policy_id: policy.policy_id.clone(),
                        revision: policy.revision,
                        policy_hash: policy.hash.clone(),
                        app_version: self.app_version.clone(),
                        region: self.region.clone(),
                        installation_id: installation_id.clone(),
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
                    txn.delete_meta("store_recovery_reason")?;
                    txn.delete_meta("store_recovery_moved_to")?;
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
        db.next_expiry_ms = eval.next_expiry_ms;
        let mut state = eval.state;
        state.store_recovery = db.recovery.clone();
        state.version = old.state.version + 1;
        let snapshot = Arc::new(Snapshot::new(&self.policy, eval.granted, state));
        if self.usage_purposes & old.granted & !eval.granted != 0 {
            // Events a host buffered under an earlier version must not land now.
            self.usage_revoked_version
                .store(snapshot.state.version, Ordering::Release);
        }
        let allowed = snapshot.allowed;
        {
            let mut buffer = lock(&self.buffer);
            self.allowed.store(allowed, Ordering::Release);
            self.snapshot.store(snapshot);
            buffer.purge(eval.granted);
        }
        lock(&self.collected)
            .device
            .retain_allowed(&self.policy, allowed);
        if self
            .policy
            .category_index("advertising_id")
            .is_none_or(|c| allowed & (1u64 << c) == 0)
        {
            lock(&self.collected).ad_id = None;
        }
        Ok(true)
    }

    /// Retires expired or superseded decisions (ledger source `expiry` or
    /// `migration`), purges what is no longer allowed, and on `full` runs (at
    /// open and every minute) enforces the event TTL and ledger retention.
    fn maintain(&self, db: &mut Db, full: bool) -> Result<bool> {
        let now = self.clock.now_ms();
        let eval = consent::evaluate(
            &self.policy,
            &Facts {
                decisions: &db.decisions,
                first_seen: &db.first_seen,
                install_revision: db.install_revision,
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
        if full {
            self.enforce_retention(db, now)?;
            db.last_maintenance_ms = now;
        }
        Ok(changed)
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

    /// Moves the buffer into the store in one transaction and enforces the
    /// count and size bounds, evicting the oldest records first (G8). On
    /// failure the records go back to the buffer for the next attempt.
    pub(crate) fn commit_buffer(&self) -> Result<()> {
        let mut db = lock(&self.db);
        let (records, dropped, evicted_mem) = {
            let mut b = lock(&self.buffer);
            let d = std::mem::take(&mut b.dropped_no_consent);
            let e = std::mem::take(&mut b.evicted);
            (b.take(), d, e)
        };
        if records.is_empty() && dropped == 0 && evicted_mem == 0 {
            return Ok(());
        }
        let limits = &self.policy.limits;
        let policy = &self.policy;
        let mut counts = db.queue.counts.clone();
        let dropped_total = db.queue.dropped_no_consent + dropped;
        let evicted_before = db.queue.evicted + evicted_mem;
        let mut records = records;
        records.make_contiguous();
        let slice = records.as_slices().0;
        let result = db.store.write(false, |txn| {
            let mut i = 0;
            while i < slice.len() {
                let cats = slice[i].categories;
                let j = i + slice[i..]
                    .iter()
                    .take_while(|p| p.categories == cats)
                    .count();
                let p = txn.partition(&queue::categories_key(policy, cats))?;
                let group = &slice[i..j];
                txn.insert_records(&p, group.iter().map(|p| &p.record))?;
                let c = counts.entry(p.id).or_default();
                c.events += group.len() as u64;
                c.bytes += group.iter().map(|p| p.record.bytes()).sum::<u64>();
                let first = group[0].record.ts_ms;
                c.oldest_ms = Some(c.oldest_ms.map_or(first, |o| o.min(first)));
                i = j;
            }
            // Evict oldest first while over either bound.
            let mut evicted = 0u64;
            let partitions = txn.partitions();
            loop {
                let (events, bytes) = counts
                    .values()
                    .fold((0u64, 0u64), |(e, b), c| (e + c.events, b + c.bytes));
                if events <= limits.max_queue_events && bytes <= limits.max_queue_bytes {
                    break;
                }
                let mut oldest: Option<(u64, &crate::store::Partition)> = None;
                for p in &partitions {
                    if let Some(s) = txn.min_seq_in(p)? {
                        if oldest.is_none_or(|(o, _)| s < o) {
                            oldest = Some((s, p));
                        }
                    }
                }
                let Some((_, p)) = oldest else { break };
                let over_events = events.saturating_sub(limits.max_queue_events);
                let avg = (bytes / events.max(1)).max(1);
                let over_bytes = bytes.saturating_sub(limits.max_queue_bytes).div_ceil(avg);
                let n = over_events.max(over_bytes).max(1);
                let (gone, gone_bytes) = txn.delete_oldest(p, n)?;
                if gone == 0 {
                    break;
                }
                let oldest_left = txn.oldest_in(p)?;
                let c = counts.entry(p.id).or_default();
                c.events = c.events.saturating_sub(gone);
                c.bytes = c.bytes.saturating_sub(gone_bytes);
                c.oldest_ms = oldest_left;
                evicted += gone;
            }
            if let Some(last) = slice.last() {
                txn.set_meta("last_seq", &last.record.seq.to_string())?;
            }
            txn.set_meta("dropped_no_consent", &dropped_total.to_string())?;
            txn.set_meta("evicted", &(evicted_before + evicted).to_string())?;
            Ok(evicted)
        });
        match result {
            Ok(evicted) => {
                log::debug!(
                    "consentgate: committed {} records ({} evicted by queue bounds)",
                    records.len(),
                    evicted
                );
                db.queue.counts = counts;
                db.queue.dropped_no_consent = dropped_total;
                db.queue.evicted = evicted_before + evicted;
                Ok(())
            }
            Err(e) => {
                // No withdrawal can have run meanwhile: it needs the store lock
                // we hold. Putting the records back is therefore safe (G3).
                let mut b = lock(&self.buffer);
                b.restore(records);
                b.dropped_no_consent += dropped;
                b.evicted += evicted_mem;
                Err(e)
            }
        }
    }

    pub(crate) fn notify(&self) {
        let listener = lock(&self.listener).clone();
        if let Some(l) = listener {
            let state = self.snapshot.load().state.clone();
            // The change is committed; a listener that throws must not turn
            // it into an error for the caller.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                l.on_consent_changed(state)
            }))
            .is_err()
            {
                log::warn!("consentgate: the ConsentListener threw; the change stands");
            }
        }
    }
}

fn writer_loop(inner: Arc<Inner>) {
    loop {
        let stop = {
            let guard = lock(&inner.stop);
            if *guard {
                true
            } else {
                let (guard, _) = inner
                    .wake
                    .wait_timeout(guard, COMMIT_EVERY)
                    .unwrap_or_else(|e| e.into_inner());
                *guard
            }
        };
        // Host code runs in here (the clock, the logger, listeners): if it
        // throws, this round is lost, never the thread (G7).
        let round =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer_round(&inner, stop)));
        if round.is_err() {
            log::warn!("consentgate: writer round failed in host code; continuing");
        }
        if stop {
            return;
        }
    }
}

/// One round of the writer: group commit, then maintenance when due.
fn writer_round(inner: &Inner, stop: bool) {
    if let Err(e) = inner.commit_buffer() {
        log::warn!(
            "consentgate: group commit failed, will retry: {}",
            GateError::from(e)
        );
    }
    if stop {
        return;
    }
    let notify = {
        let mut db = lock(&inner.db);
        let now = inner.clock.now_ms();
        let due_expiry = db.next_expiry_ms.is_some_and(|e| now >= e);
        let due_full = now.saturating_sub(db.last_maintenance_ms) >= MAINTAIN_EVERY_MS;
        if due_expiry || due_full {
            match inner.maintain(&mut db, due_full) {
                Ok(changed) => changed,
                Err(e) => {
                    log::warn!(
                        "consentgate: maintenance failed, will retry: {}",
                        GateError::from(e)
                    );
                    false
                }
            }
        } else {
            false
        }
    };
    if notify {
        inner.notify();
    }
}
