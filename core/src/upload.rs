//! Pull-based upload (SPEC §4, §5): the core decides what to send and when,
//! the host does the HTTP. This module owns the request and reply types, the
//! [`Uploader`] foreign trait, the batch body (gzip JSON), the reply rules
//! (2xx delivered, other 4xx but 408/429 dropped, the rest retried) and the
//! backoff schedule, and which request goes next (deletion tickets first,
//! then the pending batch, then a new one) with the bookkeeping around it;
//! the tables are in `store`.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use serde_json::value::RawValue;

use std::sync::Arc;

use crate::clock::rfc3339;
use crate::consent::ConsentStatus;
use crate::deletion::{DeletionStatus, DeletionTicket};
use crate::error::{GateError, Result};
use crate::gate::{lock, ConsentGate, Db, Inner};
use crate::store::{BatchRow, DeletionRow, Partition, QueuedRecord};

/// The SDK version sent in `User-Agent` and batch bodies.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// First retry delay; doubles with each failed attempt.
pub const BACKOFF_BASE_MS: i64 = 1_000;
/// Longest retry delay.
pub const BACKOFF_CAP_MS: i64 = 300_000;

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// Header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

/// An HTTP request for the host to send exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UploadRequest {
    /// Pass back to `complete_upload`; equals the batch or deletion request id.
    pub request_id: String,
    /// Always `POST`.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Headers to send (content type and encoding, user agent, idempotency key).
    pub headers: Vec<HttpHeader>,
    /// The gzip-compressed JSON body.
    pub body: Vec<u8>,
}

/// What the host should do next.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum UploadTask {
    /// Send this request, then call `complete_upload`.
    Upload {
        /// The request.
        request: UploadRequest,
    },
    /// Nothing may be sent before `ms` milliseconds have passed (backoff).
    Wait {
        /// How long to wait.
        ms: u64,
    },
    /// Nothing to send now.
    Done,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum UploadResult {
    /// The server answered.
    Http {
        /// HTTP status code.
        status: u16,
        /// `Retry-After` in seconds, if the server sent one.
        retry_after_s: Option<u64>,
        /// The response body, if any (deletion receipts are read from it).
        body: Option<String>,
    },
    /// No answer: DNS, connect, TLS, timeout or a dropped connection.
    NetworkError {
        /// What failed (not logged above debug).
        message: String,
    },
}

/// Sends requests with the host's HTTP stack (OkHttp, URLSession…).
#[uniffi::export(with_foreign)]
pub trait Uploader: Send + Sync {
    /// Sends `request` and reports how it ended. Never throws: failures are
    /// `NetworkError`.
    fn send(&self, request: UploadRequest) -> UploadResult;
}

/// What one `flush` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct FlushReport {
    /// Requests sent.
    pub requests: u32,
    /// Batches the backend accepted.
    pub batches_delivered: u32,
    /// Events the backend accepted.
    pub events_delivered: u64,
    /// Events dropped because the backend refused their batch (4xx).
    pub events_rejected: u64,
    /// Requests that will be retried (408, 429, 5xx, network errors).
    pub retries: u32,
    /// Deletion requests acknowledged.
    pub deletions_acknowledged: u32,
    /// Deletion requests the backend refused (4xx).
    pub deletions_failed: u32,
    /// Set when flush stopped because of backoff: when to try again.
    pub wait_ms: Option<u64>,
}

/// The reply rules of SPEC §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// 2xx.
    Delivered,
    /// Other 4xx than 408 and 429: will never succeed.
    Refused(u16),
    /// 408, 429, 5xx, other statuses and network errors.
    Retry { retry_after_ms: Option<i64> },
}

/// Classifies a result.
pub(crate) fn classify(result: &UploadResult) -> Reply {
    match result {
        UploadResult::Http {
            status,
            retry_after_s,
            ..
        } => match *status {
            200..=299 => Reply::Delivered,
            408 | 429 => Reply::Retry {
                retry_after_ms: retry_after_s.map(|s| (s.min(86_400) as i64) * 1000),
            },
            400..=499 => Reply::Refused(*status),
            _ => Reply::Retry {
                retry_after_ms: retry_after_s.map(|s| (s.min(86_400) as i64) * 1000),
            },
        },
        UploadResult::NetworkError { .. } => Reply::Retry {
            retry_after_ms: None,
        },
    }
}

