//! Acknowledged policy changes, through the public API: a revision that
//! needs no new consent makes the state say `needs_acknowledgement` (the
//! revisions and the notice URL) until `acknowledge_policy` records a ledger
//! entry of its own kind — hash-chained, verified, exported as a receipt.
//! Continued use (events, flushes, reopening) never clears it; a material
//! revision still asks for consent instead.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{clock, grant, open, policy, policy_from, record_n, Recorder, DAY};
use consentgate::{
    ConsentGate, ConsentSource, ConsentStatus, LedgerKind, ManualClock, PolicyChange, PromptReason,
    UploadRequest, UploadResult, Uploader,
};
use serde_json::Value;

/// A backend that accepts everything.
struct Accepting;

impl Uploader for Accepting {
    fn send(&self, _request: UploadRequest) -> UploadResult {
        UploadResult::Http {
            status: 200,
            retry_after_s: None,
            body: Some(r#"{"receipt_id":"r-1","status":"accepted"}"#.into()),
        }
    }
}

/// `policy(revision, 0, &[])` with an extra necessary purpose `fraud_prevention`.
fn with_necessary_purpose(revision: u32) -> String {
    let mut v: Value = serde_json::from_str(&policy(revision, 0, &[])).expect("json");
    v["purposes"].as_array_mut().expect("purposes").push(
        serde_json::json!({"id": "fraud_prevention", "kind": "necessary",
                                 "legal_basis": "legitimate_interest"}),
    );
    policy_from(v)
}

/// A user who decided under revision 1, then the app ships `next`.
fn decided_then(dir: &Path, next: &str, c: &Arc<ManualClock>) -> Arc<ConsentGate> {
    let gate = open(dir, &policy(1, 0, &[]), c);
    grant(&gate, "analytics", true);
    grant(&gate, "advertising", false);
    drop(gate);
    c.advance(DAY);
    open(dir, next, c)
}

fn due(from: i64, to: i64) -> Option<PolicyChange> {
    Some(PolicyChange {
        from_revision: from,
        to_revision: to,
        notice_url: "https://example.kz/privacy".into(),
    })
}

#[test]
fn a_non_material_revision_needs_acknowledgement_with_revisions_and_notice_url() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = decided_then(dir.path(), &policy(2, 0, &[]), &c);
    let st = gate.consent_state();
    assert_eq!(st.needs_acknowledgement, due(1, 2));
    // No new consent is asked for, and the decision stands.
    assert!(!st.needs_prompt, "{:?}", st.prompt_reasons);
    assert!(gate.allows("usage_events".into()));
}

#[test]
fn a_change_to_necessary_purposes_only_needs_acknowledgement_not_consent() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = decided_then(dir.path(), &with_necessary_purpose(2), &c);
    let st = gate.consent_state();
    assert_eq!(st.needs_acknowledgement, due(1, 2));
    assert!(!st.needs_prompt, "{:?}", st.prompt_reasons);
}

