//! The exported capture calls: events from the app (`record_event`,
//! `record_events`), events a host buffered (`record_captured`), the rules a
//! host buffer follows (`capture_rules`), device fields, the advertising
//! id and the install referrer. Each delegates to the engine.

use std::sync::Arc;

use super::ConsentGate;
use crate::device::{
    AdIdProvider, DeviceInfo, DeviceInfoProvider, InstallReferrer, InstallReferrerProvider,
};
use crate::error::GateError;
use crate::event::{CaptureReport, CaptureRules, CapturedEvent, EventInput, RecordOutcome};

#[uniffi::export]
impl ConsentGate {
    /// Validates and queues one usage event. Without `usage_events` consent the
    /// event is dropped (`dropped{no_consent}`) and nothing is written. Never
    /// touches the disk on the caller's thread.
    pub fn record_event(
        &self,
        name: String,
        properties_json: Option<String>,
    ) -> Result<RecordOutcome, GateError> {
        Ok(self.engine.record(name, properties_json)?)
    }

    /// Queues many events in one call (one FFI crossing). Every event is
    /// validated first; if one is invalid nothing is recorded and the error
    /// names its index.
    pub fn record_events(&self, events: Vec<EventInput>) -> Result<Vec<RecordOutcome>, GateError> {
        Ok(self.engine.record_many(events)?)
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
        dropped_no_consent: i64,
        evicted: i64,
    ) -> Result<CaptureReport, GateError> {
        let count = |n: i64, what: &str| {
            u64::try_from(n).map_err(|_| GateError::InvalidArgument {
                message: format!("{what} must not be negative, got {n}"),
            })
        };
        let dropped = count(dropped_no_consent, "dropped_no_consent")?;
        let evicted = count(evicted, "evicted")?;
        Ok(self.engine.record_captured(events, dropped, evicted)?)
    }

    /// The rules a host that buffers events on its side follows: the name
    /// pattern and property limits (so it refuses at once what the core
    /// would refuse), how a record is charged against the byte bounds, and
    /// the most it may hold (never more than the core would keep, G8).
    pub fn capture_rules(&self) -> CaptureRules {
        self.engine.capture_rules()
    }

    /// Asks `provider` for the device fields whose category is allowed, and
    /// only those; when none is allowed the provider is not called at all.
    /// The result is kept in memory to describe the device in upload batches.
    pub fn collect_device_info(
        &self,
        provider: Arc<dyn DeviceInfoProvider>,
    ) -> Result<DeviceInfo, GateError> {
        Ok(self.engine.collect_device_info(provider)?)
    }

    /// The advertising id, asked of `provider` only when `advertising_id` is
    /// allowed, ATT is authorized or not applicable, and limit-ad-tracking is
    /// off. An all-zero id counts as absent.
    pub fn advertising_id(&self, provider: Arc<dyn AdIdProvider>) -> Option<String> {
        self.engine.advertising_id(provider)
    }

    /// How the user found the app (the store's install referrer), asked of
    /// `provider` only while `install_referrer` is allowed: never before
    /// consent. The answer is kept in memory and attached to the batches
    /// built while the category stays allowed; withdrawal and deletion drop
    /// it. An empty referrer counts as absent.
    pub fn install_referrer(
        &self,
        provider: Arc<dyn InstallReferrerProvider>,
    ) -> Option<InstallReferrer> {
        self.engine.install_referrer(provider)
    }
}
