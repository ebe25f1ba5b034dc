//! What the walkthroughs do to a data directory, through the
//! `consentgate` command: a pending deletion request survives its store
//! being damaged (the header destroyed, or a decision edited with SQL) and
//! still reaches the backend (G6); an old copy of the store put back without
//! its head marker is noticed (G4); `ledger verify` reaches open's verdict
//! without setting anything aside; a running app's directory can be read
//! but not written beside it.

mod common;

use std::path::Path;

use common::*;
use consentgate_collector::{Collector, CollectorConfig};

fn collector(db: &Path) -> Collector {
    Collector::start(CollectorConfig::new(db.to_path_buf())).expect("collector starts")
}

/// Granted, three events uploaded to a collector (which then goes away), and
/// a deletion request left pending because the backend is down. Returns the
/// data directory, the first installation id and the collector's database.
fn pending_deletion(root: &Path) -> (std::path::PathBuf, String, std::path::PathBuf) {
    let collector_db = root.join("collector.sqlite");
    let c = collector(&collector_db);
    let (data, id) = granted_data_dir(root, &c.url());
    ok(&data, &["event", "record", "screen_view", "--count", "3"]);
    assert_eq!(ok(&data, &["upload"]).json()["events_delivered"], 3);
    assert_eq!(c.installation(&id).events, 3);
    drop(c); // the backend goes down
    let del = ok(&data, &["delete-request"]);
    assert_eq!(del.json()["status"]["state"], "pending", "{}", del.stdout);
    (data, id, collector_db)
}

