//! consentgate: nothing about the user is collected before they agree, nothing
//! is kept after they take consent back, and a request to be forgotten reaches
//! the backend even from an offline phone.
//!
//! The crate is the one place every rule lives; UniFFI exports it to Kotlin
//! (`dev.consentgate.ffi`) and Swift (`ConsentGateFFI`). Start at
//! [`ConsentGate`]:
//!
//! ```no_run
//! use consentgate::{ConsentGate, ConsentSource, GateConfig, PurposeDecision};
//! let gate = ConsentGate::open(GateConfig {
//!     data_dir: "/tmp/consentgate-doc".into(),
//!     policy_json: std::fs::read_to_string("examples/policies/example-kz.json").unwrap(),
//!     region: Some("KZ".into()),
//!     app_version: "1.0.0".into(),
//! }).unwrap();
//! assert!(!gate.allows("usage_events".into()));          // fail-closed
//! gate.set_consent(vec![PurposeDecision { purpose: "analytics".into(), granted: true }],
//!                  ConsentSource::Banner).unwrap();
//! gate.record_event("screen_view".into(), Some(r#"{"screen":"home"}"#.into())).unwrap();
//! ```

uniffi::setup_scaffolding!();

// Modules, by layer (each uses only those above it in this list):
// base — error, clock, logging, interop (the TCF/GPP/USP codecs, pure);
// domain — policy, consent, acknowledge (policy changes needing no consent), cmp (what TCF/GPP strings mean, Consent Mode), ledger, event, device, snapshot, ticket, wire;
// storage — store; the rules over it — queue, deletion, upload;
// engine — state, locks, the consent transaction, the writer;
// api — the exported shell.
pub mod acknowledge;
mod api;
pub mod clock;
mod cmp;
pub mod consent;
pub mod deletion;
pub mod device;
mod engine;
mod error;
pub mod event;
pub mod interop;
pub mod ledger;
mod logging;
pub mod policy;
mod queue;
mod snapshot;
mod store;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
mod ticket;
pub mod upload;
pub mod wire;

pub use acknowledge::PolicyChange;
pub use api::{
    copy_data_dir, ledger_at, verify_ledger_at, webview_script, webview_update_script,
    webview_user_script, ConsentGate, GateConfig, OpenOptions, WEBVIEW_SCRIPT,
};
pub use clock::{time_changed, Clock, ManualClock, SystemClock};
pub use cmp::{
    ConsentModeSignals, ConsentModeStatus, InteropMode, InteropState, KeyValueStore, KeyWrite,
    SignalReport, SignalStatus, GPP_STRING_KEY, TC_STRING_KEY,
};
pub use consent::{
    ConsentListener, ConsentSource, ConsentState, ConsentStatus, PromptReason, PurposeDecision,
    PurposeState, StoreRecovery,
};
pub use deletion::DeletionListener;
pub use device::{
    AdIdProvider, AgeSignal, AttStatus, DeviceInfo, DeviceInfoProvider, InstallReferrer,
    InstallReferrerProvider, PlatformSignals,
};
pub use error::GateError;
pub use event::{
    CaptureReport, CaptureRules, CapturedEvent, DropReason, EventInput, RecordOutcome,
};
pub use ledger::{LedgerCheck, LedgerEntry, LedgerKind};
pub use logging::{set_logger, LogLevel, Logger};
pub use policy::{ConsentModeType, Policy, PolicyIssue, PurposeKind};
pub use queue::QueueStats;
pub use store::{DB_FILE, LOCK_FILE, SCHEMA_VERSION};
pub use ticket::{DeletionStatus, DeletionTicket};
pub use upload::{FlushReport, Uploader};
pub use wire::{HttpHeader, UploadRequest, UploadResult, UploadTask, SDK_VERSION};
