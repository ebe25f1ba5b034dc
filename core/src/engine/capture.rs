//! Capture: events from the app's threads into the buffer, events a host
//! buffered on its side (`record_captured`), device fields and the
//! advertising id from the host's providers. The consent check and the
//! append happen under the buffer lock, and a withdrawal swaps the snapshot
//! and purges under the same lock: a record is either purged with the rest
//! or refused (G3). No I/O here.

use std::sync::Arc;

use super::writer::WAKE_AT;
use super::{lock, Engine};
use crate::device::{
    ad_id_permitted, AdIdProvider, Collected, DeviceInfo, DeviceInfoProvider, InstallReferrer,
    InstallReferrerProvider,
};
use crate::error::{Error, Result};
use crate::event::{
    self, signed, CaptureReport, CaptureRules, CapturedEvent, DropReason, EventInput, RecordOutcome,
};
use crate::queue::{Buffer, Pending};
use crate::store::QueuedRecord;

impl Engine {
    /// Validates and queues one event (or drops it without consent).
    pub fn record(&self, name: String, properties_json: Option<String>) -> Result<RecordOutcome> {
        self.check_open()?;
        event::validate(&name, properties_json.as_deref())?;
        log::trace!("consentgate: record_event {name}");
        let now = self.clock.now_ms();
        let mut buffer = lock(&self.buffer);
        Ok(self.capture(&mut buffer, now, name, properties_json))
    }

    /// Validates every event first (an invalid one names its index and
    /// nothing is recorded), then queues them all under one lock.
    pub fn record_many(&self, events: Vec<EventInput>) -> Result<Vec<RecordOutcome>> {
        self.check_open()?;
        for (i, e) in events.iter().enumerate() {
            if let Err(crate::GateError::InvalidArgument { message }) =
                event::validate(&e.name, e.properties_json.as_deref())
            {
                return Err(Error::Invalid(format!("events[{i}]: {message}")));
            }
        }
        let now = self.clock.now_ms();
        let mut buffer = lock(&self.buffer);
        Ok(events
            .into_iter()
            .map(|e| self.capture(&mut buffer, now, e.name, e.properties_json))
            .collect())
    }

    /// Queues events a host buffered: each needs consent now (G2) and must
    /// have been captured under a consent version no older than the last
    /// withdrawal of `usage_events` (G3); invalid ones are skipped and
    /// counted; the host's own drops and evictions are added to the figures.
    pub fn record_captured(
        &self,
        events: Vec<CapturedEvent>,
        dropped_no_consent: u64,
        evicted: u64,
    ) -> Result<CaptureReport> {
        self.check_open()?;
        let mut report = CaptureReport::default();
        let mut valid = Vec::with_capacity(events.len());
        for e in events {
            match event::validate(&e.name, e.properties_json.as_deref()) {
                Ok(()) => valid.push(e),
                Err(err) => {
                    report.invalid += 1;
                    if report.first_invalid.is_none() {
                        report.first_invalid = Some(err.to_string());
                    }
                }
            }
        }
        let now = self.clock.now_ms();
        #[cfg(feature = "test-hooks")]
        crate::test_hooks::reached_capture_lock();
        let mut buffer = lock(&self.buffer);
        // Read under the lock the withdrawal sets it under (G3): a
        // withdrawal and a re-grant landing between a read outside it and
        // the lock would let an event captured before the withdrawal in.
        let revoked = buffer.revoked_version;
        buffer.dropped_no_consent += dropped_no_consent;
        buffer.evicted += evicted;
        if dropped_no_consent + evicted > 0 {
            self.pending(&mut buffer);
        }
        for e in valid {
            let outcome = if e.consent_version < revoked {
                buffer.dropped_no_consent += 1;
                self.pending(&mut buffer);
                RecordOutcome::Dropped {
                    reason: DropReason::NoConsent,
                }
            } else {
                let ts = e.captured_at_ms.min(now);
                self.capture(&mut buffer, ts, e.name, e.properties_json)
            };
            match outcome {
                RecordOutcome::Recorded { .. } => report.recorded += 1,
                RecordOutcome::Dropped { .. } => report.dropped_no_consent += 1,
            }
        }
        Ok(report)
    }