/// Delay before attempt `attempts + 1`: exponential from [`BACKOFF_BASE_MS`],
/// capped at [`BACKOFF_CAP_MS`], with deterministic jitter in the upper half
/// (seeded by the request id, so a restart keeps the schedule), and never
/// shorter than the server's `Retry-After`.
pub(crate) fn backoff_ms(attempts: u32, seed: &str, retry_after_ms: Option<i64>) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    let full = BACKOFF_BASE_MS
        .saturating_mul(1i64 << exp)
        .min(BACKOFF_CAP_MS);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes().chain(attempts.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let jittered = full / 2 + (h % (full as u64 / 2 + 1)) as i64;
    jittered.max(retry_after_ms.unwrap_or(0))
}

/// Gzip-compresses a body.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Headers of every request.
pub(crate) fn headers(idempotency_key: &str) -> Vec<HttpHeader> {
    let h = |n: &str, v: &str| HttpHeader {
        name: n.into(),
        value: v.into(),
    };
    vec![
        h("Content-Type", "application/json"),
        h("Content-Encoding", "gzip"),
        h("User-Agent", &format!("consentgate/{SDK_VERSION}")),
        h("Idempotency-Key", idempotency_key),
    ]
}

#[derive(Serialize)]
struct Sdk {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct PolicyRef<'a> {
    id: &'a str,
    revision: u32,
}

#[derive(Serialize)]
struct Event<'a> {
    seq: u64,
    name: &'a str,
    ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    props: Option<&'a RawValue>,
}

/// Everything a batch body carries besides its events.
#[derive(Serialize)]
pub(crate) struct BatchHeader<'a> {
    pub batch_id: &'a str,
    pub installation_id: &'a str,
    pub sent_at: String,
    pub app_version: &'a str,
    pub policy_id: &'a str,
    pub revision: u32,
    /// Consent purposes and their status.
    pub consent: Vec<(&'a str, &'static str)>,
    /// Allowed device fields; omitted when empty.
    pub device: Option<&'a crate::device::DeviceInfo>,
    pub advertising_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
}

#[derive(Serialize)]
struct Body<'a> {
    batch_id: &'a str,
    installation_id: &'a str,
    sent_at: &'a str,
    sdk: Sdk,
    app_version: &'a str,
    policy: PolicyRef<'a>,
    consent: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'a crate::device::DeviceInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    advertising_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    events: Vec<Event<'a>>,
}

