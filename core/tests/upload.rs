//! Pull-based upload and deletion through the public API, with a scripted
//! uploader and the injected clock: the batch body of SPEC §5, the reply rules,
//! backoff that survives restarts, the same batch id on every resend, consent
//! checked again at send (G2), the cross-border rule, and deletion requests
//! that always get out (G6).

mod common;

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};

use common::*;
use consentgate::{
    ConsentGate, ConsentSource, DeletionStatus, DeviceInfoProvider, UploadRequest, UploadResult,
    UploadTask, Uploader,
};
use serde_json::{json, Value};

fn body(req: &UploadRequest) -> Value {
    let mut s = String::new();
    flate2::read::GzDecoder::new(&req.body[..])
        .read_to_string(&mut s)
        .expect("gzip");
    serde_json::from_str(&s).expect("json")
}

fn header<'a>(req: &'a UploadRequest, name: &str) -> &'a str {
    &req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .expect(name)
        .value
}

fn http(status: i32) -> UploadResult {
    UploadResult::Http {
        status,
        retry_after_s: None,
        body: None,
    }
}

fn receipt(id: &str) -> UploadResult {
    UploadResult::Http {
        status: 200,
        retry_after_s: None,
        body: Some(json!({"receipt_id": id, "status": "completed"}).to_string()),
    }
}

fn expect_upload(gate: &ConsentGate) -> UploadRequest {
    match gate.next_upload().unwrap() {
        UploadTask::Upload { request } => request,
        other => panic!("expected an upload, got {other:?}"),
    }
}

fn expect_wait(gate: &ConsentGate) -> i64 {
    match gate.next_upload().unwrap() {
        UploadTask::Wait { ms } => ms,
        other => panic!("expected a wait, got {other:?}"),
    }
}

struct Device;
impl DeviceInfoProvider for Device {
    fn os(&self) -> Option<String> {
        Some("Android".into())
    }
    fn os_version(&self) -> Option<String> {
        Some("15".into())
    }
    fn model(&self) -> Option<String> {
        Some("Pixel 9".into())
    }
    fn manufacturer(&self) -> Option<String> {
        Some("Google".into())
    }
    fn locale(&self) -> Option<String> {
        Some("kk-KZ".into())
    }
    fn timezone(&self) -> Option<String> {
        Some("Asia/Almaty".into())
    }
    fn carrier(&self) -> Option<String> {
        Some("Beeline KZ".into())
    }
    fn app_version(&self) -> Option<String> {
        Some("1.0".into())
    }
    fn screen(&self) -> Option<String> {
        Some("1080x2400".into())
    }
}

#[test]
fn batch_request_carries_the_wire_format_and_only_allowed_data() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    gate.collect_device_info(Arc::new(Device)).unwrap();
    gate.set_user_id(Some("user-42".into())).unwrap();
    gate.record_event("screen_view".into(), Some(r#"{"screen":"home"}"#.into()))
        .unwrap();
    gate.record_event("tap".into(), None).unwrap();
    let req = expect_upload(&gate);
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.url, "https://collector.aqkol-city.kz/v1/batch",
        "KZ region goes to the KZ endpoint"
    );
    assert_eq!(header(&req, "Content-Type"), "application/json");
    assert_eq!(header(&req, "Content-Encoding"), "gzip");
    assert!(header(&req, "User-Agent").starts_with("consentgate/"));
    let b = body(&req);
    assert_eq!(
        header(&req, "Idempotency-Key"),
        b["batch_id"].as_str().unwrap()
    );
    assert_eq!(req.request_id, b["batch_id"].as_str().unwrap());
    assert_eq!(b["installation_id"], gate.installation_id().as_str());
    assert_eq!(b["sdk"]["name"], "consentgate");
    assert_eq!(b["app_version"], "1.0.0");
    assert_eq!(b["policy"], json!({"id": "aqkol-city-app", "revision": 1}));
    assert_eq!(
        b["consent"],
        json!({"analytics": "granted", "advertising": "unset", "cross_border_transfer": "unset"})
    );
    assert_eq!(b["device"]["model"], "Pixel 9");
    assert_eq!(b["user_id"], "user-42");
    assert!(b.get("advertising_id").is_none(), "advertising not granted");
    assert!(b["sent_at"].as_str().unwrap().starts_with("2026-01-01T"));
    let events = b["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0],
        json!({"seq": 1, "name": "screen_view", "ts": "2026-01-01T00:00:00.000Z", "props": {"screen": "home"}})
    );
    assert_eq!(events[1]["name"], "tap");
    gate.complete_upload(req.request_id, http(200)).unwrap();
    let stats = gate.queue_stats();
    assert_eq!((stats.events, stats.delivered), (0, 2));
    assert_eq!(gate.next_upload().unwrap(), UploadTask::Done);
}

