//! `consentgate status` and `consentgate consent acknowledge` on a data
//! directory whose app shipped a policy revision that needs no new consent:
//! what a QA engineer checking the "policy updated" screen would see.

mod common;

use std::path::{Path, PathBuf};

use common::{ok, on, POLICY};
use serde_json::Value;

/// The example policy at `revision` (it keeps `reconsent_below_revision` 1:
/// no new consent needed), written into `dir`.
fn example_at(dir: &Path, revision: u64) -> PathBuf {
    let text = std::fs::read_to_string(POLICY).expect("example policy");
    let mut doc: Value = serde_json::from_str(&text).expect("json");
    doc["revision"] = revision.into();
    let path = dir.join(format!("policy-r{revision}.json"));
    std::fs::write(&path, doc.to_string()).expect("write policy");
    path
}

fn ledger(data: &Path) -> Vec<Value> {
    ok(data, &["ledger", "show"])
        .json()
        .as_array()
        .expect("ledger array")
        .clone()
}

/// The user accepts everything under the first revision.
fn accept_all(data: &Path) {
    ok(
        data,
        &[
            "--policy",
            POLICY,
            "--region",
            "KZ",
            "consent",
            "accept-all",
        ],
    );
}

#[test]
fn status_shows_the_change_due_and_consent_acknowledge_records_it() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    accept_all(&data);
    let r2 = example_at(root.path(), 2);
    let r2 = r2.to_str().expect("utf-8");

    // The app ships revision 2 and keeps being used: events, reopening.
    ok(&data, &["--policy", r2, "event", "record", "screen_view"]);
    let status = ok(&data, &["status"]).json();
    assert_eq!(status["needs_prompt"], false);
    assert_eq!(
        status["needs_acknowledgement"],
        serde_json::json!({"from_revision": 1, "to_revision": 2,
                           "notice_url": "https://aqkol-city.kz/privacy"})
    );
    let before = ledger(&data);

    let state = ok(&data, &["consent", "acknowledge", "--source", "banner"]).json();
    assert!(state["needs_acknowledgement"].is_null(), "{state}");
    assert!(ok(&data, &["status"]).json()["needs_acknowledgement"].is_null());

    let after = ledger(&data);
    assert_eq!(after.len(), before.len() + 1);
    let ack = after.last().expect("entry");
    assert_eq!(ack["kind"], "acknowledgement");
    assert_eq!(ack["acknowledged_from"], 1);
    assert_eq!(ack["revision"], 2);
    assert_eq!(ack["source"], "banner");
    let verify = ok(&data, &["ledger", "verify"]);
    assert_eq!(
        verify.stdout.trim(),
        format!("intact: {} entries", after.len())
    );

    let export = ok(&data, &["export"]).json();
    let receipt = export["receipts"]
        .as_array()
        .and_then(|r| r.last())
        .expect("receipts")
        .clone();
    assert_eq!(receipt["kind"], "acknowledgement");
    assert_eq!(
        receipt["acknowledgement"],
        serde_json::json!({"from_revision": 1, "to_revision": 2})
    );
}

#[test]
fn consent_acknowledge_with_nothing_due_changes_nothing_and_says_so() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    accept_all(&data);
    let before = ledger(&data);
    let run = ok(&data, &["consent", "acknowledge"]);
    assert!(run.json()["needs_acknowledgement"].is_null());
    assert!(
        run.stderr.contains("note: no policy change is due"),
        "{}",
        run.stderr
    );
    assert_eq!(ledger(&data), before);
}

#[test]
fn consent_acknowledge_refuses_a_source_the_core_records_itself() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    ok(&data, &["--policy", POLICY, "status"]);
    let run = on(&data, &["consent", "acknowledge", "--source", "migration"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}