/// `--policy FILE` for the derived policy under `root` (a store set aside
/// takes its stored policy with it: the app bundles one, the CLI is given it).
fn with_policy<'a>(root: &'a Path, args: &[&'a str]) -> Vec<String> {
    let mut all = vec![
        "--policy".to_string(),
        root.join("policy.json").display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

fn okp(data: &Path, root: &Path, args: &[&str]) -> Run {
    let all = with_policy(root, args);
    ok(data, &all.iter().map(String::as_str).collect::<Vec<_>>())
}

fn onp(data: &Path, root: &Path, args: &[&str]) -> Run {
    let all = with_policy(root, args);
    on(data, &all.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The deletion is still pending after the damage, and reaches the backend
/// once it is back: it forgets the first installation.
fn assert_deletion_survives(data: &Path, id: &str, collector_db: &Path) {
    let root = collector_db.parent().expect("root");
    let status = okp(data, root, &["status"]).json();
    assert!(
        !status["store_recovery"].is_null(),
        "the damage was not noticed: {status}"
    );
    assert_eq!(
        status["store_recovery"]["deletion_requests_unreadable"], false,
        "{status}"
    );
    let tickets = okp(data, root, &["deletion", "status"]).json();
    let tickets = tickets.as_array().expect("tickets");
    assert_eq!(
        tickets.len(),
        1,
        "the deletion request was lost: {tickets:?}"
    );
    assert_eq!(tickets[0]["status"]["state"], "pending");
    assert!(tickets[0]["installation_ids"]
        .as_array()
        .unwrap()
        .contains(&id.into()));
    let c = collector(collector_db);
    let url = c.url();
    let up = okp(data, root, &["upload", "--endpoint", &url]);
    assert_eq!(up.json()["deletions_acknowledged"], 1, "{}", up.stdout);
    let info = c.installation(id);
    assert!(info.deleted && info.events == 0, "{info:?}");
}

#[test]
fn g6_a_pending_deletion_survives_a_destroyed_header_and_reaches_the_backend() {
    let root = tempfile::tempdir().unwrap();
    let (data, id, collector_db) = pending_deletion(root.path());
    let db = data.join("consentgate.db");
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[..128].fill(0);
    std::fs::write(&db, bytes).unwrap();
    assert_deletion_survives(&data, &id, &collector_db);
}

#[test]
fn g6_a_pending_deletion_survives_a_decision_edited_behind_the_ledger() {
    let root = tempfile::tempdir().unwrap();
    let (data, id, collector_db) = pending_deletion(root.path());
    rusqlite::Connection::open(data.join("consentgate.db"))
        .and_then(|c| {
            c.execute(
                "UPDATE decisions SET status = 'granted' WHERE purpose = 'analytics'",
                [],
            )
        })
        .unwrap();
    assert_deletion_survives(&data, &id, &collector_db);
}

#[test]
fn g4_an_old_copy_put_back_without_its_marker_is_noticed() {
    let root = tempfile::tempdir().unwrap();
    let collector_db = root.path().join("collector.sqlite");
    let c = collector(&collector_db);
    let (data, id) = granted_data_dir(root.path(), &c.url());
    let db = data.join("consentgate.db");
    let granted_copy = std::fs::read(&db).unwrap();
    ok(&data, &["consent", "deny", "analytics"]);
    // The old file back, and nothing beside it that could tell.
    std::fs::write(&db, granted_copy).unwrap();
    for side in [
        "consentgate.db-head",
        "consentgate.db-wal",
        "consentgate.db-shm",
    ] {
        let _ = std::fs::remove_file(data.join(side));
    }
    // Inspecting first: the same verdict open reaches, nothing set aside.
    let verify = on(&data, &["ledger", "verify"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains("marker"), "{}", verify.stdout);
    assert!(db.exists());
    // The app's view: fail-closed, and it says why.
    let r = root.path();
    let allows = onp(&data, r, &["allows", "usage_events"]);
    assert_eq!(
        allows.code, 1,
        "the withdrawal came back: {}",
        allows.stdout
    );
    let status = okp(&data, r, &["status"]).json();
    assert!(!status["store_recovery"].is_null(), "{status}");
    let rec = okp(&data, r, &["event", "record", "screen_view"]);
    assert!(rec.stdout.contains("dropped"), "{}", rec.stdout);
    okp(&data, r, &["upload"]);
    assert_eq!(
        c.installation(&id).events,
        0,
        "an event was uploaded after the withdrawal"
    );
}

#[test]
fn ledger_verify_of_an_unreadable_file_is_a_negative_answer() {
    let root = tempfile::tempdir().unwrap();
    let (data, _) = granted_data_dir(root.path(), &dead_url());
    std::fs::write(data.join("consentgate.db"), b"not a database at all").unwrap();
    let verify = on(&data, &["ledger", "verify"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.starts_with("broken"), "{}", verify.stdout);
}

#[test]
fn beside_a_running_gate_reading_works_and_writing_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (data, _) = granted_data_dir(root.path(), &dead_url());
    let policy = std::fs::read_to_string(root.path().join("policy.json")).unwrap();
    let app = consentgate::ConsentGate::open(consentgate::GateConfig {
        data_dir: data.display().to_string(),
        policy_json: policy,
        region: Some("KZ".into()),
        app_version: "app".into(),
    })
    .expect("the app opens");
    app.record_event("tap".into(), None).unwrap();
    app.persist().unwrap();
    // Read-only commands answer from a consistent copy.
    assert_eq!(
        ok(&data, &["status"]).json()["purposes"][1]["status"],
        "granted"
    );
    assert!(ok(&data, &["ledger", "verify"])
        .stdout
        .starts_with("intact"));
    assert!(ok(&data, &["export"]).json()["queue"].as_array().is_some());
    // Writing commands take the lock: refused at once, naming the directory.
    let deny = on(&data, &["consent", "deny", "analytics"]);
    assert_eq!(deny.code, 3, "{}", deny.stderr);
    assert!(
        deny.stderr.contains(&data.display().to_string())
            && deny.stderr.contains("one gate per directory"),
        "{}",
        deny.stderr
    );
    assert!(
        app.allows_str("usage_events"),
        "the refused command changed the app's consent"
    );
}

#[test]
fn g6_when_no_deletion_request_can_be_read_the_fresh_store_says_so() {
    let root = tempfile::tempdir().unwrap();
    let (data, _, _) = pending_deletion(root.path());
    let db = data.join("consentgate.db");
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[..128].fill(0);
    std::fs::write(&db, bytes).unwrap();
    std::fs::remove_file(data.join("consentgate.db-keep")).unwrap();
    let status = okp(&data, root.path(), &["status"]).json();
    assert_eq!(
        status["store_recovery"]["deletion_requests_unreadable"], true,
        "{status}"
    );
}