#[test]
fn batches_respect_the_policy_batch_limits() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_with_limits(json!({"max_batch_events": 50}));
    let gate = open(dir.path(), &p, &clock());
    grant(&gate, "analytics", true);
    record_n(&gate, "e", 120);
    let mut sizes = Vec::new();
    loop {
        match gate.next_upload().unwrap() {
            UploadTask::Upload { request } => {
                sizes.push(body(&request)["events"].as_array().unwrap().len());
                gate.complete_upload(request.request_id, http(202)).unwrap();
            }
            UploadTask::Done => break,
            w => panic!("{w:?}"),
        }
    }
    assert_eq!(sizes, vec![50, 50, 20]);
}

#[test]
fn retries_back_off_exponentially_with_the_same_batch_id_and_honour_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = open(dir.path(), &example_kz(), &c);
    grant(&gate, "analytics", true);
    record_n(&gate, "e", 3);
    let first = expect_upload(&gate);
    let id = first.request_id.clone();
    let mut previous = 0;
    for attempt in 1..=6u32 {
        gate.complete_upload(
            id.clone(),
            if attempt % 2 == 0 {
                UploadResult::NetworkError {
                    message: "reset".into(),
                }
            } else {
                http(503)
            },
        )
        .unwrap();
        let wait = expect_wait(&gate);
        let full = 1000i64 << (attempt - 1);
        assert!(
            wait >= full / 2 && wait <= full,
            "attempt {attempt}: waited {wait}, want {}..={full}",
            full / 2
        );
        assert!(wait > previous / 2);
        previous = wait;
        c.advance(wait as i64 - 1);
        assert!(
            matches!(gate.next_upload().unwrap(), UploadTask::Wait { ms: 1 }),
            "not a millisecond early"
        );
        c.advance(1);
        let again = expect_upload(&gate);
        assert_eq!(again.request_id, id, "same batch id on every resend");
        assert_eq!(body(&again)["batch_id"], id.as_str());
    }
    gate.complete_upload(
        id.clone(),
        UploadResult::Http {
            status: 429,
            retry_after_s: Some(120),
            body: None,
        },
    )
    .unwrap();
    assert!(expect_wait(&gate) >= 120_000, "Retry-After honoured");
    c.advance(120_000);
    let again = expect_upload(&gate);
    gate.complete_upload(again.request_id, http(200)).unwrap();
    assert_eq!(gate.queue_stats().delivered, 3);
}

#[test]
fn refused_batches_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    for status in [400, 401, 413, 422] {
        record_n(&gate, "e", 1);
        let req = expect_upload(&gate);
        gate.complete_upload(req.request_id, http(status)).unwrap();
    }
    let stats = gate.queue_stats();
    assert_eq!((stats.events, stats.rejected, stats.delivered), (0, 4, 0));
    assert_eq!(gate.next_upload().unwrap(), UploadTask::Done);
}

#[test]
fn backoff_and_batch_id_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let id = {
        let gate = open(dir.path(), &example_kz(), &c);
        grant(&gate, "analytics", true);
        record_n(&gate, "e", 5);
        let req = expect_upload(&gate);
        gate.complete_upload(req.request_id.clone(), http(500))
            .unwrap();
        req.request_id
    };
    let gate = open(dir.path(), &example_kz(), &c);
    let wait = expect_wait(&gate);
    assert!(wait >= 500, "still backing off after restart");
    c.advance(wait as i64);
    let req = expect_upload(&gate);
    assert_eq!(req.request_id, id);
    assert_eq!(body(&req)["events"].as_array().unwrap().len(), 5);
}

