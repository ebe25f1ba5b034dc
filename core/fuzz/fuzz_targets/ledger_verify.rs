//! Fuzz target `ledger_verify`: arbitrary ledger rows, checked through the
//! public `ConsentGate::verify_ledger`.
//!
//! The chain check is crate-private, so the target drives a real gate: one
//! gate is opened on a temporary directory (a manual clock, so maintenance
//! never prunes under us), and every input rewrites the `ledger` table and the
//! anchor with a second rusqlite connection, then asks the gate. The rows are
//! built from the fuzz bytes mostly as a well-formed chain (so deep paths of
//! the verifier run) with mutations anywhere: gaps, reordered or negative
//! seqs, wrong links, altered hashes, odd strings, wrong SQL types.
//!
//! Each input is also opened as a store of its own (a copy whose decisions
//! are the ledger's latest entries): open must never panic, and must run on
//! the copy exactly when the chain rule calls it intact, setting it aside
//! otherwise (the open-time scan reads rows without copying them out: this
//! holds it to the same rule as `verify_ledger`).
//!
//! `verify_ledger` must never panic, and must agree with an independent
//! re-implementation of the chain rule over the entries `ledger()` returns:
//! intact exactly when every seq follows its predecessor, every `prev_hash`
//! is the previous entry's hash (the anchor's for the first) and every `hash`
//! is sha256(prev_hash || canonical entry); otherwise the first bad seq named.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use arbitrary::Arbitrary;
use consentgate::{ConsentGate, LedgerEntry, ManualClock, OpenOptions};
use libfuzzer_sys::fuzz_target;
use rusqlite::{params, types::Value as Sql, Connection};
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const POLICY: &str = include_str!("../../../examples/policies/example-kz.json");

struct State {
    gate: Arc<ConsentGate>,
    conn: Mutex<Connection>,
    dir: tempfile::TempDir,
}

/// A gate on `dir` with the example policy and a fixed clock (so maintenance
/// never prunes under the target).
fn open(dir: &std::path::Path) -> Result<Arc<ConsentGate>, consentgate::GateError> {
    ConsentGate::open_with(OpenOptions {
        data_dir: dir.to_path_buf(),
        policy_json: Some(POLICY.to_string()),
        region: Some("KZ".into()),
        app_version: "fuzz".into(),
        clock: Arc::new(ManualClock::new(1_767_225_600_000)),
    })
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::Builder::new().prefix("cg-fuzz").tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let gate = open(dir.path()).expect("open gate");
        let conn = Connection::open(dir.path().join(consentgate::DB_FILE)).expect("open db");
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .expect("busy");
        conn.pragma_update(None, "synchronous", "OFF")
            .expect("sync");
        State {
            gate,
            conn: Mutex::new(conn),
            dir,
        }
    })
}

/// A string field: usually a plausible value, sometimes anything.
#[derive(Arbitrary, Debug)]
enum Text {
    Pick(u8),
    Any(String),
}

