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
        assert_eq!(e.seq, i as u64 + 1);
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
    let gate = open(dir.path(), &example_kz(), &c);
    let check = gate.verify_ledger().unwrap();
    assert!(!check.intact);
    assert_eq!(check.first_bad_seq, Some(5));
    assert!(check.problem.unwrap().contains("entry 5"));
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
    let gate = open(dir.path(), &example_kz(), &c);
    let check = gate.verify_ledger().unwrap();
    assert_eq!(check.first_bad_seq, Some(3), "{check:?}");
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