#[test]
fn a_batch_in_flight_when_the_process_died_is_resent_with_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let id = {
        let gate = open(dir.path(), &example_kz(), &c);
        grant(&gate, "analytics", true);
        record_n(&gate, "e", 5);
        expect_upload(&gate).request_id
        // dropped without complete_upload: the reply never came
    };
    let gate = open(dir.path(), &example_kz(), &c);
    assert_eq!(expect_upload(&gate).request_id, id);
}

#[test]
fn flush_takes_back_a_request_handed_out_and_never_completed() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    record_n(&gate, "e", 5);
    let lost = expect_upload(&gate).request_id; // never completed
    assert!(matches!(
        gate.next_upload().unwrap(),
        UploadTask::Wait { .. }
    ));
    let up = Scripted::new(vec![]);
    let report = gate.flush(up.clone()).unwrap();
    assert_eq!(
        (report.requests, report.events_delivered, report.wait_ms),
        (1, 5, None),
        "delivered by this flush, not held back for 120 s"
    );
    assert_eq!(up.sent.lock().unwrap()[0].request_id, lost, "same batch id");
}

#[test]
fn g2_a_batch_built_before_withdrawal_is_never_sent_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    record_n(&gate, "e", 5);
    let req = expect_upload(&gate);
    gate.complete_upload(req.request_id.clone(), http(503))
        .unwrap();
    grant(&gate, "analytics", false);
    assert_eq!(gate.next_upload().unwrap(), UploadTask::Done);
    // A late reply for the withdrawn batch changes nothing.
    gate.complete_upload(req.request_id, http(200)).unwrap();
    assert_eq!(gate.queue_stats().delivered, 0);
}

#[test]
fn g2_device_user_and_ad_ids_are_checked_again_when_the_batch_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let mut v: Value = serde_json::from_str(&policy(1, 0, &["profile"])).unwrap();
    // account_id needs its own purpose here, so it can go while events stay.
    v["categories"][3]["requires"] = json!(["analytics", "profile"]);
    let c = clock();
    let gate = open(dir.path(), &policy_from(v), &c);
    gate.accept_all(ConsentSource::Banner).unwrap();
    gate.set_user_id(Some("user-42".into())).unwrap();
    record_n(&gate, "e", 1);
    let req = expect_upload(&gate);
    assert_eq!(body(&req)["user_id"], "user-42");
    gate.complete_upload(req.request_id.clone(), http(503))
        .unwrap();
    grant(&gate, "profile", false);
    c.advance(expect_wait(&gate) as i64);
    let again = expect_upload(&gate);
    assert_eq!(again.request_id, req.request_id, "the same batch, rebuilt");
    let b = body(&again);
    assert!(
        b.get("user_id").is_none(),
        "user id sent after account_id was withdrawn"
    );
}

#[test]
fn cross_border_endpoint_waits_for_the_transfer_purpose() {
    let dir = tempfile::tempdir().unwrap();
    // Region US: only the "*" endpoint serves it, so it is cross-border.
    let gate = open_region(dir.path(), &example_kz(), &clock(), Some("US"));
    grant(&gate, "analytics", true);
    record_n(&gate, "e", 3);
    assert_eq!(
        gate.next_upload().unwrap(),
        UploadTask::Done,
        "nothing leaves without cross_border_transfer"
    );
    assert_eq!(gate.queue_stats().events, 3, "the events stay queued");
    grant(&gate, "cross_border_transfer", true);
    let req = expect_upload(&gate);
    assert_eq!(req.url, "https://eu.collector.aqkol-city.com/v1/batch");
}

struct Scripted {
    replies: Mutex<VecDeque<UploadResult>>,
    sent: Mutex<Vec<UploadRequest>>,
}

impl Scripted {
    fn new(replies: Vec<UploadResult>) -> Arc<Self> {
        Arc::new(Scripted {
            replies: Mutex::new(replies.into()),
            sent: Mutex::new(Vec::new()),
        })
    }
}

