//! The install referrer ("how you found us", seed 000 §1.2.1) through the
//! public API: the host's `InstallReferrerProvider` is never asked before the
//! `install_referrer` category is allowed (G1), its answer rides on the
//! batches built while the category stays allowed (G2), and withdrawal and
//! deletion drop it (G3, G6); `export_data` shows what is held.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use common::*;
use consentgate::{
    ConsentGate, InstallReferrer, InstallReferrerProvider, UploadResult, UploadTask,
};
use serde_json::{json, Value};

const REFERRER: &str = "utm_source=partner_app&utm_medium=banner&gclid=abc123";

/// Counts calls and answers a fixed referrer.
struct Spy {
    calls: AtomicUsize,
    answer: Option<InstallReferrer>,
}

impl Spy {
    fn new() -> Arc<Spy> {
        Spy::answering(Some(InstallReferrer {
            referrer: REFERRER.into(),
            clicked_at_s: Some(1_767_225_000),
            install_began_at_s: Some(1_767_225_060),
        }))
    }

    fn answering(answer: Option<InstallReferrer>) -> Arc<Spy> {
        Arc::new(Spy {
            calls: AtomicUsize::new(0),
            answer,
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl InstallReferrerProvider for Spy {
    fn install_referrer(&self) -> Option<InstallReferrer> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.clone()
    }
}

fn next_batch(gate: &ConsentGate) -> Value {
    gate.record_event("screen_view".into(), None).unwrap();
    match gate.next_upload().unwrap() {
        UploadTask::Upload { request } => {
            let b = request_body(&request);
            gate.complete_upload(
                request.request_id,
                UploadResult::Http {
                    status: 200,
                    retry_after_s: None,
                    body: None,
                },
            )
            .unwrap();
            b
        }
        other => panic!("expected an upload, got {other:?}"),
    }
}

/// A gate on `dir` with every purpose of `policy` granted.
fn accepted(dir: &Path, policy: &str) -> Arc<ConsentGate> {
    let gate = open(dir, policy, &clock());
    gate.accept_all(consentgate::ConsentSource::Banner).unwrap();
    gate
}

fn held(gate: &ConsentGate) -> Value {
    let export: Value = serde_json::from_str(&gate.export_data().unwrap()).unwrap();
    export["install_referrer_in_memory"].clone()
}

#[test]
fn g1_referrer_provider_is_never_called_before_consent() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    let spy = Spy::new();
    assert_eq!(gate.install_referrer(spy.clone()), None);
    assert_eq!(spy.calls(), 0, "asked on a fresh install");
    // The example policies gate the referrer on advertising, not analytics.
    grant(&gate, "analytics", true);
    assert_eq!(gate.install_referrer(spy.clone()), None);
    assert_eq!(spy.calls(), 0, "asked with analytics consent only");
    assert!(!gate.allows("install_referrer".into()));
    grant(&gate, "advertising", true);
    let got = gate.install_referrer(spy.clone()).expect("allowed now");
    assert_eq!(spy.calls(), 1);
    assert_eq!(got.referrer, REFERRER);
}

#[test]
fn g1_a_policy_without_the_category_never_asks() {
    let dir = tempfile::tempdir().unwrap();
    let gate = accepted(dir.path(), &policy(1, 0, &[]));
    let spy = Spy::new();
    assert_eq!(gate.install_referrer(spy.clone()), None);
    assert_eq!(spy.calls(), 0);
}

#[test]
fn g2_referrer_rides_on_batches_while_allowed_with_rfc3339_times() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    let b = next_batch(&gate);
    assert!(
        b.get("install_referrer").is_none(),
        "nothing asked yet: {b}"
    );
    grant(&gate, "advertising", true);
    gate.install_referrer(Spy::new()).unwrap();
    let b = next_batch(&gate);
    assert_eq!(
        b["install_referrer"],
        json!({"referrer": REFERRER, "clicked_at": "2025-12-31T23:50:00.000Z",
               "install_began_at": "2025-12-31T23:51:00.000Z"})
    );
    assert_eq!(held(&gate)["referrer"], REFERRER);
}

#[test]
fn g3_withdrawal_drops_the_referrer_from_memory_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    let gate = accepted(dir.path(), &example_kz());
    gate.install_referrer(Spy::new()).unwrap();
    assert_eq!(held(&gate)["referrer"], REFERRER);
    grant(&gate, "advertising", false);
    assert_eq!(held(&gate), Value::Null, "kept after withdrawal");
    let b = next_batch(&gate);
    assert!(
        b.get("install_referrer").is_none(),
        "sent after withdrawal: {b}"
    );
    // Granted again: nothing comes back by itself; the host asks again.
    grant(&gate, "advertising", true);
    let b = next_batch(&gate);
    assert!(b.get("install_referrer").is_none(), "{b}");
}

#[test]
fn g6_deletion_drops_the_referrer() {
    let dir = tempfile::tempdir().unwrap();
    let gate = accepted(dir.path(), &example_kz());
    gate.install_referrer(Spy::new()).unwrap();
    gate.request_deletion(None).unwrap();
    assert_eq!(held(&gate), Value::Null);
    let spy = Spy::new();
    assert_eq!(gate.install_referrer(spy.clone()), None);
    assert_eq!(spy.calls(), 0, "asked after deletion denied everything");
}

/// Withdraws advertising from inside the provider, as a user could while
/// the store connection is open.
struct WithdrawingSpy(Mutex<Weak<ConsentGate>>);

impl InstallReferrerProvider for WithdrawingSpy {
    fn install_referrer(&self) -> Option<InstallReferrer> {
        let gate = self.0.lock().unwrap().upgrade().expect("gate alive");
        grant(&gate, "advertising", false);
        Some(InstallReferrer {
            referrer: REFERRER.into(),
            ..Default::default()
        })
    }
}

#[test]
fn g3_a_withdrawal_while_the_provider_runs_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gate = accepted(dir.path(), &example_kz());
    let spy = Arc::new(WithdrawingSpy(Mutex::new(Arc::downgrade(&gate))));
    assert_eq!(gate.install_referrer(spy), None);
    assert_eq!(held(&gate), Value::Null);
}

#[test]
fn an_empty_referrer_is_absent_and_unknown_times_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let gate = accepted(dir.path(), &example_kz());
    let empty = Spy::answering(Some(InstallReferrer {
        referrer: "  ".into(),
        ..Default::default()
    }));
    assert_eq!(gate.install_referrer(empty), None);
    assert_eq!(gate.install_referrer(Spy::answering(None)), None);
    let zero = Spy::answering(Some(InstallReferrer {
        referrer: "utm_source=google-play".into(),
        clicked_at_s: Some(0),
        install_began_at_s: Some(0),
    }));
    let got = gate.install_referrer(zero).unwrap();
    assert_eq!((got.clicked_at_s, got.install_began_at_s), (None, None));
    assert_eq!(held(&gate), json!({"referrer": "utm_source=google-play"}));
}