/// The uncompressed JSON body of a batch.
pub(crate) fn batch_json(h: &BatchHeader<'_>, records: &[QueuedRecord]) -> Vec<u8> {
    let events = records
        .iter()
        .map(|r| Event {
            seq: r.seq,
            name: &r.name,
            ts: rfc3339(r.ts_ms),
            // Validated at capture; a row edited on disk into invalid JSON is sent without props.
            props: r
                .props
                .as_deref()
                .and_then(|p| serde_json::from_str::<&RawValue>(p).ok()),
        })
        .collect();
    let body = Body {
        batch_id: h.batch_id,
        installation_id: h.installation_id,
        sent_at: &h.sent_at,
        sdk: Sdk {
            name: "consentgate",
            version: SDK_VERSION,
        },
        app_version: h.app_version,
        policy: PolicyRef {
            id: h.policy_id,
            revision: h.revision,
        },
        consent: h
            .consent
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
            .collect(),
        device: h.device.filter(|d| !d.is_empty()),
        advertising_id: h.advertising_id,
        user_id: h.user_id,
        events,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_rules() {
        let http = |status| UploadResult::Http {
            status,
            retry_after_s: None,
            body: None,
        };
        assert_eq!(classify(&http(200)), Reply::Delivered);
        assert_eq!(classify(&http(204)), Reply::Delivered);
        for s in [400, 401, 404, 413, 422] {
            assert_eq!(classify(&http(s)), Reply::Refused(s));
        }
        for s in [408, 429, 500, 502, 503, 301] {
            assert!(matches!(classify(&http(s)), Reply::Retry { .. }), "{s}");
        }
        assert_eq!(
            classify(&UploadResult::Http {
                status: 429,
                retry_after_s: Some(7),
                body: None
            }),
            Reply::Retry {
                retry_after_ms: Some(7000)
            }
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        for attempts in 1..12u32 {
            let full = (BACKOFF_BASE_MS << (attempts - 1)).min(BACKOFF_CAP_MS);
            let d = backoff_ms(attempts, "batch", None);
            assert!(d >= full / 2 && d <= full, "{attempts}: {d}");
            assert_eq!(d, backoff_ms(attempts, "batch", None), "deterministic");
        }
        assert!(backoff_ms(1, "b", Some(60_000)) >= 60_000);
    }
}

// ---------------------------------------------------------------------------
// The upload loop of the gate: which request goes next, and what a reply does.

/// A request handed out and not completed within this time is handed out again.
const IN_FLIGHT_TIMEOUT_MS: i64 = 120_000;
/// How soon to look again while a request is in flight.
const IN_FLIGHT_RECHECK_MS: u64 = 1_000;
/// A 2xx deletion reply without a receipt is accepted after this many tries.
const RECEIPTLESS_ACCEPT_AFTER: u32 = 5;
/// Most requests one `flush` sends.
const FLUSH_MAX_REQUESTS: u32 = 100_000;

#[uniffi::export]
impl ConsentGate {
    /// What to send next: a deletion request first (always, whatever the
    /// consent), then a batch already built (resent with the same
    /// `batch_id`), then a new batch of allowed records for the region's
    /// endpoint; `Wait` while backing off; `Done` when nothing may be sent.
    pub fn next_upload(&self) -> std::result::Result<UploadTask, GateError> {
        self.check_open()?;
        self.inner.commit_buffer()?;
        let inner = &self.inner;
        let mut db = lock(&inner.db);
        Ok(inner.next_upload(&mut db)?)
    }

    /// Reports how the request `request_id` ended. 2xx: delivered and
    /// removed; other 4xx than 408/429: dropped and counted (a deletion
    /// request is marked failed); 408, 429, 5xx and network errors: retried
    /// with backoff under the same id. An unknown id is ignored (its records
    /// were purged meanwhile).
    pub fn complete_upload(
        &self,
        request_id: String,
        result: UploadResult,
    ) -> std::result::Result<(), GateError> {
        self.complete(request_id, result)?;
        Ok(())
    }

    /// Sends everything that may be sent now through `uploader`, one request
    /// at a time, and stops at the first backoff. Returns what happened.
    pub fn flush(
        &self,
        uploader: Arc<dyn Uploader>,
    ) -> std::result::Result<FlushReport, GateError> {
        let mut report = FlushReport::default();
        while report.requests < FLUSH_MAX_REQUESTS {
            match self.next_upload()? {
                UploadTask::Done => return Ok(report),
                UploadTask::Wait { ms } => {
                    report.wait_ms = Some(ms);
                    return Ok(report);
                }
                UploadTask::Upload { request } => {
                    let id = request.request_id.clone();
                    // An uploader that throws has not delivered anything we know of.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        uploader.send(request)
                    }))
                    .unwrap_or_else(|_| UploadResult::NetworkError {
                        message: "the host uploader threw".into(),
                    });
                    report.requests += 1;
                    match self.complete(id, result)? {
                        Completed::Unknown => {}
                        Completed::Batch(BatchOutcome::Delivered(n)) => {
                            report.batches_delivered += 1;
                            report.events_delivered += n;
                        }
                        Completed::Batch(BatchOutcome::Refused(n)) => report.events_rejected += n,
                        Completed::Batch(BatchOutcome::Retry) => report.retries += 1,
                        Completed::Deletion { ticket, retry } => match ticket.status {
                            DeletionStatus::Acknowledged { .. } => {
                                report.deletions_acknowledged += 1
                            }
                            DeletionStatus::Failed { .. } => report.deletions_failed += 1,
                            DeletionStatus::Pending if retry => report.retries += 1,
                            DeletionStatus::Pending => {}
                        },
                    }
                }
            }
        }
        Ok(report)
    }
}

impl ConsentGate {
    /// Applies a reply under the store lock, then tells the deletion listener.
    fn complete(&self, request_id: String, result: UploadResult) -> Result<Completed> {
        self.check_open()?;
        let inner = &self.inner;
        let completed = {
            let mut db = lock(&inner.db);
            inner.complete_upload(&mut db, &request_id, &result)?
        };
        if let Completed::Deletion { ticket, .. } = &completed {
            inner.notify_deletion(ticket.clone());
        }
        Ok(completed)
    }
}

