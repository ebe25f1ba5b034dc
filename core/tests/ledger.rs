//! The consent ledger (G5): one entry per changed purpose with everything a
//! regulator asks for, a hash chain that names the first altered entry, and
//! receipts in the export.

mod common;

use common::*;
use consentgate::{ConsentSource, ConsentStatus, DB_FILE};

#[test]
fn g5_every_change_appends_a_chained_entry_with_its_context() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    gate.accept_all(ConsentSource::Banner).unwrap();
    grant(&gate, "advertising", false);
    grant(&gate, "advertising", false); // unchanged: no entry
    let ledger = gate.ledger().unwrap();
    assert_eq!(ledger.len(), 4, "three grants and one withdrawal");
    let policy = gate.policy();
    for (i, e) in ledger.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(e.policy_id, "aqkol-city-app");
        assert_eq!(e.policy_hash, policy.hash);
        assert_eq!(e.revision, 1);
        assert_eq!(e.app_version, "1.0.0");
        assert_eq!(e.region.as_deref(), Some("KZ"));
        assert_eq!(e.installation_id, gate.installation_id());
        assert_eq!(e.at_ms, T0);
        if i > 0 {
            assert_eq!(e.prev_hash, ledger[i - 1].hash);
        }
    }
    // The three grants of accept_all are one consent event.
    assert!(ledger[..3]
        .iter()
        .all(|e| e.txn == 1 && e.status == ConsentStatus::Granted));
    assert_eq!(
        (ledger[3].purpose.as_str(), ledger[3].status, ledger[3].txn),
        ("advertising", ConsentStatus::Denied, 4)
    );
    let check = gate.verify_ledger().unwrap();
    assert!(check.intact);
    assert_eq!(check.entries, 4);
}

#[test]
fn g5_editing_a_ledger_row_with_sql_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &example_kz(), &c);
        gate.accept_all(ConsentSource::Banner).unwrap();
        gate.reject_all(ConsentSource::Settings).unwrap();
        assert!(gate.verify_ledger().unwrap().intact);
    }
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute("UPDATE ledger SET status = 'granted' WHERE seq = 5", [])
        .unwrap();
    drop(conn);
    // Inspected without a gate: the store is read, not changed.
    let check = consentgate::verify_ledger_at(dir.path()).unwrap();
    assert!(!check.intact);
    assert_eq!(check.first_bad_seq, Some(5));
    assert!(check.problem.unwrap().contains("entry 5"));
    assert_eq!(consentgate::ledger_at(dir.path()).unwrap().len(), 6);
    // A gate does not run on it: set aside, fail-closed, and says why.
    let gate = open(dir.path(), &example_kz(), &c);
    let state = gate.consent_state();
    let r = state
        .store_recovery
        .expect("a broken ledger is not trusted");
    assert!(r.reason.contains("entry 5"), "{}", r.reason);
    assert!(state.needs_prompt);
    assert!(!gate.allows_str("usage_events"));
    assert!(std::path::Path::new(&r.moved_to).is_file());
}

#[test]
fn g5_deleting_a_ledger_row_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &example_kz(), &c);
        gate.accept_all(ConsentSource::Banner).unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute("DELETE FROM ledger WHERE seq = 2", [])
        .unwrap();
    drop(conn);
    let check = consentgate::verify_ledger_at(dir.path()).unwrap();
    assert_eq!(check.first_bad_seq, Some(3), "{check:?}");
    let gate = open(dir.path(), &example_kz(), &c);
    let r = gate.consent_state().store_recovery.expect("recovered");
    assert!(r.reason.contains("entry 3"), "{}", r.reason);
}

#[test]
fn g5_a_stored_decision_the_ledger_does_not_back_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &example_kz(), &c);
        grant(&gate, "analytics", false);
    }
    // The decision flipped behind the ledger's back.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute(
        "UPDATE decisions SET status = 'granted' WHERE purpose = 'analytics'",
        [],
    )
    .unwrap();
    drop(conn);
    // Inspection reaches open's verdict, and leaves the store where it is.
    let check = consentgate::verify_ledger_at(dir.path()).unwrap();
    assert!(!check.intact, "{check:?}");
    assert!(
        check.problem.as_deref().unwrap_or("").contains("analytics"),
        "{check:?}"
    );
    assert!(
        dir.path().join(DB_FILE).exists(),
        "inspection set the store aside"
    );
    let gate = open(dir.path(), &example_kz(), &c);
    assert!(!gate.allows_str("usage_events"));
    let r = gate.consent_state().store_recovery.expect("recovered");
    assert!(r.reason.contains("analytics"), "{}", r.reason);
}