#[test]
fn g5_acknowledging_appends_a_verified_ledger_entry_of_its_own_kind_and_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = decided_then(dir.path(), &policy(2, 0, &[]), &c);
    let recorder = Arc::new(Recorder::default());
    gate.set_listener(recorder.clone());
    let before = gate.ledger().unwrap();
    c.advance(60_000);
    let st = gate.acknowledge_policy(ConsentSource::Banner).unwrap();
    assert_eq!(st.needs_acknowledgement, None);
    assert_eq!(gate.consent_state().needs_acknowledgement, None);
    // The listener saw the change.
    let told = recorder.0.lock().unwrap();
    assert_eq!(
        told.last().map(|s| s.needs_acknowledgement.clone()),
        Some(None)
    );
    drop(told);

    let ledger = gate.ledger().unwrap();
    assert_eq!(ledger.len(), before.len() + 1);
    let ack = ledger.last().unwrap();
    assert_eq!(ack.kind, LedgerKind::Acknowledgement);
    assert_eq!(ack.revision, 2);
    assert_eq!(ack.acknowledged_from, Some(1));
    assert_eq!(ack.policy_hash, gate.policy().hash);
    assert_eq!(ack.source, ConsentSource::Banner);
    assert_eq!(ack.at_ms, consentgate::Clock::now_ms(&*c));
    assert_eq!(ack.prev_hash, before.last().unwrap().hash);
    assert!(ack.purpose.is_empty());
    // The decisions are untouched and the chain verifies.
    assert_eq!(
        gate.consent_state().status_of("analytics"),
        Some(ConsentStatus::Granted)
    );
    let check = gate.verify_ledger().unwrap();
    assert!(check.intact, "{check:?}");
    assert_eq!(check.entries as usize, ledger.len());

    // It stays acknowledged, and verified, across a reopen.
    drop(gate);
    let gate = open(dir.path(), &policy(2, 0, &[]), &c);
    assert_eq!(gate.consent_state().needs_acknowledgement, None);
    assert_eq!(gate.ledger().unwrap().len(), ledger.len());
    assert!(gate.verify_ledger().unwrap().intact);
}

#[test]
fn g5_the_export_carries_the_acknowledgement_as_a_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = decided_then(dir.path(), &policy(2, 0, &[]), &c);
    gate.acknowledge_policy(ConsentSource::Settings).unwrap();
    let doc: Value = serde_json::from_str(&gate.export_data().unwrap()).unwrap();
    let receipts = doc["receipts"].as_array().unwrap();
    let consent: Vec<_> = receipts.iter().filter(|r| r["kind"] == "consent").collect();
    assert_eq!(consent.len(), 2, "{receipts:?}");
    let ack = receipts.last().unwrap();
    assert_eq!(ack["kind"], "acknowledgement");
    assert_eq!(ack["acknowledgement"]["from_revision"], 1);
    assert_eq!(ack["acknowledgement"]["to_revision"], 2);
    assert_eq!(ack["notice"]["url"], "https://example.kz/privacy");
    assert_eq!(ack["notice"]["revision"], 2);
    assert_eq!(ack["notice"]["policy_hash"], gate.policy().hash.as_str());
    assert_eq!(ack["event"]["source"], "settings");
    assert_eq!(ack["purposes"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        ack["record_id"],
        gate.ledger().unwrap().last().unwrap().hash.as_str()
    );
    // The ledger in the export names the entry's kind.
    let ledger = doc["ledger"].as_array().unwrap();
    assert_eq!(ledger.last().unwrap()["kind"], "acknowledgement");
    assert_eq!(ledger[0]["kind"], "decision");
    // The state in the export says nothing is due any more.
    assert!(doc["consent"]["needs_acknowledgement"].is_null());
}

#[test]
fn continued_use_never_clears_it_events_flush_and_reopen_leave_it_due() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let next = policy(2, 0, &[]);
    let gate = decided_then(dir.path(), &next, &c);
    record_n(&gate, "screen_view", 20);
    gate.persist().unwrap();
    let report = gate.flush(Arc::new(Accepting)).unwrap();
    assert_eq!(report.events_delivered, 20, "{report:?}");
    c.advance(30 * DAY);
    assert_eq!(gate.consent_state().needs_acknowledgement, due(1, 2));
    // A new decision is not an acknowledgement either.
    grant(&gate, "advertising", true);
    assert_eq!(gate.consent_state().needs_acknowledgement, due(1, 2));
    drop(gate);
    for _ in 0..2 {
        let gate = open(dir.path(), &next, &c);
        assert_eq!(gate.consent_state().needs_acknowledgement, due(1, 2));
        assert!(gate
            .ledger()
            .unwrap()
            .iter()
            .all(|e| e.kind == LedgerKind::Decision));
    }
}

