//! A hostile network (G2, G6, G8 under faults): the reference collector
//! answers 500, 429 with Retry-After and drops connections at random, before
//! and after storing; on top of it the uploader here loses replies (a response
//! slower than the timeout), turns deletion receipts into malformed 200s, and
//! takes the endpoint down for a while. 50,000 events and a deletion request
//! must arrive exactly once, the deletion be acknowledged, backoff be honoured
//! on the injected clock, and nothing reach a cross-border endpoint without
//! `cross_border_transfer`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use consentgate::{
    ConsentGate, ConsentSource, DeletionStatus, ManualClock, PurposeDecision, UploadRequest,
    UploadResult, UploadTask, Uploader,
};
use consentgate_collector::{Collector, CollectorConfig};
use consentgate_tests::{figures, open_gate, policy_for, scale, seed, Rng};

const T0: i64 = 1_767_225_600_000;

fn open(dir: &Path, policy: &str, region: &str, clock: &Arc<ManualClock>) -> Arc<ConsentGate> {
    open_gate(dir, policy, region, clock.clone()).expect("open")
}

/// The collector's faults plus the ones a proxy would add.
struct Hostile {
    real: consentgate_cli::http::HttpUploader,
    rng: Mutex<Rng>,
    /// Requests left during which the endpoint is down.
    down_for: AtomicU64,
    lost_replies: AtomicU64,
    malformed: AtomicU64,
    outages: AtomicU64,
}

impl Uploader for Hostile {
    fn send(&self, request: UploadRequest) -> UploadResult {
        let roll = self.rng.lock().unwrap().below(100);
        if self.down_for.load(Ordering::SeqCst) > 0 {
            self.down_for.fetch_sub(1, Ordering::SeqCst);
            return UploadResult::NetworkError {
                message: "connection refused".into(),
            };
        }
        if roll < 3 {
            self.outages.fetch_add(1, Ordering::SeqCst);
            self.down_for.store(5, Ordering::SeqCst);
            return UploadResult::NetworkError {
                message: "connection refused".into(),
            };
        }
        let is_deletion = request.url.ends_with("/v1/deletion");
        let reply = self.real.send(request);
        if roll < 13 {
            // Delivered, but the answer came after the client gave up.
            self.lost_replies.fetch_add(1, Ordering::SeqCst);
            return UploadResult::NetworkError {
                message: "timed out".into(),
            };
        }
        if is_deletion && roll < 40 {
            if let UploadResult::Http { status: 200, .. } = reply {
                self.malformed.fetch_add(1, Ordering::SeqCst);
                return UploadResult::Http {
                    status: 200,
                    retry_after_s: None,
                    body: Some("<html>ok</html>".into()),
                };
            }
        }
        reply
    }
}

/// Drives `gate` until nothing is left, advancing the manual clock through
/// every backoff and checking that nothing may be sent before it has passed.
fn drain(
    gate: &ConsentGate,
    clock: &ManualClock,
    up: &dyn Uploader,
    violations: &mut Vec<String>,
) -> (u64, u64) {
    let (mut requests, mut waited) = (0u64, 0u64);
    for _ in 0..1_000_000 {
        match gate.next_upload().unwrap() {
            UploadTask::Done => return (requests, waited),
            UploadTask::Wait { ms } => {
                if ms > 1 {
                    clock.advance(ms - 1);
                    if !matches!(gate.next_upload().unwrap(), UploadTask::Wait { .. }) {
                        violations.push(format!("a request was offered {} ms early", 1));
                    }
                    clock.advance(1);
                } else {
                    clock.advance(ms);
                }
                waited += ms as u64;
            }
            UploadTask::Upload { request } => {
                requests += 1;
                let id = request.request_id.clone();
                let result = up.send(request);
                if let UploadResult::Http {
                    status: 429,
                    retry_after_s: Some(s),
                    ..
                } = &result
                {
                    gate.complete_upload(id, result.clone()).unwrap();
                    match gate.next_upload().unwrap() {
                        UploadTask::Wait { ms } if ms >= s * 1000 => {}
                        other => {
                            violations.push(format!("Retry-After {s} s not honoured: {other:?}"))
                        }
                    }
                    continue;
                }
                gate.complete_upload(id, result).unwrap();
            }
        }
    }
    violations.push("the upload loop never finished".into());
    (requests, waited)
}