impl Uploader for Scripted {
    fn send(&self, request: UploadRequest) -> UploadResult {
        self.sent.lock().unwrap().push(request);
        self.replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(http(200))
    }
}

#[test]
fn g6_deletion_wipes_rotates_and_is_delivered_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = open(dir.path(), &example_kz(), &c);
    gate.accept_all(ConsentSource::Banner).unwrap();
    gate.set_user_id(Some("user-42".into())).unwrap();
    record_n(&gate, "e", 5);
    let up = Scripted::new(vec![]);
    let report = gate.flush(up.clone()).unwrap();
    assert_eq!((report.batches_delivered, report.events_delivered), (1, 5));
    record_n(&gate, "later", 3);
    let old_id = gate.installation_id();

    let ticket = gate.request_deletion(Some("user_request".into())).unwrap();
    assert_eq!(ticket.status, DeletionStatus::Pending);
    assert_eq!(ticket.installation_ids, vec![old_id.clone()]);
    assert_eq!(
        ticket.endpoints,
        vec!["https://collector.aqkol-city.kz".to_string()]
    );
    assert_ne!(gate.installation_id(), old_id, "installation id rotated");
    let st = gate.consent_state();
    assert!(st
        .purposes
        .iter()
        .filter(|p| p.id != "service")
        .all(|p| p.status == consentgate::ConsentStatus::Denied));
    assert_eq!(gate.queue_stats().events, 0, "local queue wiped");
    assert_eq!(rows_on_disk(dir.path()), 0);
    let export = gate.export_data().unwrap();
    assert!(!export.contains("user-42"), "user id wiped");
    let doc: Value = serde_json::from_str(&export).unwrap();
    assert_eq!(
        doc["deletion_requests"][0]["request_id"],
        ticket.request_id.as_str()
    );
    assert_eq!(
        doc["deletion_requests"][0]["installation_ids"],
        json!([old_id])
    );
    assert!(gate
        .ledger()
        .unwrap()
        .iter()
        .any(|e| e.source == ConsentSource::Deletion && e.installation_id == old_id));

    // Granted again and recording: the deletion still goes first.
    gate.accept_all(ConsentSource::Banner).unwrap();
    record_n(&gate, "new_life", 2);
    let req = expect_upload(&gate);
    assert_eq!(req.url, "https://collector.aqkol-city.kz/v1/deletion");
    assert_eq!(header(&req, "Idempotency-Key"), ticket.request_id);
    let b = body(&req);
    assert_eq!(b["request_id"], ticket.request_id.as_str());
    assert_eq!(b["installation_ids"], json!([old_id]));
    assert_eq!(b["user_id"], "user-42");
    assert_eq!(b["reason"], "user_request");
    assert_eq!(b["policy"], json!({"id": "aqkol-city-app", "revision": 1}));
    gate.complete_upload(req.request_id, receipt("r-1"))
        .unwrap();
    let t = &gate.deletion_requests()[0];
    assert_eq!(
        t.status,
        DeletionStatus::Acknowledged {
            receipt_id: "r-1".into(),
            status: "completed".into()
        }
    );
    let next = expect_upload(&gate);
    assert!(next.url.ends_with("/v1/batch"));
    assert_eq!(
        body(&next)["installation_id"],
        gate.installation_id().as_str()
    );
}

