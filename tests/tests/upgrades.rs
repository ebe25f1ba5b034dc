//! G4 across releases: a store written by every earlier schema
//! (`tests/fixtures/<name>/`, made by `tests/fixtures/generate.sh` with the
//! core at the commit that wrote it) opens with today's code with nothing
//! lost — decisions, ledger (verified, same head), queued events, the pending
//! batch (resent under its id) and the deletion tickets — and a failing
//! upgrade leaves the file as it was and says why.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use consentgate::{
    ConsentGate, ConsentStatus, DeletionStatus, ManualClock, OpenOptions, UploadTask, DB_FILE,
    SCHEMA_VERSION,
};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn manifest(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name).join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest json")
}

/// A copy of the fixture's data directory, as the app would find it.
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixture(name).join("store")).expect("fixture store") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}

fn open(dir: &Path, m: &Value, after_ms: i64) -> Arc<ConsentGate> {
    let at = m["written_at_ms"].as_i64().expect("time") + after_ms;
    ConsentGate::open_with(OpenOptions {
        data_dir: dir.to_path_buf(),
        policy_json: Some(m["policy"].as_str().expect("policy").to_string()),
        region: Some("KZ".into()),
        app_version: "1.0.0".into(),
        clock: Arc::new(ManualClock::new(at)),
    })
    .expect("open the upgraded store")
}

const DAY: i64 = 86_400_000;

/// Everything the fixture's manifest says must survive, checked on `gate`.
fn assert_kept(name: &str, gate: &ConsentGate, m: &Value) {
    let st = gate.consent_state();
    assert!(
        st.store_recovery.is_none(),
        "{name}: the store was set aside: {:?}",
        st.store_recovery
    );
    for (purpose, status) in m["decisions"].as_object().expect("decisions") {
        let want = match status.as_str() {
            Some("granted") => ConsentStatus::Granted,
            Some("denied") => ConsentStatus::Denied,
            _ => ConsentStatus::Unset,
        };
        assert_eq!(st.status_of(purpose), Some(want), "{name}: {purpose}");
    }
    assert!(!st.needs_prompt, "{name}: the user would be asked again");
    let ledger = gate.ledger().expect("ledger");
    assert_eq!(
        ledger.len() as u64,
        m["ledger_entries"].as_u64().unwrap(),
        "{name}"
    );
    assert_eq!(
        ledger.last().map(|e| e.hash.as_str()),
        m["ledger_head_hash"].as_str(),
        "{name}: not the same chain"
    );
    assert!(gate.verify_ledger().expect("verify").intact, "{name}");
    assert_eq!(
        gate.installation_id(),
        m["installation_id"].as_str().unwrap(),
        "{name}"
    );
    assert_eq!(
        gate.queue_stats().events,
        m["queued_events"].as_i64().unwrap(),
        "{name}: queued events"
    );
}

fn assert_tickets_kept(name: &str, gate: &ConsentGate, m: &Value) {
    let tickets = gate.deletion_requests();
    let want = m["deletion_tickets"].as_array().expect("tickets");
    assert_eq!(tickets.len(), want.len(), "{name}");
    for (t, w) in tickets.iter().zip(want) {
        assert_eq!(t.request_id, w["request_id"].as_str().unwrap(), "{name}");
        let status = match w["reply"].as_i64() {
            Some(200) => DeletionStatus::Acknowledged {
                receipt_id: "receipt-fixture".into(),
                status: "completed".into(),
            },
            _ => DeletionStatus::Failed { status: 403 },
        };
        assert_eq!(t.status, status, "{name}");
    }
}

/// The batch handed out before the upgrade is resent under its id with
/// every queued event.
fn assert_batch_resent(name: &str, gate: &ConsentGate, m: &Value) {
    let UploadTask::Upload { request } = gate.next_upload().expect("next") else {
        panic!("{name}: the pending batch is not resent");
    };
    assert_eq!(
        request.request_id,
        m["pending_batch_id"].as_str().unwrap(),
        "{name}"
    );
    let mut s = String::new();
    flate2::read::GzDecoder::new(&request.body[..])
        .read_to_string(&mut s)
        .expect("gzip");
    let body: Value = serde_json::from_str(&s).expect("json");
    assert_eq!(
        body["events"].as_array().map(Vec::len),
        m["queued_events"].as_u64().map(|n| n as usize),
        "{name}: events in the resent batch"
    );
}

