//! Opening a data directory: its lock first (one gate per directory), then
//! the store (classified, upgraded, verified — see `store`), the policy (given,
//! or the one stored), the installation (its id, the purposes first seen),
//! and the first evaluation of consent, which retires expired decisions,
//! purges what they covered and publishes the first snapshot. Until then
//! nothing is allowed (G1).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::{lock, writer, Db, Engine};
use crate::acknowledge;
use crate::clock::Clock;
use crate::consent::{self, Facts, Restrictions, StoredDecision};
use crate::device::{AgeSignal, Collected, PlatformSignals};
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::queue::{Buffer, DiskQueue};
use crate::snapshot::Snapshot;
use crate::store::{DirLock, Loaded, Store, Txn};
use crate::wire::InFlight;

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
pub(super) struct Installed {
    pub decisions: HashMap<String, StoredDecision>,
    pub first_seen: HashMap<String, u32>,
    pub install_revision: u32,
    /// The latest revision the user is known to have been shown (`acknowledge`).
    pub notice_revision: u32,
    pub installation_id: String,
    pub age: AgeSignal,
    pub queue: DiskQueue,
}

impl Installed {
    /// Reads the installation from `store` (with what opening it read), and
    /// records it first where it is new or the policy or region changed:
    /// an id, the policy, the purposes first seen, the install revision and
    /// the notice revision, settled against the given policy (a material
    /// change leaves nothing to acknowledge).
    pub fn record(
        store: &mut Store,
        loaded: Loaded,
        policy: &Policy,
        region: &Option<String>,
    ) -> Result<Installed> {
        let installation_id = store.meta("installation_id")?;
        let stored_hash = store.meta("policy_hash")?;
        let stored_region = store.meta("region")?;
        let stored_notice = notice_revision(store, policy)?;
        let mut first_seen = loaded.first_seen;
        let unseen = policy
            .purposes
            .iter()
            .any(|p| !first_seen.contains_key(&p.id));
        let (installation_id, notice_revision) = match installation_id {
            Some(id)
                if stored_hash.as_deref() == Some(policy.hash.as_str())
                    && stored_region == *region
                    && !unseen =>
            {
                (id, stored_notice)
            }
            existing => {
                let id = existing.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                for p in &policy.purposes {
                    first_seen.entry(p.id.clone()).or_insert(policy.revision);
                }
                // Settled as the given policy replaces the stored one, and
                // written with it.
                let notice = acknowledge::settle(policy, stored_notice, &first_seen);
                store.write(true, |txn| {
                    record_installation(txn, policy, region.as_deref(), &id)?;
                    if stored_hash.is_none() {
                        txn.set_meta("install_revision", &policy.revision.to_string())?;
                    }
                    txn.set_meta(NOTICE_REVISION, &notice.to_string())
                })?;
                (id, notice)
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
            notice_revision,
            installation_id,
            age,
            queue: DiskQueue::load(store, loaded.counts)?,
        })
    }
}

/// The `meta` key of the notice revision (see `acknowledge`).
pub(super) const NOTICE_REVISION: &str = "notice_revision";

/// The notice revision a store holds, before the policy given now is taken
/// into account. A store written before acknowledgements existed (schema 4
/// or less) has none: its user stood at the revision of the policy it
/// stored; a store with no policy yet is a fresh install, which starts at
/// the given policy's revision. (An unreadable value reads as absent.)
fn notice_revision(store: &Store, policy: &Policy) -> Result<u32> {
    if let Some(n) = store.meta(NOTICE_REVISION)?.and_then(|v| v.parse().ok()) {
        return Ok(n);
    }
    let stored = store.meta("policy_json")?.and_then(|json| {
        let doc = serde_json::from_str::<serde_json::Value>(&json).ok()?;
        u32::try_from(doc.get("revision")?.as_u64()?).ok()
    });
    Ok(stored.unwrap_or(policy.revision))
}

fn valid_region(r: &str) -> bool {
    r.len() == 2 && r.bytes().all(|c| c.is_ascii_uppercase())
}

impl Engine {
    /// Opens the data directory of `o` and starts its writer thread.
    pub fn open(o: OpenOptions) -> Result<(Arc<Engine>, std::thread::JoinHandle<()>)> {
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
        let dir_lock = DirLock::acquire(&o.data_dir)?;
        let now = o.clock.now_ms();
        let (mut store, loaded, recovery) = Store::open(&o.data_dir, now)?;
        if let Some(r) = &recovery {
            // Kept in the fresh store so the next open still reports it, even
            // if this one fails below.
            store.write(true, |txn| txn.set_recovery(r))?;
        }
        let recovery = store.recovery()?;
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
        let user_id = store.meta("user_id")?;
        let db = Db {
            decisions: installed.decisions,
            first_seen: installed.first_seen,
            install_revision: installed.install_revision,
            notice_revision: installed.notice_revision,
            installation_id: installed.installation_id,
            age: installed.age,
            signals: PlatformSignals::default(),
            queue: installed.queue,
            next_expiry_ms: None,
            ledger_due_ms: None,
            retry_maintenance_ms: None,
            recovery: recovery.clone(),
            in_flight: InFlight::default(),
            interop: Default::default(),
            store,
        };
        let usage_purposes = policy
            .reserved
            .usage_events
            .map_or(u64::MAX, |c| policy.category_purpose_mask(c));
        let mut state0 = consent::evaluate(
            &policy,
            &Facts {
                decisions: &HashMap::new(),
                first_seen: &HashMap::new(),
                install_revision: 0,
                notice_revision: policy.revision,
                restrictions: Restrictions::default(),
                now_ms: now,
            },
        );
        state0.state.store_recovery = recovery;
        // Until the first evaluation below, nothing is allowed (fail-closed).
        let snapshot = Snapshot::new(&policy, 0, state0.state);
        let engine = Arc::new(Engine {
            region,
            app_version: o.app_version,
            clock: o.clock,
            usage_purposes,
            db: Mutex::new(db),
            buffer: Mutex::new(Buffer {
                next_seq: max_seq,
                ..Buffer::default()
            }),
            collected: Mutex::new(Collected {
                user_id,
                ..Collected::default()
            }),
            allowed: AtomicU64::new(snapshot.allowed),
            snapshot: ArcSwap::from_pointee(snapshot),
            listener: Mutex::new(None),
            deletion_listener: Mutex::new(None),
            closed: AtomicBool::new(false),
            flushing: Mutex::new(()),
            writer: writer::Signal::default(),
            dir_lock: Mutex::new(Some(dir_lock)),
            policy,
        });
        {
            let mut db = lock(&engine.db);
            // Retire expired or superseded decisions, purge what is no longer
            // allowed, enforce TTL and retention, and publish the snapshot.
            engine.maintain(&mut db)?;
            let (events, _) = db.queue.totals();
            log::info!(
                "consentgate: opened policy {} revision {} with {events} queued records",
                engine.policy.policy_id,
                engine.policy.revision
            );
        }
        let handle = writer::spawn(&engine)?;
        Ok((engine, handle))
    }
}