#[test]
fn upload_faults() {
    let events = scale(50_000, 500_000);
    let seed = seed();
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("collector.db");
    let collector = Collector::start(CollectorConfig {
        fail_rate: 0.3,
        seed,
        ..CollectorConfig::new(&db)
    })
    .unwrap();
    let policy = policy_for(&collector.url());
    let clock = Arc::new(ManualClock::new(T0));
    let gate = open(&work.path().join("app"), &policy, "KZ", &clock);
    gate.set_consent(
        vec![PurposeDecision {
            purpose: "analytics".into(),
            granted: true,
        }],
        ConsentSource::Banner,
    )
    .unwrap();
    let hostile = Hostile {
        real: consentgate_cli::http::HttpUploader::new(),
        rng: Mutex::new(Rng::new(seed ^ 0x5eed)),
        down_for: AtomicU64::new(0),
        lost_replies: AtomicU64::new(0),
        malformed: AtomicU64::new(0),
        outages: AtomicU64::new(0),
    };
    let mut violations = Vec::new();
    let mut requests = 0;
    let chunk = 10_000;
    for start in (0..events).step_by(chunk) {
        let batch: Vec<_> = (start..(start + chunk).min(events))
            .map(|i| consentgate::EventInput {
                name: "load".into(),
                properties_json: Some(format!(r#"{{"i":{i}}}"#)),
            })
            .collect();
        gate.record_events(batch).unwrap();
        requests += drain(&gate, &clock, &hostile, &mut violations).0;
    }
    let installation = gate.installation_id();
    let info = collector.installation(&installation);
    if info.events != events as u64 {
        violations.push(format!(
            "collector holds {} events for the installation, {events} were recorded",
            info.events
        ));
    }
    let stats = gate.queue_stats();
    if stats.delivered != events as i64 || stats.events != 0 {
        violations.push(format!(
            "SDK says delivered {} with {} still queued",
            stats.delivered, stats.events
        ));
    }
    let (_, duplicated) = consentgate_tests::collector_events(&db);
    if duplicated > 0 {
        violations.push(format!("{duplicated} events stored twice"));
    }

    // The deletion request gets through the same weather.
    let ticket = gate.request_deletion(None).unwrap();
    requests += drain(&gate, &clock, &hostile, &mut violations).0;
    match &gate
        .deletion_requests()
        .iter()
        .find(|t| t.request_id == ticket.request_id)
        .unwrap()
        .status
    {
        DeletionStatus::Acknowledged { receipt_id, .. } if !receipt_id.is_empty() => {}
        other => violations.push(format!("deletion not acknowledged: {other:?}")),
    }
    let info = collector.installation(&installation);
    if !info.deleted || info.events != 0 {
        violations.push(format!("collector still holds the installation: {info:?}"));
    }

    for v in &violations {
        eprintln!("{v}");
    }
    let s = collector.stats();
    figures(
        "upload_faults",
        &format!(
            "{events} events, {requests} requests, {} 500s, {} 429s, {} dropped connections, {} after-commit faults, {} lost replies, {} malformed receipts, {} outages, seed {seed}",
            s.injected_500,
            s.injected_429,
            s.injected_drop,
            s.injected_after_commit,
            hostile.lost_replies.load(Ordering::SeqCst),
            hostile.malformed.load(Ordering::SeqCst),
            hostile.outages.load(Ordering::SeqCst),
        ),
        violations.len(),
    );
    assert!(violations.is_empty(), "seed {seed}");
}

#[test]
fn nothing_reaches_a_cross_border_endpoint_without_the_transfer_purpose() {
    let work = tempfile::tempdir().unwrap();
    let home = Collector::start(CollectorConfig::new(work.path().join("kz.db"))).unwrap();
    let abroad = Collector::start(CollectorConfig::new(work.path().join("abroad.db"))).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&policy_for(&home.url())).unwrap();
    v["endpoints"][1]["url"] = abroad.url().into();
    let policy = v.to_string();
    let clock = Arc::new(ManualClock::new(T0));
    // A user in Uzbekistan: only the "*" endpoint serves the region.
    let gate = open(&work.path().join("app"), &policy, "UZ", &clock);
    gate.set_consent(
        vec![PurposeDecision {
            purpose: "analytics".into(),
            granted: true,
        }],
        ConsentSource::Banner,
    )
    .unwrap();
    for _ in 0..100 {
        gate.record_event("e".into(), None).unwrap();
    }
    let up = Arc::new(consentgate_cli::http::HttpUploader::new());
    let report = gate.flush(up.clone()).unwrap();
    assert_eq!(report.requests, 0);
    assert_eq!((abroad.stats().events, home.stats().events), (0, 0));
    assert_eq!(gate.queue_stats().events, 100, "kept queued, not dropped");
    gate.set_consent(
        vec![PurposeDecision {
            purpose: "cross_border_transfer".into(),
            granted: true,
        }],
        ConsentSource::Banner,
    )
    .unwrap();
    gate.flush(up).unwrap();
    assert_eq!((abroad.stats().events, home.stats().events), (100, 0));
}