fn user_version(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join(DB_FILE))
        .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .expect("user_version")
}

/// Opens the fixture twice (the second time as an upgraded store with its
/// marker) and checks everything each time.
fn upgrade(name: &str, upload: bool) {
    let m = manifest(name);
    let dir = copy_of(name);
    for reopen in 0..2 {
        let gate = open(dir.path(), &m, DAY + reopen);
        assert_kept(name, &gate, &m);
        if upload {
            assert_tickets_kept(name, &gate, &m);
        }
        drop(gate);
        assert_eq!(user_version(dir.path()), SCHEMA_VERSION, "{name}");
        assert!(
            dir.path().join("consentgate.db-head").is_file(),
            "{name}: no head marker after the upgrade"
        );
    }
    if upload {
        let gate = open(dir.path(), &m, DAY + 2);
        assert_batch_resent(name, &gate, &m);
    }
}

#[test]
fn g4_upgrade_from_v1_keeps_decisions_ledger_and_queued_events() {
    upgrade("v1", false);
}

#[test]
fn g4_upgrade_from_v2_without_receiptless_keeps_everything() {
    upgrade("v2", true);
}

#[test]
fn g4_upgrade_from_v2_with_receiptless_keeps_everything() {
    upgrade("v2r", true);
}

#[test]
fn g4_upgrade_from_v2_with_head_marker_keeps_everything() {
    upgrade("v2m", true);
}

#[test]
fn g4_upgrade_from_v3_keeps_every_decision_and_the_ledger() {
    upgrade("v3", true);
}

#[test]
fn g4_v4_store_of_this_release_opens_with_everything() {
    upgrade("v4", true);
    // Its decisions read from another CMP's TC string keep the string's
    // hash, inside the chain open verified.
    let m = manifest("v4");
    let dir = copy_of("v4");
    let gate = open(dir.path(), &m, DAY);
    let from_tcf: Vec<_> = gate
        .ledger()
        .expect("ledger")
        .into_iter()
        .filter(|e| e.signal_hash.is_some())
        .collect();
    assert_eq!(Some(from_tcf.len() as u64), m["signal_entries"].as_u64());
    assert!(from_tcf
        .iter()
        .all(|e| e.source == consentgate::ConsentSource::Tcf
            && e.signal_hash.as_ref().is_some_and(|h| h.len() == 64)));
    assert!(gate.verify_ledger().expect("verify").intact);
}

#[test]
fn every_schema_this_code_writes_has_a_fixture() {
    // A schema change without a fixture and a test is a bug: the version
    // this code writes has its fixture (and `upgrade` above expects it).
    let newest = fixture(&format!("v{SCHEMA_VERSION}")).join("store");
    assert_eq!(user_version(&newest), SCHEMA_VERSION);
}

#[test]
fn g4_a_failing_upgrade_leaves_the_file_as_it_was_and_says_why() {
    let m = manifest("v1");
    let dir = copy_of("v1");
    // The head marker is written before a pre-marker store is upgraded;
    // here it cannot be (a directory stands where its temporary file goes).
    std::fs::create_dir(dir.path().join("consentgate.db-head.tmp")).expect("block");
    let before = std::fs::read(dir.path().join(DB_FILE)).expect("read");
    let err = ConsentGate::open_with(OpenOptions {
        data_dir: dir.path().to_path_buf(),
        policy_json: Some(m["policy"].as_str().unwrap().to_string()),
        region: Some("KZ".into()),
        app_version: "1.0.0".into(),
        clock: Arc::new(ManualClock::new(m["written_at_ms"].as_i64().unwrap() + DAY)),
    })
    .expect_err("the upgrade cannot succeed");
    let text = err.to_string();
    assert!(
        text.contains("could not be written before upgrading the store"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(dir.path().join(DB_FILE)).expect("read"),
        before,
        "the file changed"
    );
    assert_eq!(user_version(dir.path()), 1);
    // Once the way is clear, the same file upgrades with nothing lost.
    std::fs::remove_dir(dir.path().join("consentgate.db-head.tmp")).expect("unblock");
    let gate = open(dir.path(), &m, DAY);
    assert_kept("v1", &gate, &m);
}
