//! Every released SQLite schema upgrades: the fixture `collector-v1.sqlite` was written by the
//! first release (events keyed by the batch's text id) and holds 3 batches (9 events), one
//! duplicate, one deletion and its erasure.

mod common;

use common::{batch, deletion, id, post_batch, post_deletion};
use consentgate_collector::{Collector, CollectorConfig};

#[test]
fn a_version_1_database_is_upgraded_with_everything_in_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("collector.sqlite");
    std::fs::copy("tests/fixtures/collector-v1.sqlite", &path).expect("copy fixture");
    let collector = Collector::start(CollectorConfig::new(&path)).expect("upgrades and starts");
    let stats = collector.stats();
    assert_eq!(
        (
            stats.batches,
            stats.events,
            stats.duplicates,
            stats.deletions
        ),
        (3, 9, 1, 1)
    );
    assert_eq!((stats.installations, stats.erased_installations), (2, 1));
    let first = collector.installation("8d0c2d4e-6f1a-4b7c-9e3d-2a1b0c9d8e7f");
    assert_eq!((first.batches, first.events, first.deleted), (2, 5, false));
    assert!(
        collector
            .installation("99999999-8888-4777-8666-555555555555")
            .deleted
    );

    // Stored batch ids are still known, the old receipt is still the answer.
    let mut old = batch(
        "0b7e9f5c-3a43-4f0e-9a8e-5f2d7c1b6a90",
        "8d0c2d4e-6f1a-4b7c-9e3d-2a1b0c9d8e7f",
        3,
    );
    old["user_id"] = "user-42".into();
    let reply = post_batch(collector.addr(), &old).expect("answered");
    assert_eq!(reply.json()["status"], "duplicate");
    let repeat = deletion(
        "5f4c3b2a-1908-4776-8a5b-4c3d2e1f0a9b",
        &["99999999-8888-4777-8666-555555555555"],
        None,
    );
    let reply = post_deletion(collector.addr(), &repeat).expect("answered");
    assert_eq!(
        reply.json()["receipt_id"],
        "659d6d21-bf74-4752-b8ce-cc132dd9ddde"
    );

    // The upgraded schema takes new batches and erases through the user id of old ones.
    let reply = post_batch(collector.addr(), &batch(&id("new"), &id("inst-new"), 2));
    assert_eq!(reply.expect("answered").status, 200);
    let by_user = deletion(&id("del-user"), &[&id("inst-new")], Some("user-42"));
    assert_eq!(
        post_deletion(collector.addr(), &by_user)
            .expect("answered")
            .status,
        200
    );
    let after = collector.stats();
    assert_eq!(
        (after.batches, after.events),
        (1, 4),
        "the user's and inst-new's batches erased"
    );
    collector.shutdown();

    let conn = rusqlite::Connection::open(&path).expect("raw open");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 2);
    let orphans: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE batch_key NOT IN (SELECT batch_key FROM batches)",
            [],
            |r| r.get(0),
        )
        .expect("orphans");
    assert_eq!(orphans, 0);
}