impl Text {
    fn get(&self, choices: &[&str]) -> String {
        match self {
            Text::Pick(i) => choices[*i as usize % choices.len()].to_string(),
            Text::Any(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Seq {
    Next,
    Delta(i8),
    Raw(i64),
}

#[derive(Arbitrary, Debug)]
enum Link {
    Chain,
    Genesis,
    Any(String),
}

#[derive(Arbitrary, Debug)]
enum Hash {
    Correct,
    Flip(u8),
    Upper,
    Any(String),
}

#[derive(Arbitrary, Debug)]
struct Row {
    seq: Seq,
    txn: u16,
    at_ms: i64,
    purpose: Text,
    status: Text,
    source: Text,
    policy_id: Text,
    revision: i64,
    policy_hash: Text,
    app_version: Text,
    region: Option<Text>,
    installation_id: Text,
    prev: Link,
    hash: Hash,
    /// Store a text where the schema expects an integer (column index % 4).
    wrong_type: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    anchor: Option<(Text, Link)>,
    rows: Vec<Row>,
}

/// Mirrors how the store reads a row (unknown status/source fall back), so
/// that `Hash::Correct` rows really verify; the oracle does not use this.
fn as_read(s: &str, known: &[&str], fallback: &str) -> String {
    if known.contains(&s) {
        s.to_string()
    } else {
        fallback.to_string()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn js(s: &str) -> String {
    serde_json::to_string(s).expect("string to json")
}

/// sha256(prev_hash || canonical entry), written out by hand: fixed field
/// order, compact JSON.
fn oracle_hash(e: &LedgerEntry) -> String {
    let body = format!(
        "{{\"seq\":{},\"txn\":{},\"at_ms\":{},\"purpose\":{},\"status\":{},\"source\":{},\"policy_id\":{},\
         \"revision\":{},\"policy_hash\":{},\"app_version\":{},\"region\":{},\"installation_id\":{}}}",
        e.seq,
        e.txn,
        e.at_ms,
        js(&e.purpose),
        js(e.status.as_str()),
        js(e.source.as_str()),
        js(&e.policy_id),
        e.revision,
        js(&e.policy_hash),
        js(&e.app_version),
        e.region.as_deref().map_or("null".to_string(), js),
        js(&e.installation_id),
    );
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(body.as_bytes());
    hex(&h.finalize())
}

/// The first entry that breaks the chain, or None when it is intact.
fn oracle(anchor: (u64, &str), entries: &[LedgerEntry]) -> Option<u64> {
    let (mut seq, mut hash) = (anchor.0, anchor.1.to_string());
    for e in entries {
        // Seqs are compared as the u64 the chain rule reads them as.
        let e_seq = e.seq as u64;
        if seq.checked_add(1) != Some(e_seq) || e.prev_hash != hash || oracle_hash(e) != e.hash {
            return Some(e_seq);
        }
        seq = e_seq;
        hash = e.hash.clone();
    }
    None
}

/// Opening a gate on a copy of the store (its decisions rewritten to be the
/// latest ledger entry of each purpose, so only the chain decides) must never
/// panic, and must never run on a chain the rule rejects: it opens intact
/// exactly when the chain is intact and its head leaves room to append, and
/// sets the copy aside otherwise.
fn check_open(st: &State, entries: &[LedgerEntry], intact: bool) {
    let dir = tempfile::Builder::new()
        .prefix("cg-fuzz-open")
        .tempdir_in(
            st.dir
                .path()
                .parent()
                .unwrap_or(std::path::Path::new("/tmp")),
        )
        .expect("temp dir");
    let db = dir.path().join(consentgate::DB_FILE);
    st.conn
        .lock()
        .expect("conn")
        .execute("VACUUM INTO ?1", [db.display().to_string()])
        .expect("copy the store");
    let copy = Connection::open(&db).expect("open the copy");
    copy.execute("DELETE FROM decisions", [])
        .expect("clear decisions");
    let mut latest = std::collections::BTreeMap::new();
    for e in entries {
        latest.insert(e.purpose.clone(), e);
    }
    for (purpose, e) in latest {
        copy.execute(
            "INSERT INTO decisions(purpose, status, decided_at_ms, source, revision, reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
            params![
                purpose,
                e.status.as_str(),
                e.at_ms,
                e.source.as_str(),
                e.revision
            ],
        )
        .expect("decision");
    }
    drop(copy);
    match open(dir.path()) {
        Ok(g) => {
            let recovered = g.consent_state().store_recovery;
            assert_eq!(
                recovered.is_none(),
                intact,
                "open on a chain the rule calls intact={intact}: {recovered:?}"
            );
        }
        Err(e) => panic!("open failed instead of recovering: {e}"),
    }
}

const STATUS: [&str; 3] = ["granted", "denied", "unset"];
const SOURCE: [&str; 8] = [
    "banner",
    "settings",
    "api",
    "gpc",
    "age_gate",
    "expiry",
    "deletion",
    "migration",
];

fuzz_target!(|input: Input| {
    let st = state();
    let rows = &input.rows[..input.rows.len().min(64)];
    // The anchor as the store would read it back.
    let (anchor_seq_text, anchor_hash) = match &input.anchor {
        Some((seq, link)) => (
            Some(seq.get(&["0", "1", "2", "7", "-1", "x"])),
            Some(match link {
                Link::Chain | Link::Genesis => GENESIS.to_string(),
                Link::Any(s) => s.clone(),
            }),
        ),
        None => (None, None),
    };
    let anchor: (u64, String) = match (
        anchor_seq_text.as_deref().map(str::parse::<u64>),
        &anchor_hash,
    ) {
        (Some(Ok(s)), Some(h)) => (s, h.clone()),
        _ => (0, GENESIS.to_string()),
    };
    {
        let mut conn = st.conn.lock().expect("conn");
        let tx = conn.transaction().expect("begin");
        tx.execute("DELETE FROM ledger", []).expect("clear ledger");
        tx.execute(
            "DELETE FROM meta WHERE key IN ('ledger_anchor_seq', 'ledger_anchor_hash')",
            [],
        )
        .expect("clear anchor");
        if let (Some(s), Some(h)) = (&anchor_seq_text, &anchor_hash) {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES ('ledger_anchor_seq', ?1), ('ledger_anchor_hash', ?2)",
                params![s, h],
            )
            .expect("anchor");
        }
        let (mut seq, mut prev) = (anchor.0 as i64, anchor.1.clone());
        for r in rows {
            seq = match r.seq {
                Seq::Next => seq.wrapping_add(1),
                Seq::Delta(d) => seq.wrapping_add(d as i64),
                Seq::Raw(v) => v,
            };
            let mut e = LedgerEntry {
                seq,
                txn: r.txn as i64,
                at_ms: r.at_ms,
                kind: consentgate::LedgerKind::Decision,
                purpose: r.purpose.get(&["analytics", "advertising", "service", ""]),
                status: consentgate::ConsentStatus::Unset,
                source: consentgate::ConsentSource::Migration,
                policy_id: r.policy_id.get(&["aqkol-city-app", "x"]),
                revision: i64::from(r.revision as u32),
                acknowledged_from: None,
                policy_hash: r.policy_hash.get(&["abc", GENESIS]),
                app_version: r.app_version.get(&["fuzz", "1.0.0"]),
                region: r.region.as_ref().map(|t| t.get(&["KZ", "EU"])),
                installation_id: r.installation_id.get(&["inst-1", "inst-2"]),
                signal_hash: None,
                prev_hash: match &r.prev {
                    Link::Chain => prev.clone(),
                    Link::Genesis => GENESIS.to_string(),
                    Link::Any(s) => s.clone(),
                },
                hash: String::new(),
            };
            let status = r.status.get(&STATUS);
            let source = r.source.get(&SOURCE);
            e.status = match as_read(&status, &STATUS, "unset").as_str() {
                "granted" => consentgate::ConsentStatus::Granted,
                "denied" => consentgate::ConsentStatus::Denied,
                _ => consentgate::ConsentStatus::Unset,
            };
            e.source = consentgate::ConsentSource::Migration;
            for (name, s) in SOURCE.iter().zip([
                consentgate::ConsentSource::Banner,
                consentgate::ConsentSource::Settings,
                consentgate::ConsentSource::Api,
                consentgate::ConsentSource::Gpc,
                consentgate::ConsentSource::AgeGate,
                consentgate::ConsentSource::Expiry,
                consentgate::ConsentSource::Deletion,
                consentgate::ConsentSource::Migration,
            ]) {
                if *name == source {
                    e.source = s;
                }
            }
            let correct = oracle_hash(&e);
            e.hash = match &r.hash {
                Hash::Correct => correct,
                Hash::Flip(i) => {
                    let mut b = correct.into_bytes();
                    let i = *i as usize % b.len();
                    b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                    String::from_utf8(b).expect("hex")
                }
                Hash::Upper => correct.to_uppercase(),
                Hash::Any(s) => s.clone(),
            };
            prev = e.hash.clone();
            let mut values: Vec<Sql> = vec![
                Sql::Integer(seq),
                Sql::Integer(e.txn as i64),
                Sql::Integer(e.at_ms),
                Sql::Text(e.purpose.clone()),
                Sql::Text(status),
                Sql::Text(source),
                Sql::Text(e.policy_id.clone()),
                Sql::Integer(r.revision),
                Sql::Text(e.policy_hash.clone()),
                Sql::Text(e.app_version.clone()),
                e.region.clone().map_or(Sql::Null, Sql::Text),
                Sql::Text(e.installation_id.clone()),
                Sql::Text(e.prev_hash.clone()),
                Sql::Text(e.hash.clone()),
            ];
            if let Some(w) = r.wrong_type {
                // txn, at_ms, revision or purpose (a blob where text is expected)
                match w % 4 {
                    0 => values[1] = Sql::Text("not a number".into()),
                    1 => values[2] = Sql::Real(1.5),
                    2 => values[7] = Sql::Text("x".into()),
                    _ => values[3] = Sql::Blob(vec![0xff, 0xfe]),
                }
            }
            // Duplicate seqs are refused by the primary key: the row is skipped.
            let _ = tx.execute(
                "INSERT OR IGNORE INTO ledger(seq, txn, at_ms, purpose, status, source, policy_id, revision, \
                 policy_hash, app_version, region, installation_id, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                rusqlite::params_from_iter(values),
            );
        }
        tx.commit().expect("commit");
    }
    let check = st.gate.verify_ledger();
    let entries = st.gate.ledger();
    if let Ok(entries) = &entries {
        // Open also refuses a chain whose head seq leaves no room to append
        // (above i64::MAX / 2; past i64::MAX it was negative on disk).
        let head = entries.last().map_or(anchor.0, |e| e.seq as u64);
        let usable =
            oracle((anchor.0, &anchor.1), entries).is_none() && head <= i64::MAX as u64 / 2;
        check_open(st, &entries[..], usable);
    }
    match (check, entries) {
        (Ok(check), Ok(entries)) => {
            let expected = oracle((anchor.0, &anchor.1), &entries);
            assert_eq!(
                check.intact,
                expected.is_none(),
                "verify_ledger says intact={} but the chain rule says first bad = {expected:?}: {check:?}",
                check.intact
            );
            if check.intact {
                assert_eq!(
                    check.entries,
                    entries.len() as i64,
                    "intact but not every entry counted"
                );
                assert!(check.problem.is_none() && check.first_bad_seq.is_none());
            } else {
                assert_eq!(
                    check.first_bad_seq, expected.map(|s| s as i64),
                    "names the wrong first bad entry"
                );
                assert!(
                    check.problem.as_deref().is_some_and(|p| !p.is_empty()),
                    "no problem text"
                );
            }
        }
        // A row the store cannot read is an error, never a verdict.
        (Err(_), _) => {}
        (Ok(check), Err(e)) => panic!("verify_ledger answered {check:?} but ledger() failed: {e}"),
    }
});
