//! The exported surface: [`ConsentGate`] and the records apps pass to it.
//! A shell: each method checks nothing and decides nothing itself, it
//! delegates to the engine (`crate::engine`) and turns the internal error
//! into the one public [`GateError`]. Split by what the app is doing:
//! consent (here), capture (`capture`), upload and deletion (`upload`),
//! inspection and export (`inspect`), web content (`webview`: the script
//! page scripts read decisions from).

mod capture;
mod inspect;
mod interop;
mod upload;
mod webview;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::consent::{ConsentSource, ConsentState, PurposeDecision};
use crate::device::{AgeSignal, PlatformSignals};
use crate::engine::{lock, Engine};
use crate::error::GateError;
use crate::policy::Policy;

pub use crate::engine::OpenOptions;
pub use inspect::{copy_data_dir, ledger_at, verify_ledger_at};
pub use webview::{webview_script, webview_update_script, webview_user_script, WEBVIEW_SCRIPT};

/// How an app opens the gate.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GateConfig {
    /// Directory for the database (Android: `noBackupFilesDir`; iOS:
    /// Application Support marked `isExcludedFromBackup`). It must be
    /// excluded from OS backups: a restored backup brings back old
    /// decisions together with their marker, and cannot be told apart.
    pub data_dir: String,
    /// The policy document bundled with the app (SPEC §3).
    pub policy_json: String,
    /// The user's region (ISO 3166-1 alpha-2, e.g. `KZ`), if known.
    pub region: Option<String>,
    /// The app's version, recorded in the ledger and batches.
    pub app_version: String,
}

/// The consent gate: one per data directory, shared by the whole app.
#[derive(uniffi::Object)]
pub struct ConsentGate {
    engine: Arc<Engine>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ConsentGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentGate")
            .field("policy_id", &self.engine.policy().policy_id)
            .finish_non_exhaustive()
    }
}

#[uniffi::export]
impl ConsentGate {
    /// Opens the gate for `config.data_dir` with the system clock. Fails with
    /// `InvalidPolicy` (every problem listed) before touching the disk when
    /// the policy is invalid, and with `Busy` when another gate (in this
    /// process or another) holds the directory; a corrupt store is moved
    /// aside and replaced by a fresh, fail-closed one
    /// (`ConsentState::store_recovery` says so).
    #[uniffi::constructor]
    pub fn open(config: GateConfig) -> Result<Arc<ConsentGate>, GateError> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`ConsentGate::open`], with a host-supplied clock (tests, trusted time).
    #[uniffi::constructor]
    pub fn open_with_clock(
        config: GateConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<ConsentGate>, GateError> {
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
        self.engine.consent_state()
    }

    /// Applies the user's decisions. Denying a purpose purges every queued
    /// record that needs it in the same transaction as the ledger entries
    /// (G3); when this returns Ok the decision is on disk (G4). `source` must
    /// be `banner`, `settings` or `api`.
    pub fn set_consent(
        &self,
        decisions: Vec<PurposeDecision>,
        source: ConsentSource,
    ) -> Result<ConsentState, GateError> {
        Ok(self.engine.set_consent(&decisions, source)?)
    }

    /// Grants every consent purpose (except sale-or-share purposes while a GPC
    /// signal holds). Fails with `AgeRestricted` under the age gate.
    pub fn accept_all(&self, source: ConsentSource) -> Result<ConsentState, GateError> {
        Ok(self.engine.set_all(true, source)?)
    }

    /// Denies every consent purpose and purges what they covered.
    pub fn reject_all(&self, source: ConsentSource) -> Result<ConsentState, GateError> {
        Ok(self.engine.set_all(false, source)?)
    }

    /// Records that the user was shown the policy change in
    /// `ConsentState::needs_acknowledgement` (a revision that needs no new
    /// consent): a ledger entry of kind `acknowledgement`, durable and
    /// hash-chained like a decision, exported as a receipt; the state
    /// returned no longer needs it. Only this clears it — continued use
    /// never does. With nothing to acknowledge it changes nothing and
    /// returns the state (so a second tap is harmless). `source` must be
    /// `banner`, `settings` or `api`.
    pub fn acknowledge_policy(&self, source: ConsentSource) -> Result<ConsentState, GateError> {
        Ok(self.engine.acknowledge_policy(source)?)
    }

    /// True when every purpose `category` requires is granted. Lock-free, no
    /// I/O, no allocation; an unknown category is never allowed (G1).
    pub fn allows(&self, category: String) -> bool {
        self.engine.allows(&category)
    }

    /// Reports platform signals. With `gpc`, sale-or-share purposes are denied
    /// (ledger source `gpc`) and cannot be granted while the signal holds.
    pub fn set_platform_signals(
        &self,
        signals: PlatformSignals,
    ) -> Result<ConsentState, GateError> {
        Ok(self.engine.set_platform_signals(signals)?)
    }

    /// Reports the user's age. Below the policy's `min_age` (region override
    /// wins) without parental consent, every consent purpose is denied (ledger
    /// source `age_gate`) and granting one fails with `AgeRestricted`.
    pub fn set_age(&self, age: AgeSignal) -> Result<ConsentState, GateError> {
        Ok(self.engine.set_age(age)?)
    }

    /// Sets (or clears) the app's user id, category `account_id`. It is kept
    /// on disk only while `account_id` is allowed, and sent only then.
    pub fn set_user_id(&self, user_id: Option<String>) -> Result<(), GateError> {
        Ok(self.engine.set_user_id(user_id)?)
    }

    /// Writes every buffered record to disk now.
    pub fn persist(&self) -> Result<(), GateError> {
        Ok(self.engine.persist()?)
    }

    /// Commits what is buffered, stops the writer thread and releases the
    /// data directory. Later calls fail with `Closed`. Also done when the
    /// last reference is dropped.
    pub fn close(&self) -> Result<(), GateError> {
        let handle = lock(&self.writer).take();
        self.engine.stop_writer(handle);
        self.engine.close()?;
        Ok(())
    }
}

impl ConsentGate {
    /// Opens with explicit options (Rust callers: the CLI, tests).
    pub fn open_with(options: OpenOptions) -> Result<Arc<ConsentGate>, GateError> {
        let (engine, writer) = Engine::open(options)?;
        Ok(Arc::new(ConsentGate {
            engine,
            writer: Mutex::new(Some(writer)),
        }))
    }

    /// Non-allocating `allows` for Rust callers.
    #[inline]
    pub fn allows_str(&self, category: &str) -> bool {
        self.engine.allows(category)
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        self.engine.policy()
    }

    /// How often the writer thread has woken up since open: a diagnostic
    /// behind the `idle_wakeups_per_min` figure (an idle gate: 0).
    pub fn writer_wakeups(&self) -> u64 {
        self.engine.writer_wakeups()
    }
}

impl Drop for ConsentGate {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            log::warn!("consentgate: final commit failed at drop: {e}");
        }
    }
}
