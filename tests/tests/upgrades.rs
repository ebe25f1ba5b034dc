//! G4 across releases: a store written by every earlier schema
//! (`tests/fixtures/<name>/`, made by `tests/fixtures/generate.sh` with the
//! core at the commit that wrote it) opens with today's code with nothing
//! lost — decisions, ledger (verified, same head), queued events, the pending
//! batch (resent under its id), the deletion tickets and where the user stands
//! with policy changes (nothing due from a store that predates
//! acknowledgements; due, or acknowledged, as schema 5 left it) — and a
//! failing upgrade leaves the file as it was and says why.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use consentgate::{
    ConsentGate, ConsentSource, ConsentStatus, DeletionStatus, LedgerKind, ManualClock,
    OpenOptions, UploadTask, DB_FILE, SCHEMA_VERSION,
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
    let due = st.needs_acknowledgement.as_ref().map(
        |c| serde_json::json!({"from_revision": c.from_revision, "to_revision": c.to_revision}),
    );
    assert_eq!(
        due.as_ref(),
        m.get("needs_acknowledgement"),
        "{name}: policy change due"
    );
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
fn g4_v5_store_of_this_release_opens_with_everything() {
    upgrade("v5", true);
    // The acknowledgement stays in the verified chain, and the revision
    // shipped after it is still due: reopening did not clear it.
    let m = manifest("v5");
    let dir = copy_of("v5");
    let gate = open(dir.path(), &m, DAY);
    let acks: Vec<_> = gate
        .ledger()
        .expect("ledger")
        .into_iter()
        .filter(|e| e.kind == LedgerKind::Acknowledgement)
        .collect();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(
        (acks[0].acknowledged_from, acks[0].revision),
        (
            m["acknowledged"]["from_revision"].as_i64(),
            m["acknowledged"]["to_revision"].as_i64().unwrap()
        )
    );
    gate.acknowledge_policy(ConsentSource::Banner)
        .expect("acknowledge");
    assert!(gate.consent_state().needs_acknowledgement.is_none());
    assert!(gate.verify_ledger().expect("verify").intact);
}

/// Every fixture opened with its policy's next revision, one that needs no
/// new consent: the change from the revision the user was last shown (for a
/// store before schema 5, the revision it last ran) is due, is
/// acknowledged on top of the chain the store had (nothing rolled back),
/// and stays acknowledged when opened again.
#[test]
fn g4_every_store_owes_an_acknowledgement_of_a_next_revision_from_where_it_stood() {
    for name in FIXTURES {
        let m = manifest(name);
        let dir = copy_of(name);
        let mut doc: Value = serde_json::from_str(m["policy"].as_str().unwrap()).unwrap();
        let stood_at = doc["revision"].as_i64().unwrap();
        doc["revision"] = (stood_at + 1).into();
        let mut next = m.clone();
        next["policy"] = doc.to_string().into();
        // A v5 store may stand at an earlier revision still due.
        let shown = m["needs_acknowledgement"]["from_revision"]
            .as_i64()
            .unwrap_or(stood_at);
        let gate = open(dir.path(), &next, DAY);
        let st = gate.consent_state();
        let due = st.needs_acknowledgement.clone().expect(name);
        assert_eq!(
            (due.from_revision, due.to_revision),
            (shown, stood_at + 1),
            "{name}"
        );
        assert!(!st.needs_prompt, "{name}: {:?}", st.prompt_reasons);
        gate.acknowledge_policy(ConsentSource::Settings)
            .expect("acknowledge");
        let ledger = gate.ledger().expect("ledger");
        let old_head = m["ledger_head_hash"].as_str().unwrap();
        let ack = ledger.last().unwrap();
        assert_eq!(ack.kind, LedgerKind::Acknowledgement, "{name}");
        if m.get("needs_acknowledgement").is_none() {
            assert_eq!(
                ack.prev_hash, old_head,
                "{name}: not on top of the old chain"
            );
        }
        assert!(
            ledger.iter().any(|e| e.hash == old_head),
            "{name}: the old head is gone"
        );
        assert!(gate.verify_ledger().expect("verify").intact, "{name}");
        drop(gate);
        let gate = open(dir.path(), &next, DAY + 1);
        assert!(
            gate.consent_state().needs_acknowledgement.is_none(),
            "{name}: due again after reopening"
        );
        assert_eq!(gate.ledger().expect("ledger").len(), ledger.len(), "{name}");
    }
}

/// Every fixture, oldest first.
const FIXTURES: [&str; 7] = ["v1", "v2", "v2r", "v2m", "v3", "v4", "v5"];

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