#[test]
fn revisions_shipped_before_the_acknowledgement_are_acknowledged_together() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    drop(decided_then(dir.path(), &policy(2, 0, &[]), &c));
    let gate = open(dir.path(), &policy(3, 0, &[]), &c);
    assert_eq!(gate.consent_state().needs_acknowledgement, due(1, 3));
    gate.acknowledge_policy(ConsentSource::Api).unwrap();
    let ack = gate.ledger().unwrap().pop().unwrap();
    assert_eq!((ack.acknowledged_from, ack.revision), (Some(1), 3));
}

#[test]
fn acknowledging_with_nothing_due_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    // A fresh install owes nothing: its first revision is not a change.
    let gate = open(dir.path(), &policy(3, 0, &[]), &c);
    gate.accept_all(ConsentSource::Banner).unwrap();
    assert_eq!(gate.consent_state().needs_acknowledgement, None);
    let before = gate.ledger().unwrap();
    let version = gate.consent_state().version;
    let st = gate.acknowledge_policy(ConsentSource::Banner).unwrap();
    assert_eq!(st.needs_acknowledgement, None);
    assert_eq!(st.version, version, "the state changed");
    assert_eq!(gate.ledger().unwrap(), before, "a ledger entry was written");
    // Twice in a row: the second changes nothing.
    drop(gate);
    let gate = open(dir.path(), &policy(4, 0, &[]), &c);
    gate.acknowledge_policy(ConsentSource::Banner).unwrap();
    let n = gate.ledger().unwrap().len();
    gate.acknowledge_policy(ConsentSource::Banner).unwrap();
    assert_eq!(gate.ledger().unwrap().len(), n);
}

#[test]
fn only_the_app_acknowledges_sources_the_core_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = decided_then(dir.path(), &policy(2, 0, &[]), &c);
    let err = gate
        .acknowledge_policy(ConsentSource::Migration)
        .expect_err("migration is the core's own source");
    assert!(err.to_string().contains("banner, settings or api"), "{err}");
    assert_eq!(gate.consent_state().needs_acknowledgement, due(1, 2));
}

#[test]
fn a_material_revision_still_asks_for_consent_and_owes_no_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    // reconsent_below_revision 2: decisions of revision 1 no longer count.
    let gate = decided_then(dir.path(), &policy(2, 2, &[]), &c);
    let st = gate.consent_state();
    assert!(st.needs_prompt);
    assert_eq!(st.prompt_reasons, vec![PromptReason::PolicyChanged]);
    assert_eq!(st.needs_acknowledgement, None);
    assert!(!gate.allows("usage_events".into()));
    // Deciding again settles it; nothing is due afterwards either.
    gate.accept_all(ConsentSource::Banner).unwrap();
    drop(gate);
    let gate = open(dir.path(), &policy(2, 2, &[]), &c);
    assert_eq!(gate.consent_state().needs_acknowledgement, None);
    assert!(!gate.consent_state().needs_prompt);
}

#[test]
fn a_new_consent_purpose_asks_for_consent_and_owes_no_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = decided_then(dir.path(), &policy(2, 0, &["personalization"]), &c);
    let st = gate.consent_state();
    assert_eq!(st.prompt_reasons, vec![PromptReason::NewPurpose]);
    assert_eq!(st.needs_acknowledgement, None);
}

#[test]
fn g5_an_altered_acknowledgement_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = decided_then(dir.path(), &policy(2, 0, &[]), &c);
    gate.acknowledge_policy(ConsentSource::Banner).unwrap();
    let seq = gate.ledger().unwrap().last().unwrap().seq;
    drop(gate);
    // Claiming the user had seen a later revision than they had.
    let db = rusqlite::Connection::open(dir.path().join(consentgate::DB_FILE)).unwrap();
    db.execute(
        "UPDATE ledger SET acknowledged_from = 2 WHERE kind = 'acknowledgement'",
        [],
    )
    .unwrap();
    drop(db);
    let check = consentgate::verify_ledger_at(dir.path()).unwrap();
    assert!(!check.intact);
    assert_eq!(check.first_bad_seq, Some(seq));
}