/// What one reply did to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOutcome {
    /// Accepted: this many events left the queue.
    Delivered(u64),
    /// Refused (4xx): this many events were dropped.
    Refused(u64),
    /// Kept for another attempt after backoff.
    Retry,
}

/// What one reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Completed {
    /// No pending request has that id (its records were purged meanwhile).
    Unknown,
    /// A batch.
    Batch(BatchOutcome),
    /// A deletion request, as it stands after the reply, and whether another
    /// attempt at the same endpoint is scheduled.
    Deletion { ticket: DeletionTicket, retry: bool },
}

/// One endpoint has acknowledged a deletion request; the ticket is
/// acknowledged when none is left.
fn endpoint_acknowledged(d: &mut DeletionRow) {
    if !d.pending_endpoints.is_empty() {
        d.pending_endpoints.remove(0);
    }
    d.attempts = 0;
    d.receiptless = 0;
    if d.pending_endpoints.is_empty() {
        d.status = "acknowledged".into();
    }
}

impl Inner {
    pub(crate) fn next_upload(&self, db: &mut Db) -> Result<UploadTask> {
        let now = self.clock.now_ms();
        db.in_flight
            .retain(|_, at| now.saturating_sub(*at) < IN_FLIGHT_TIMEOUT_MS);
        let mut wait: Option<u64> = None;
        let mut note_wait = |ms: u64| wait = Some(wait.map_or(ms, |w: u64| w.min(ms)));

        // 1. Deletion requests, before anything else and whatever the consent.
        let mut deletion_pending = false;
        for d in db
            .store
            .deletions()?
            .iter()
            .filter(|d| d.status == "pending")
        {
            deletion_pending = true;
            if db.in_flight.contains_key(&d.request_id) {
                note_wait(IN_FLIGHT_RECHECK_MS);
            } else if d.next_attempt_ms > now {
                note_wait((d.next_attempt_ms - now) as u64);
            } else if let Some(endpoint) = d.pending_endpoints.first() {
                db.in_flight.insert(d.request_id.clone(), now);
                return Ok(UploadTask::Upload {
                    request: crate::deletion::request(d, endpoint),
                });
            }
        }
        if deletion_pending {
            // Nothing else goes out until the backend has the deletion.
            return Ok(wait.map_or(UploadTask::Done, |ms| UploadTask::Wait { ms }));
        }

        // 2. A batch already built: resend it under the same id.
        while let Some(b) = db.store.pending_batch()? {
            if db.in_flight.contains_key(&b.batch_id) {
                return Ok(UploadTask::Wait {
                    ms: IN_FLIGHT_RECHECK_MS,
                });
            }
            if b.next_attempt_ms > now {
                return Ok(UploadTask::Wait {
                    ms: (b.next_attempt_ms - now) as u64,
                });
            }
            match self.batch_request(db, &b, now)? {
                Some(request) => {
                    db.in_flight.insert(b.batch_id.clone(), now);
                    return Ok(UploadTask::Upload { request });
                }
                // Its records were purged or evicted meanwhile.
                None => db.store.write(false, |t| t.delete_batch(&b.batch_id))?,
            }
        }

        // 3. A new batch.
        let Some((endpoint, cross_border)) = self.policy.endpoint_for(self.region.as_deref())
        else {
            return Ok(UploadTask::Done);
        };
        if cross_border && !self.cross_border_allowed() {
            // Stays queued (G8 still bounds it) until the user allows transfer abroad.
            return Ok(UploadTask::Done);
        }
        let granted = self.snapshot.load().granted;
        let mut best: Option<(u64, Partition)> = None;
        for p in db.store.partitions() {
            let has = db.queue.counts.get(&p.id).is_some_and(|c| c.events > 0);
            // G2: only records whose purposes are all granted now.
            if !has || crate::queue::partition_purposes(&self.policy, &p.categories) & !granted != 0
            {
                continue;
            }
            if let Some(first) = db.store.records(p, 0, 1)?.first() {
                if best.as_ref().is_none_or(|(s, _)| first.seq < *s) {
                    best = Some((first.seq, p.clone()));
                }
            }
        }
        let Some((_, p)) = best else {
            return Ok(UploadTask::Done);
        };
        let limits = &self.policy.limits;
        let records = db.store.records(&p, 0, limits.max_batch_events as usize)?;
        let mut bytes = 0u64;
        let take = records
            .iter()
            .take_while(|r| {
                bytes += r.bytes();
                bytes <= limits.max_batch_bytes
            })
            .count()
            .max(1);
        let b = BatchRow {
            batch_id: uuid::Uuid::new_v4().to_string(),
            partition: p.id,
            first_seq: records[0].seq,
            last_seq: records[take - 1].seq,
            endpoint: endpoint.url.clone(),
            created_ms: now,
            attempts: 0,
            next_attempt_ms: now,
        };
        // Durable: once a batch id may have reached the backend, a power loss
        // must not make us resend its records under another id.
        db.store.write(true, |t| t.insert_batch(&b))?;
        match self.batch_request(db, &b, now)? {
            Some(request) => {
                db.in_flight.insert(b.batch_id.clone(), now);
                Ok(UploadTask::Upload { request })
            }
            None => Ok(UploadTask::Done),
        }
    }