#[test]
fn g6_deletion_with_the_network_down_is_retried_after_reopening_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let request_id = {
        let gate = open(dir.path(), &example_kz(), &c);
        let t = gate.request_deletion(None).unwrap();
        let down = Scripted::new(vec![
            UploadResult::NetworkError {
                message: "offline".into()
            };
            3
        ]);
        for _ in 0..3 {
            let r = gate.flush(down.clone()).unwrap();
            assert_eq!(r.retries, 1);
            c.advance(r.wait_ms.unwrap() as i64);
        }
        assert_eq!(gate.deletion_requests()[0].status, DeletionStatus::Pending);
        t.request_id
    };
    let gate = open(dir.path(), &example_kz(), &c);
    c.advance(60_000);
    let up = Scripted::new(vec![
        http(503),
        UploadResult::Http {
            status: 200,
            retry_after_s: None,
            body: Some("not json".into()),
        },
    ]);
    gate.flush(up.clone()).unwrap();
    c.advance(60_000);
    gate.flush(up.clone()).unwrap();
    c.advance(60_000);
    let up2 = Scripted::new(vec![receipt("r-9")]);
    let r = gate.flush(up2.clone()).unwrap();
    assert_eq!(r.deletions_acknowledged, 1);
    let t = &gate.deletion_requests()[0];
    assert_eq!(t.request_id, request_id);
    assert!(
        matches!(&t.status, DeletionStatus::Acknowledged { receipt_id, .. } if receipt_id == "r-9")
    );
    assert!(
        up.sent
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.request_id == request_id),
        "same id every time"
    );
}

#[test]
fn g6_deletion_after_reject_all_is_still_sent() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    gate.reject_all(ConsentSource::Banner).unwrap();
    gate.request_deletion(None).unwrap();
    let req = expect_upload(&gate);
    assert!(req.url.ends_with("/v1/deletion"));
}

#[test]
fn g6_refused_deletion_is_marked_failed_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    let seen = Arc::new(Mutex::new(Vec::new()));
    struct L(Arc<Mutex<Vec<DeletionStatus>>>);
    impl consentgate::DeletionListener for L {
        fn on_deletion_changed(&self, t: consentgate::DeletionTicket) {
            self.0.lock().unwrap().push(t.status);
        }
    }
    gate.set_deletion_listener(Arc::new(L(seen.clone())));
    gate.request_deletion(None).unwrap();
    let r = gate.flush(Scripted::new(vec![http(422)])).unwrap();
    assert_eq!(r.deletions_failed, 1);
    assert_eq!(
        gate.deletion_requests()[0].status,
        DeletionStatus::Failed { status: 422 }
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            DeletionStatus::Pending,
            DeletionStatus::Failed { status: 422 }
        ]
    );
    assert_eq!(
        gate.next_upload().unwrap(),
        UploadTask::Done,
        "a failed ticket no longer blocks uploads"
    );
}

#[test]
fn g6_deletion_names_every_installation_and_endpoint_that_received_data() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = open(dir.path(), &example_kz(), &c);
    gate.accept_all(ConsentSource::Banner).unwrap();
    record_n(&gate, "e", 2);
    gate.flush(Scripted::new(vec![])).unwrap();
    let first_id = gate.installation_id();
    let t1 = gate.request_deletion(None).unwrap();
    // The first request never gets through; a second one must cover both lives.
    gate.accept_all(ConsentSource::Banner).unwrap();
    let t2 = gate.request_deletion(None).unwrap();
    assert_ne!(t1.request_id, t2.request_id);
    assert_eq!(t1.installation_ids, vec![first_id]);
    assert_eq!(gate.deletion_requests().len(), 2);
    let up = Scripted::new(vec![receipt("a"), receipt("b")]);
    gate.flush(up.clone()).unwrap();
    assert!(gate
        .deletion_requests()
        .iter()
        .all(|t| matches!(t.status, DeletionStatus::Acknowledged { .. })));
}

#[test]
fn g6_a_backend_that_never_sends_a_receipt_does_not_block_uploads_forever() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = open(dir.path(), &example_kz(), &c);
    gate.request_deletion(None).unwrap();
    let mut rounds = 0;
    while matches!(gate.deletion_requests()[0].status, DeletionStatus::Pending) {
        rounds += 1;
        assert!(
            rounds < 10,
            "still pending after {rounds} receipt-less 2xx replies"
        );
        let r = gate.flush(Scripted::new(vec![http(204)])).unwrap();
        if let Some(ms) = r.wait_ms {
            assert_eq!(r.retries, 1, "the retry is counted");
            c.advance(ms);
        }
    }
    assert!(
        matches!(&gate.deletion_requests()[0].status, DeletionStatus::Acknowledged { receipt_id, .. } if receipt_id.is_empty())
    );
}