#[test]
fn g5_inspecting_a_directory_without_a_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let e = consentgate::verify_ledger_at(dir.path()).unwrap_err();
    assert!(
        e.to_string().contains("holds no consentgate database"),
        "{e}"
    );
    assert!(
        !dir.path().join(DB_FILE).exists(),
        "inspection created a file"
    );
}

#[test]
fn g5_export_carries_receipts_for_each_consent_event() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    gate.accept_all(ConsentSource::Banner).unwrap();
    grant(&gate, "analytics", false);
    let doc: serde_json::Value = serde_json::from_str(&gate.export_data().unwrap()).unwrap();
    let receipts = doc["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 2);
    let r = &receipts[0];
    assert_eq!(r["subject"]["id"], gate.installation_id().as_str());
    assert_eq!(r["notice"]["url"], "https://aqkol-city.kz/privacy");
    assert_eq!(r["controller"]["registration_id"], "190340008121");
    assert_eq!(r["purposes"].as_array().unwrap().len(), 3);
    assert_eq!(r["purposes"][0]["state"], "granted");
    assert_eq!(r["purposes"][0]["event_time"], "2026-01-01T00:00:00.000Z");
    assert_eq!(receipts[1]["purposes"][0]["state"], "denied");
    assert_eq!(doc["installation_id"], gate.installation_id().as_str());
    assert_eq!(doc["ledger"].as_array().unwrap().len(), 4);
}

#[test]
fn g8_ledger_retention_prunes_old_entries_and_keeps_the_chain_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &example_kz(), &c);
        for _ in 0..3 {
            grant(&gate, "analytics", true);
            grant(&gate, "analytics", false);
        }
        gate.accept_all(ConsentSource::Banner).unwrap();
        assert_eq!(gate.ledger().unwrap().len(), 9);
    }
    // Three years and a day later (expiry retires the old decisions first).
    c.set(T0 + 1096 * DAY);
    let gate = open(dir.path(), &example_kz(), &c);
    let ledger = gate.ledger().unwrap();
    assert!(ledger.len() < 12, "old entries pruned: {}", ledger.len());
    assert!(ledger[0].seq > 1);
    let check = gate.verify_ledger().unwrap();
    assert!(check.intact, "{check:?}");
    // The latest entry of every purpose is kept.
    for p in ["analytics", "advertising", "cross_border_transfer"] {
        assert!(ledger.iter().any(|e| e.purpose == p), "{p}");
    }
}

/// Copies the files of data directory `from` into a fresh one.
fn copy_store(from: &std::path::Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.path().join(e.file_name())).unwrap();
    }
    to
}

#[test]
fn g5_a_long_ledger_is_verified_whole_at_open() {
    // Long enough that open verifies it in two halves at once.
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let head = {
        let gate = open(dir.path(), &example_kz(), &c);
        for i in 0..760 {
            if i % 2 == 0 {
                gate.accept_all(ConsentSource::Banner).unwrap();
            } else {
                gate.reject_all(ConsentSource::Settings).unwrap();
            }
        }
        let n = gate.ledger().unwrap().len() as i64;
        assert!(n > 2100, "{n} entries");
        n
    };
    let intact = copy_store(dir.path());
    let gate = open(intact.path(), &example_kz(), &c);
    assert!(gate.consent_state().store_recovery.is_none());
    assert_eq!(gate.verify_ledger().unwrap().entries, head);
    drop(gate);
    for (what, sql, named) in [
        (
            "early",
            "UPDATE ledger SET at_ms = at_ms + 1 WHERE seq = 10".to_string(),
            10,
        ),
        (
            "late",
            format!("UPDATE ledger SET purpose = 'x' WHERE seq = {}", head - 5),
            head - 5,
        ),
        (
            "at the middle",
            format!("DELETE FROM ledger WHERE seq = {}", head / 2 + 1),
            head / 2 + 2,
        ),
    ] {
        let d = copy_store(dir.path());
        let conn = rusqlite::Connection::open(d.path().join(DB_FILE)).unwrap();
        conn.execute(&sql, []).unwrap();
        drop(conn);
        let gate = open(d.path(), &example_kz(), &c);
        let r = gate
            .consent_state()
            .store_recovery
            .unwrap_or_else(|| panic!("{what}: a broken ledger was trusted"));
        assert!(
            r.reason.contains(&format!("entry {named}")),
            "{what}: {}",
            r.reason
        );
    }
}