    fn cross_border_allowed(&self) -> bool {
        match self.policy.purpose_index("cross_border_transfer") {
            Some(i) => self.snapshot.load().granted & (1u64 << i) != 0,
            None => true,
        }
    }

    /// Builds the request of batch `b` from what is queued and allowed now
    /// (G2); `None` when none of its records is left.
    fn batch_request(&self, db: &Db, b: &BatchRow, now: i64) -> Result<Option<UploadRequest>> {
        let Some(p) = db.store.partitions().iter().find(|p| p.id == b.partition) else {
            return Ok(None);
        };
        let snap = self.snapshot.load();
        if crate::queue::partition_purposes(&self.policy, &p.categories) & !snap.granted != 0 {
            return Ok(None);
        }
        // A damaged row (last before first, a range wider than any batch)
        // yields an empty or bounded read, never an overflow.
        let max = b
            .last_seq
            .checked_sub(b.first_seq)
            .and_then(|d| d.checked_add(1))
            .map_or(0, |n| n.min(self.policy.limits.max_batch_events) as usize);
        let records: Vec<_> = db
            .store
            .records(p, b.first_seq.saturating_sub(1), max)?
            .into_iter()
            .filter(|r| r.seq <= b.last_seq)
            .collect();
        if records.is_empty() {
            return Ok(None);
        }
        let allows = |id: &str| {
            self.policy
                .category_index(id)
                .is_some_and(|i| snap.allows_index(i))
        };
        let collected = lock(&self.collected);
        let mut device = collected.device.clone();
        device.retain_allowed(&self.policy, snap.allowed);
        let signals = db.signals;
        let ad_ok = allows("advertising_id")
            && !signals.limit_ad_tracking
            && matches!(
                signals.att_status,
                crate::device::AttStatus::Authorized | crate::device::AttStatus::NotApplicable
            );
        let user_id = if allows("account_id") {
            collected.user_id.as_deref()
        } else {
            None
        };
        let consent = self
            .policy
            .purposes
            .iter()
            .zip(&snap.state.purposes)
            .filter(|(p, _)| p.kind == crate::policy::PurposeKind::Consent)
            .map(|(p, s)| {
                let status: &'static str = match s.status {
                    ConsentStatus::Granted => "granted",
                    ConsentStatus::Denied => "denied",
                    ConsentStatus::Unset => "unset",
                };
                (p.id.as_str(), status)
            })
            .collect();
        let header = BatchHeader {
            batch_id: &b.batch_id,
            installation_id: &db.installation_id,
            sent_at: rfc3339(now),
            app_version: &self.app_version,
            policy_id: &self.policy.policy_id,
            revision: self.policy.revision,
            consent,
            device: Some(&device),
            advertising_id: if ad_ok {
                collected.ad_id.as_deref()
            } else {
                None
            },
            user_id,
        };
        let json = batch_json(&header, &records);
        Ok(Some(UploadRequest {
            request_id: b.batch_id.clone(),
            method: "POST".into(),
            url: format!("{}/v1/batch", b.endpoint),
            headers: headers(&b.batch_id),
            body: gzip(&json),
        }))
    }

    /// Applies a reply and says what it did.
    pub(crate) fn complete_upload(
        &self,
        db: &mut Db,
        request_id: &str,
        result: &UploadResult,
    ) -> Result<Completed> {
        let now = self.clock.now_ms();
        db.in_flight.remove(request_id);
        let reply = classify(result);
        if let Some(mut d) = db
            .store
            .deletions()?
            .into_iter()
            .find(|d| d.request_id == request_id && d.status == "pending")
        {
            let receipt = match result {
                UploadResult::Http { body, .. } => crate::deletion::parse_receipt(body.as_deref()),
                UploadResult::NetworkError { .. } => None,
            };
            let retry = match (reply, receipt) {
                (Reply::Delivered, Some((receipt_id, status))) => {
                    d.receipt_id = Some(receipt_id);
                    d.receipt_status = Some(status);
                    endpoint_acknowledged(&mut d);
                    false
                }
                (Reply::Refused(status), _) => {
                    d.status = "failed".into();
                    d.failed_status = Some(status);
                    false
                }
                // 2xx without a readable receipt: ask again (the request is
                // idempotent), but a backend that never sends one must not
                // block every later upload: accept it after a few tries.
                (Reply::Delivered, None) => {
                    d.attempts += 1;
                    d.receiptless += 1;
                    if d.receiptless >= RECEIPTLESS_ACCEPT_AFTER {
                        endpoint_acknowledged(&mut d);
                        if d.status == "acknowledged" {
                            d.receipt_status = Some("accepted".into());
                        }
                        false
                    } else {
                        d.next_attempt_ms = now + backoff_ms(d.attempts, &d.request_id, None);
                        true
                    }
                }
                (Reply::Retry { retry_after_ms }, _) => {
                    d.attempts += 1;
                    d.next_attempt_ms = now + backoff_ms(d.attempts, &d.request_id, retry_after_ms);
                    true
                }
            };
            db.store.write(true, |t| t.put_deletion(&d))?;
            log::debug!("consentgate: deletion request now {}", d.status);
            return Ok(Completed::Deletion {
                ticket: (&d).into(),
                retry,
            });
        }
        let Some(b) = db.store.pending_batch_by_id(request_id)? else {
            return Ok(Completed::Unknown);
        };
        let Some(p) = db
            .store
            .partitions()
            .iter()
            .find(|p| p.id == b.partition)
            .cloned()
        else {
            return Ok(Completed::Unknown);
        };
        Ok(Completed::Batch(match reply {
            Reply::Delivered | Reply::Refused(_) => {
                let installation_id = db.installation_id.clone();
                let delivered = reply == Reply::Delivered;
                let (delivered_before, rejected_before) = (db.queue.delivered, db.queue.rejected);
                let (n, bytes, oldest) = db.store.write(false, |t| {
                    let (n, bytes) = t.delete_range(&p, b.first_seq, b.last_seq)?;
                    t.delete_batch(&b.batch_id)?;
                    if delivered {
                        t.mark_endpoint_used(&installation_id, &b.endpoint)?;
                        t.set_meta("delivered", &(delivered_before + n).to_string())?;
                    } else {
                        t.set_meta("rejected", &(rejected_before + n).to_string())?;
                    }
                    Ok((n, bytes, t.oldest_in(&p)?))
                })?;
                let c = db.queue.counts.entry(p.id).or_default();
                c.events = c.events.saturating_sub(n);
                c.bytes = c.bytes.saturating_sub(bytes);
                c.oldest_ms = oldest;
                if delivered {
                    db.queue.delivered += n;
                    log::debug!("consentgate: batch delivered ({n} events)");
                    BatchOutcome::Delivered(n)
                } else {
                    db.queue.rejected += n;
                    log::warn!("consentgate: batch refused by the backend, {n} events dropped");
                    BatchOutcome::Refused(n)
                }
            }
            Reply::Retry { retry_after_ms } => {
                let attempts = b.attempts + 1;
                let next = now + backoff_ms(attempts, &b.batch_id, retry_after_ms);
                db.store
                    .write(false, |t| t.retry_batch(&b.batch_id, attempts, next))?;
                log::debug!("consentgate: batch will be retried (attempt {attempts})");
                BatchOutcome::Retry
            }
        }))
    }
}