    /// The rules a host-side buffer follows.
    pub fn capture_rules(&self) -> CaptureRules {
        CaptureRules::for_limits(&self.policy.limits)
    }

    /// Asks `provider` for the allowed device fields only, and keeps them.
    pub fn collect_device_info(&self, provider: Arc<dyn DeviceInfoProvider>) -> Result<DeviceInfo> {
        self.check_open()?;
        let allowed = self.snapshot.load().allowed;
        let info = DeviceInfo::collect(&self.policy, allowed, provider.as_ref());
        log::debug!(
            "consentgate: collected device info ({} categories allowed)",
            allowed.count_ones()
        );
        // A withdrawal may have happened while the provider ran.
        let mut kept = info.clone();
        kept.retain_allowed(&self.policy, self.snapshot.load().allowed);
        lock(&self.collected).device = kept;
        Ok(info)
    }

    /// The advertising id, asked of `provider` only when the ad-id rule allows.
    pub fn advertising_id(&self, provider: Arc<dyn AdIdProvider>) -> Option<String> {
        self.ask_host(
            self.policy.reserved.advertising_id,
            || ad_id_permitted(true, self.platform_signals()),
            || {
                provider
                    .advertising_id()
                    .filter(|id| !crate::device::is_null_ad_id(id))
            },
            |c| &mut c.ad_id,
        )
    }

    /// The install referrer, asked of `provider` only while `install_referrer`
    /// is allowed, and kept only if it still is when the provider answers.
    pub fn install_referrer(
        &self,
        provider: Arc<dyn InstallReferrerProvider>,
    ) -> Option<InstallReferrer> {
        self.ask_host(
            self.policy.reserved.install_referrer,
            || true,
            || provider.install_referrer()?.normalized(),
            |c| &mut c.install_referrer,
        )
    }

    /// The one gate for a value asked of the host and kept in `collected`:
    /// `ask` runs only while `category` is allowed and `also` holds (read
    /// outside every lock: it may take the store lock), and its answer is
    /// kept in `slot` only if both still hold when the host answers. The
    /// category is read again under the `collected` lock, which a withdrawal
    /// trims under, so a withdrawal while the host runs keeps nothing.
    fn ask_host<T: Clone>(
        &self,
        category: Option<usize>,
        also: impl Fn() -> bool,
        ask: impl FnOnce() -> Option<T>,
        slot: impl FnOnce(&mut Collected) -> &mut Option<T>,
    ) -> Option<T> {
        let allowed = || category.is_some_and(|c| self.allows_index(c));
        if self.check_open().is_err() || !allowed() || !also() {
            return None;
        }
        let value = ask()?;
        // A withdrawal may have happened while the provider ran.
        if !also() {
            return None;
        }
        let mut collected = lock(&self.collected);
        if !allowed() {
            return None;
        }
        *slot(&mut collected) = Some(value.clone());
        Some(value)
    }

    /// Appends one valid event if `usage_events` is allowed now.
    fn capture(
        &self,
        buffer: &mut Buffer,
        at_ms: i64,
        name: String,
        props: Option<String>,
    ) -> RecordOutcome {
        let usage = self.policy.reserved.usage_events;
        if !usage.is_some_and(|c| self.allows_index(c)) {
            buffer.dropped_no_consent += 1;
            self.pending(buffer);
            return RecordOutcome::Dropped {
                reason: DropReason::NoConsent,
            };
        }
        buffer.next_seq += 1;
        let seq = buffer.next_seq;
        buffer.push(
            Pending {
                categories: 1u64 << usage.unwrap_or(0),
                purposes: self.usage_purposes,
                record: QueuedRecord {
                    seq,
                    ts_ms: at_ms,
                    name,
                    props,
                },
            },
            self.policy.limits.max_queue_events,
        );
        if buffer.records.len() == WAKE_AT {
            self.writer.kick();
        } else {
            self.pending(buffer);
        }
        RecordOutcome::Recorded { seq: signed(seq) }
    }

    /// Something is waiting in the buffer: the first thing since the last
    /// commit starts the writer's one-second clock.
    fn pending(&self, buffer: &mut Buffer) {
        if buffer.since.is_none() {
            buffer.since = Some(std::time::Instant::now());
            self.writer.kick();
        }
    }
}
