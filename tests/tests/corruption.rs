//! Damaged databases (G1, G7): every way the store file can be bad when the
//! app starts, and what `ConsentGate::open_with` makes of it.
//!
//! One original store is built first (analytics granted; advertising granted,
//! withdrawn, granted again and finally denied; cross-border transfer never
//! decided; a few hundred queued events), plus by-products captured on the
//! way: a copy taken while the gate was running (database + WAL, what a
//! backup or a crash leaves), the WAL of that same database from the moment
//! advertising was still granted (stale), the WAL of another consentgate
//! database where everything is granted, and the WAL of a foreign SQLite
//! database. Then, from a seeded random source (`CONSENTGATE_SEED`), damaged
//! copies are made: truncated at random offsets, bytes flipped in the header,
//! the first page, the middle and near the end, damaged WALs, a zero-length
//! file, a directory in the file's place, a WAL from another database, a
//! newer `user_version`, `-shm` garbage, foreign SQLite databases, a
//! consentgate schema with a table missing, random non-SQLite files.
//!
//! For each: opening never panics (a panic on any thread counts); the gate
//! opens, either with the original data intact (same decisions, ledger
//! verifies with every entry, same queue) or fail-closed with
//! `store_recovery` set (reason given, the damaged file kept aside as
//! `consentgate.db.corrupt-*` byte for byte, every consent purpose unset);
//! in every case `set_consent` + `allows` work afterwards, and a reopen keeps
//! that new decision; and no purpose is ever granted that the original had
//! not granted. An open without recovery whose decisions or ledger differ
//! from the original's is a violation (the ledger check and the head marker
//! exist to catch exactly that); one that differs only in the queue is
//! counted and listed on a line of its own: a truncated WAL that lost the
//! last group commits of events (not fsynced one by one), or damage inside
//! event pages that SQLite reads without complaint (only a full integrity
//! check, too slow for every open, would notice). Queued events are not
//! consent: such an open never grants more.
//! The defects the suite found have deterministic regression tests at the
//! end of this file, named after the guarantees they prove.
//!
//! Sizes: about 550 damaged files normally, ten times that with
//! `CONSENTGATE_SOAK=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use consentgate::{
    ConsentGate, ConsentSource, ConsentState, ConsentStatus, DeletionStatus, GateError,
    ManualClock, PurposeKind, RecordOutcome, UploadResult, UploadTask, DB_FILE,
};
use consentgate_tests::{decide, figures, open_gate, scale, seed, Rng};

/// 2026-01-01T00:00:00Z: the original is written then, damaged copies are
/// opened an hour later (well inside every TTL).
const T0: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;

fn policy() -> String {
    fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/example-kz.json"
    ))
    .expect("example policy")
}

fn open(dir: &Path, now_ms: i64) -> Result<Arc<ConsentGate>, GateError> {
    open_gate(dir, &policy(), "KZ", Arc::new(ManualClock::new(now_ms)))
}

fn record(gate: &ConsentGate, n: usize, tag: &str) {
    for i in 0..n {
        let props = format!(
            r#"{{"i":{i},"tag":"{tag}","screen":"home","pad":"{}"}}"#,
            "x".repeat(i % 90)
        );
        gate.record_event("screen_view".into(), Some(props))
            .expect("record");
    }
}

/// The ledger head marker beside the database.
const HEAD_FILE: &str = "consentgate.db-head";

fn wal(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", path.display()))
}

/// Consent purposes granted in a state.
fn granted(state: &ConsentState) -> BTreeSet<String> {
    state
        .purposes
        .iter()
        .filter(|p| p.kind == PurposeKind::Consent && p.status == ConsentStatus::Granted)
        .map(|p| p.id.clone())
        .collect()
}

fn statuses(state: &ConsentState) -> BTreeMap<String, ConsentStatus> {
    state
        .purposes
        .iter()
        .map(|p| (p.id.clone(), p.status))
        .collect()
}

/// The original store and the by-products captured while it was written.
struct Original {
    _root: tempfile::TempDir,
    /// The closed, checkpointed database file.
    db: Vec<u8>,
    /// A copy taken while the gate ran: database file and WAL.
    live_db: Vec<u8>,
    live_wal: Vec<u8>,
    /// This database's WAL from when advertising was still granted.
    stale_wal: Vec<u8>,
    /// The WAL of another consentgate database where everything is granted.
    other_wal: Vec<u8>,
    /// The WAL of a foreign (non-consentgate) SQLite database.
    foreign_wal: Vec<u8>,
    /// The ledger head marker the closed gate left beside the database.
    head: Vec<u8>,
    granted: BTreeSet<String>,
    statuses: BTreeMap<String, ConsentStatus>,
    ledger_entries: i64,
    events: i64,
}

fn copy_live(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let db = dir.join(DB_FILE);
    (
        fs::read(&db).expect("read db"),
        fs::read(wal(&db)).unwrap_or_default(),
    )
}

fn build_original() -> Original {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("original");
    let gate = open(&dir, T0).expect("open original");
    decide(&gate, "analytics", true).expect("grant analytics");
    decide(&gate, "advertising", true).expect("grant advertising");
    record(&gate, 150, "a");
    gate.persist().expect("persist");
    let (_, stale_wal) = copy_live(&dir);
    assert!(!stale_wal.is_empty(), "the running gate has a WAL");
    for granted in [false, true, false, true, false] {
        decide(&gate, "advertising", granted).expect("toggle advertising");
    }
    record(&gate, 150, "b");
    gate.persist().expect("persist");
    let (live_db, live_wal) = copy_live(&dir);
    let state = gate.consent_state();
    let check = gate.verify_ledger().expect("verify");
    assert!(check.intact);
    let events = gate.queue_stats().events;
    gate.close().expect("close");
    drop(gate);
    let db_path = dir.join(DB_FILE);
    assert!(!wal(&db_path).exists() || fs::metadata(wal(&db_path)).expect("wal").len() == 0);

    // Another installation's database, everything granted.
    let other = root.path().join("other");
    let g = open(&other, T0).expect("open other");
    g.accept_all(ConsentSource::Banner).expect("accept all");
    record(&g, 40, "other");
    g.persist().expect("persist other");
    let (_, other_wal) = copy_live(&other);
    drop(g);

    // A foreign application's database, in WAL mode.
    let foreign = root.path().join("foreign.db");
    let c = rusqlite::Connection::open(&foreign).expect("foreign");
    c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
        .expect("wal");
    c.execute_batch(
        "PRAGMA wal_autocheckpoint=0; CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
         INSERT INTO notes(body) SELECT 'note ' || i FROM n;",
    )
    .expect("foreign rows");
    let foreign_wal = fs::read(wal(&foreign)).expect("foreign wal");
    drop(c);

    Original {
        db: fs::read(&db_path).expect("read original"),
        head: fs::read(dir.join(HEAD_FILE)).expect("the gate leaves a ledger head marker"),
        live_db,
        live_wal,
        stale_wal,
        other_wal,
        foreign_wal,
        granted: granted(&state),
        statuses: statuses(&state),
        ledger_entries: check.entries,
        events,
        _root: root,
    }
}

/// How one damaged store was set up.
enum Damage {
    /// These files in the data directory (name → bytes).
    Files(Vec<(&'static str, Vec<u8>)>),
    /// A directory where the database file should be.
    Directory,
}

struct Case {
    label: String,
    damage: Damage,
}

fn files(db: Vec<u8>) -> Damage {
    Damage::Files(vec![(DB_FILE, db)])
}

fn with_wal(db: Vec<u8>, wal: Vec<u8>) -> Damage {
    Damage::Files(vec![(DB_FILE, db), ("consentgate.db-wal", wal)])
}

fn flip(bytes: &[u8], rng: &mut Rng, lo: usize, hi: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let (lo, hi) = (lo.min(out.len() - 1), hi.clamp(lo + 1, out.len()));
    for _ in 0..1 + rng.below(4) {
        let at = lo + rng.below((hi - lo) as u64) as usize;
        out[at] ^= 1 + rng.below(255) as u8;
    }
    out
}

fn truncate(bytes: &[u8], rng: &mut Rng) -> (usize, Vec<u8>) {
    // Half on page boundaries (a lost tail of whole pages), half anywhere.
    let at = if rng.below(2) == 0 {
        4096 * rng.below((bytes.len() / 4096) as u64) as usize
    } else {
        rng.below(bytes.len() as u64) as usize
    };
    (at, bytes[..at].to_vec())
}

/// A SQLite database made by `sql`, as bytes.
fn sqlite_bytes(sql: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.db");
    let c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch(sql).expect("sql");
    drop(c);
    fs::read(&path).expect("read")
}

/// The original with `sql` applied (journal mode DELETE, so it lands in the file).
fn edited(original: &[u8], sql: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.db");
    fs::write(&path, original).expect("write");
    let c = rusqlite::Connection::open(&path).expect("open");
    c.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get::<_, String>(0))
        .expect("journal mode");
    c.execute_batch(sql).expect("sql");
    drop(c);
    fs::read(&path).expect("read")
}

fn cases(o: &Original, rng: &mut Rng) -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |label: String, damage: Damage| out.push(Case { label, damage });
    let len = o.db.len();

    // Fixed cases.
    add("zero-length file".into(), files(Vec::new()));
    add("directory in its place".into(), Damage::Directory);
    add(
        "only the 16-byte magic".into(),
        files(b"SQLite format 3\0".to_vec()),
    );
    add(
        "the 100-byte header only".into(),
        files(o.db[..100].to_vec()),
    );
    add("first page only".into(), files(o.db[..4096].to_vec()));
    add("all zeros, same length".into(), files(vec![0; len]));
    add(
        "newer user_version (99)".into(),
        files(edited(&o.db, "PRAGMA user_version = 99;")),
    );
    add(
        "user_version 3 on a version-4 file (claims an earlier schema)".into(),
        files(edited(&o.db, "PRAGMA user_version = 3;")),
    );
    add(
        "foreign SQLite db (user_version 0)".into(),
        files(sqlite_bytes("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('a');")),
    );
    add(
        "foreign SQLite db (user_version 2)".into(),
        files(sqlite_bytes(
            "CREATE TABLE notes(id INTEGER PRIMARY KEY); PRAGMA user_version = 2;",
        )),
    );
    add(
        "foreign SQLite db (user_version 1)".into(),
        files(sqlite_bytes(
            "CREATE TABLE notes(id INTEGER PRIMARY KEY); PRAGMA user_version = 1;",
        )),
    );
    add(
        "empty SQLite db (no tables)".into(),
        files(sqlite_bytes("PRAGMA user_version = 0;")),
    );
    add(
        "consentgate schema without the decisions table".into(),
        files(edited(&o.db, "DROP TABLE decisions;")),
    );
    add(
        "consentgate schema without the ledger table".into(),
        files(edited(&o.db, "DROP TABLE ledger;")),
    );
    add(
        "a queue table missing its partition's table".into(),
        files(edited(&o.db, "DROP TABLE events_1;")),
    );
    add(
        "WAL of another consentgate database beside it".into(),
        with_wal(o.db.clone(), o.other_wal.clone()),
    );
    add(
        "WAL of a foreign SQLite database beside it".into(),
        with_wal(o.db.clone(), o.foreign_wal.clone()),
    );
    add(
        "stale WAL of the same database beside it".into(),
        with_wal(o.db.clone(), o.stale_wal.clone()),
    );
    add(
        "copy taken while running (db + WAL), undamaged".into(),
        with_wal(o.live_db.clone(), o.live_wal.clone()),
    );
    let garbage_shm: Vec<u8> = (0..32768).map(|_| rng.below(256) as u8).collect();
    add(
        "-shm garbage beside a clean db".into(),
        Damage::Files(vec![
            (DB_FILE, o.db.clone()),
            ("consentgate.db-shm", garbage_shm.clone()),
        ]),
    );
    add(
        "-shm garbage beside a db + WAL".into(),
        Damage::Files(vec![
            (DB_FILE, o.live_db.clone()),
            ("consentgate.db-wal", o.live_wal.clone()),
            ("consentgate.db-shm", garbage_shm),
        ]),
    );
    add(
        "-shm of zero length beside a db + WAL".into(),
        Damage::Files(vec![
            (DB_FILE, o.live_db.clone()),
            ("consentgate.db-wal", o.live_wal.clone()),
            ("consentgate.db-shm", Vec::new()),
        ]),
    );

    add(
        "ledger head marker damaged beside a clean db".into(),
        Damage::Files(vec![
            (DB_FILE, o.db.clone()),
            (HEAD_FILE, b"consentgate ledger head 1\n12 zz".to_vec()),
        ]),
    );
    add(
        "ledger head marker ahead of the db (an old copy restored)".into(),
        Damage::Files(vec![
            (DB_FILE, o.db.clone()),
            (
                HEAD_FILE,
                format!(
                    "consentgate ledger head 1\n{} {}\n",
                    o.ledger_entries + 3,
                    "ab".repeat(32)
                )
                .into_bytes(),
            ),
        ]),
    );
    add(
        "database file missing, ledger head marker present".into(),
        Damage::Files(vec![(HEAD_FILE, o.head.clone())]),
    );

    // Seeded cases.
    for _ in 0..scale(120, 1200) {
        let (at, bytes) = truncate(&o.db, rng);
        add(format!("truncated at {at} of {len}"), files(bytes));
    }
    let regions = [
        ("header", 0, 100),
        ("first page", 100, 4096),
        ("middle", len / 4, 3 * len / 4),
        ("near the end", len.saturating_sub(4096), len),
        ("anywhere", 0, len),
    ];
    for i in 0..scale(300, 3000) {
        let (name, lo, hi) = regions[i % regions.len()];
        let bytes = flip(&o.db, rng, lo, hi);
        add(format!("bytes flipped in the {name}"), files(bytes));
    }
    for i in 0..scale(80, 800) {
        let label;
        let damage = match i % 4 {
            0 => {
                let (at, w) = truncate(&o.live_wal, rng);
                label = format!("running copy, WAL truncated at {at}");
                with_wal(o.live_db.clone(), w)
            }
            1 => {
                label = "running copy, bytes flipped in the WAL".into();
                with_wal(
                    o.live_db.clone(),
                    flip(&o.live_wal, rng, 0, o.live_wal.len()),
                )
            }
            2 => {
                label = "running copy, bytes flipped in the db file".into();
                with_wal(
                    flip(&o.live_db, rng, 0, o.live_db.len()),
                    o.live_wal.clone(),
                )
            }
            _ => {
                let (at, d) = truncate(&o.live_db, rng);
                label = format!("running copy, db truncated at {at}");
                with_wal(d, o.live_wal.clone())
            }
        };
        add(label, damage);
    }
    for _ in 0..scale(20, 200) {
        let n = rng.below(3 * 4096) as usize;
        let bytes: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
        add(format!("{n} random bytes"), files(bytes));
    }
    out
}

#[derive(Default)]
struct Tally {
    damaged: usize,
    recovered: usize,
    intact: usize,
    /// Opened without recovery and not intact, by what differed.
    unnoticed: BTreeMap<String, (usize, String)>,
    violations: Vec<String>,
}

/// Panics on any thread since the suite started.
static PANICS: AtomicUsize = AtomicUsize::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

fn count_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
        previous(info);
    }));
}

/// Lays out a damaged data directory. Unless the damage names it, the
/// original's ledger head marker is put beside the files, as the app left
/// it: the damage is to the database and its WAL, not to the marker.
fn set_up(dir: &Path, damage: &Damage, head: &[u8]) {
    fs::create_dir_all(dir).expect("data dir");
    match damage {
        Damage::Directory => {
            fs::create_dir(dir.join(DB_FILE)).expect("dir");
            fs::write(dir.join(DB_FILE).join("inside"), b"x").expect("file inside");
        }
        Damage::Files(files) => {
            for (name, bytes) in files {
                fs::write(dir.join(name), bytes).expect("write damaged file");
            }
        }
    }
    let names_head = matches!(damage, Damage::Files(f) if f.iter().any(|(n, _)| *n == HEAD_FILE));
    if !names_head && !head.is_empty() {
        fs::write(dir.join(HEAD_FILE), head).expect("write the head marker");
    }
}

/// Header bytes SQLite rewrites when the core switches a file to WAL before
/// it reads `user_version`: journal mode (18-19) and the change counters
/// bumped with it (24-27, 92-95). See `g7_foreign_database_is_set_aside_unmodified`.
const HEADER_BYTES_SQLITE_REWRITES: [usize; 10] = [18, 19, 24, 25, 26, 27, 92, 93, 94, 95];

/// The file kept aside holds what was damaged, byte for byte but for
/// [`HEADER_BYTES_SQLITE_REWRITES`]. With a WAL beside the file, SQLite may
/// have checkpointed it into the file before the core gave up on it; then
/// only its presence is checked.
fn kept_aside(damaged: &[u8], files: usize, moved: &Path) -> bool {
    let Ok(kept) = fs::read(moved) else {
        return false;
    };
    if files > 1 {
        return true;
    }
    kept.len() == damaged.len()
        && kept
            .iter()
            .zip(damaged)
            .enumerate()
            .all(|(i, (a, b))| a == b || HEADER_BYTES_SQLITE_REWRITES.contains(&i))
}

/// Opens one damaged store and checks every promise; returns the outcome
/// ("recovered", "intact" or what differed) or a violation.
fn check(o: &Original, dir: &Path, damage: &Damage) -> Result<String, String> {
    set_up(dir, damage, &o.head);
    let now = T0 + HOUR;
    let panics_before = PANICS.load(Ordering::SeqCst);
    let opened = catch_unwind(AssertUnwindSafe(|| open(dir, now)));
    let gate = match opened {
        Err(_) => {
            return Err(format!(
                "open panicked: {}",
                LAST_PANIC.lock().expect("lock")
            ))
        }
        Ok(Err(e)) => return Err(format!("open failed: {e}")),
        Ok(Ok(g)) => g,
    };
    let state = gate.consent_state();
    let extra: Vec<_> = granted(&state).difference(&o.granted).cloned().collect();
    if !extra.is_empty() {
        return Err(format!(
            "grants {extra:?}, which the original had not granted"
        ));
    }
    if gate.allows_str("advertising_id") || gate.allows_str("no_such_category") {
        return Err("allows a category whose purpose was not granted".into());
    }
    let outcome = match &state.store_recovery {
        Some(r) => {
            if r.reason.is_empty() {
                return Err("store_recovery without a reason".into());
            }
            let moved = PathBuf::from(&r.moved_to);
            let name = moved.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.starts_with("consentgate.db.corrupt-") || moved.parent() != Some(dir) {
                return Err(format!(
                    "damaged file kept aside under an unexpected name: {}",
                    r.moved_to
                ));
            }
            match damage {
                Damage::Directory if !moved.is_dir() => {
                    return Err("the directory was not kept aside".into())
                }
                Damage::Files(files) if !kept_aside(&files[0].1, files.len(), &moved) => {
                    return Err("the damaged file was not kept aside byte for byte".into())
                }
                _ => {}
            }
            if state
                .purposes
                .iter()
                .any(|p| p.kind == PurposeKind::Consent && p.status != ConsentStatus::Unset)
                || !state.needs_prompt
                || gate.allows_str("usage_events")
            {
                return Err(
                    "recovered store is not fail-closed (a consent purpose is decided)".into(),
                );
            }
            "recovered".to_string()
        }
        None => {
            let mut diff = Vec::new();
            if statuses(&state) != o.statuses {
                diff.push("decisions");
            }
            match gate.verify_ledger() {
                Ok(c) if c.intact && c.entries == o.ledger_entries => {}
                Ok(c) if c.intact => diff.push("ledger shorter"),
                Ok(_) => diff.push("ledger broken"),
                Err(_) => diff.push("ledger unreadable"),
            }
            if gate.queue_stats().events != o.events {
                diff.push("queue");
            }
            if diff.is_empty() {
                "intact".to_string()
            } else if diff == ["queue"] {
                "queue".to_string()
            } else {
                return Err(format!(
                    "opened without recovery, but its {} differ from the original's",
                    diff.join(" + ")
                ));
            }
        }
    };
    // Whatever happened, the app can go on deciding and the gate obeys.
    decide(&gate, "analytics", false)
        .map_err(|e| format!("set_consent(deny) failed afterwards: {e}"))?;
    if gate.allows_str("usage_events") {
        return Err("allows usage_events after analytics was denied".into());
    }
    decide(&gate, "analytics", true)
        .map_err(|e| format!("set_consent(grant) failed afterwards: {e}"))?;
    if !gate.allows_str("usage_events") || gate.allows_str("advertising_id") {
        return Err("allows() does not follow the decision just made".into());
    }
    match gate.record_event("after_damage".into(), None) {
        Ok(RecordOutcome::Recorded { .. }) => {}
        other => return Err(format!("record_event afterwards: {other:?}")),
    }
    drop(gate);
    // And the new decision survives a restart.
    let again = catch_unwind(AssertUnwindSafe(|| open(dir, now + 1)));
    match again {
        Ok(Ok(g)) => {
            let s = g.consent_state();
            // Damage that only surfaced once the store was written again may
            // set the file aside at this reopen: fail-closed and reported
            // (nothing granted, store_recovery set), the decision kept in the
            // file set aside. Anything else must still hold the decision.
            let recovered_fail_closed = s.store_recovery.is_some() && granted(&s).is_empty();
            if s.status_of("analytics") != Some(ConsentStatus::Granted) && !recovered_fail_closed {
                return Err(format!(
                    "the decision made after the damage was lost at reopen (analytics {:?})",
                    s.status_of("analytics")
                ));
            }
            if !granted(&s).is_subset(&o.granted) {
                return Err("reopen grants a purpose the original had not granted".into());
            }
        }
        Ok(Err(e)) => return Err(format!("reopen failed: {e}")),
        Err(_) => return Err("reopen panicked".into()),
    }
    if PANICS.load(Ordering::SeqCst) != panics_before {
        return Err(format!(
            "a thread panicked: {}",
            LAST_PANIC.lock().expect("lock")
        ));
    }
    Ok(outcome)
}

/// The header's `user_version` (big-endian i32 at offset 60).
fn user_version(db: &[u8]) -> i32 {
    db.get(60..64)
        .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Lays the damaged files of a failing case out again under
/// `target/tmp/corruption-failures/case-<i>`, as they were before the open,
/// and returns where. The seed replays the same damage, but the original
/// store is rebuilt on every run (a new installation id, and the writer
/// thread's commits may place pages differently), so these files are what
/// reproduces the case exactly: copy them into a data directory and open it.
fn keep_failing_case(i: usize, case: &Case, head: &[u8]) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("corruption-failures")
        .join(format!("case-{i}"));
    let _ = fs::remove_dir_all(&dir);
    set_up(&dir, &case.damage, head);
    dir.display().to_string()
}

#[test]
fn g1_g7_damaged_store_opens_fail_closed_or_intact() {
    count_panics();
    let seed = seed();
    println!("corruption: seed {seed} (replay with CONSENTGATE_SEED={seed})");
    let mut rng = Rng::new(seed);
    let o = build_original();
    let work = tempfile::tempdir().expect("tempdir");
    let mut t = Tally::default();
    for (i, case) in cases(&o, &mut rng).into_iter().enumerate() {
        let dir = work.path().join(format!("case-{i}"));
        t.damaged += 1;
        let started = std::time::Instant::now();
        let result = check(&o, &dir, &case.damage);
        let took = started.elapsed();
        if took > std::time::Duration::from_secs(2) {
            println!(
                "corruption: slow case ({} ms): {}",
                took.as_millis(),
                case.label
            );
        }
        match result {
            Ok(outcome) if outcome == "recovered" => t.recovered += 1,
            Ok(outcome) if outcome == "intact" => t.intact += 1,
            Ok(outcome) => {
                t.unnoticed
                    .entry(outcome)
                    .or_insert((0, case.label.clone()))
                    .0 += 1
            }
            Err(v) => {
                let kept = keep_failing_case(i, &case, &o.head);
                println!(
                    "VIOLATION [{}]: {v} (damaged files kept in {kept})",
                    case.label
                );
                t.violations.push(format!("{}: {v}", case.label));
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
    for (what, (n, example)) in &t.unnoticed {
        println!("corruption: {n} opened without recovery, differing in: {what} (e.g. {example})");
    }
    figures(
        "corruption",
        &format!(
            "{} damaged files, {} recovered, {} opened intact, {} intact but for queued events",
            t.damaged,
            t.recovered,
            t.intact,
            t.unnoticed.get("queue").map_or(0, |(n, _)| *n)
        ),
        t.violations.len(),
    );
    assert!(t.violations.is_empty(), "violations: {:#?}", t.violations);
}

// ---------------------------------------------------------------------------
// Regression tests for the defects the suite found, one damage each, made
// deterministically.

/// Opens `damage` in a fresh data directory (an hour after the original),
/// beside the original's head marker (`head`, none when empty).
fn open_damaged(
    head: &[u8],
    damage: &Damage,
) -> (tempfile::TempDir, Result<Arc<ConsentGate>, GateError>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("app");
    set_up(&dir, damage, head);
    let gate = open(&dir, T0 + HOUR);
    (tmp, gate)
}

fn with_header_byte(db: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut out = db.to_vec();
    out[at] = value;
    out
}

fn assert_opens_fail_closed_or_intact(o: &Original, damage: Damage) {
    let (_tmp, gate) = open_damaged(&o.head, &damage);
    let gate = gate.expect("a damaged store must open (fail-closed), not fail");
    let state = gate.consent_state();
    assert!(
        granted(&state).is_subset(&o.granted),
        "grants more than the original: {state:?}"
    );
    if state.store_recovery.is_none() {
        assert_eq!(statuses(&state), o.statuses, "neither recovered nor intact");
        assert!(
            gate.verify_ledger().expect("verify").intact,
            "neither recovered nor intact"
        );
    }
}

#[test]
fn g1_g7_foreign_database_with_a_user_version_opens_fail_closed_or_intact() {
    let o = build_original();
    let foreign =
        sqlite_bytes("CREATE TABLE notes(id INTEGER PRIMARY KEY); PRAGMA user_version = 2;");
    assert_opens_fail_closed_or_intact(&o, files(foreign));
}

#[test]
fn g1_g7_store_missing_a_table_opens_fail_closed_or_intact() {
    let o = build_original();
    assert_opens_fail_closed_or_intact(&o, files(edited(&o.db, "DROP TABLE events_1;")));
}

#[test]
fn g1_g7_invalid_header_field_opens_fail_closed_or_intact() {
    let o = build_original();
    assert_opens_fail_closed_or_intact(&o, files(with_header_byte(&o.db, 47, 5)));
}

#[test]
fn g1_g7_lowered_user_version_opens_fail_closed_or_intact() {
    let o = build_original();
    assert_opens_fail_closed_or_intact(&o, files(edited(&o.db, "PRAGMA user_version = 1;")));
}

#[test]
fn g1_g7_withdrawal_works_on_a_store_sqlite_opens_read_only() {
    let o = build_original();
    let (_tmp, gate) = open_damaged(&o.head, &files(with_header_byte(&o.db, 18, 3)));
    let gate = gate.expect("open");
    assert!(gate.allows_str("usage_events") || gate.consent_state().store_recovery.is_some());
    let denied = decide(&gate, "analytics", false);
    assert!(
        denied.is_ok() || gate.consent_state().store_recovery.is_some(),
        "the user cannot withdraw: {denied:?}"
    );
    assert!(
        !gate.allows_str("usage_events"),
        "analytics still allowed after the withdrawal"
    );
}

#[test]
fn g1_g7_withdrawal_works_on_a_store_with_a_damaged_schema() {
    let o = build_original();
    let damaged = edited(
        &o.db,
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = replace(sql, 'policy_hash', 'policy_hasX') WHERE name = 'ledger';
         PRAGMA writable_schema = OFF;",
    );
    let (_tmp, gate) = open_damaged(&o.head, &files(damaged));
    let gate = gate.expect("open");
    let denied = decide(&gate, "analytics", false);
    assert!(denied.is_ok(), "the user cannot withdraw: {denied:?}");
    assert!(!gate.allows_str("usage_events"));
}

/// `bytes` with the header of table `table`'s root page damaged: its first
/// freeblock pointing past the end of the page. SQLite reads such a page
/// normally and notices only when a cell on it is removed or resized.
fn with_bad_freeblock(bytes: &[u8], table: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.db");
    fs::write(&path, bytes).expect("write");
    let root: i64 = rusqlite::Connection::open(&path)
        .expect("open")
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .expect("root page");
    let at = (root as usize - 1) * 4096;
    let mut out = bytes.to_vec();
    out[at + 1..at + 3].copy_from_slice(&[0xff, 0xff]);
    out
}

#[test]
fn g1_g6_g7_withdrawal_works_when_damage_is_found_only_on_write() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("app");
    let gate = open(&dir, T0).expect("open");
    // A deletion request the backend acknowledged: its receipt must stay.
    let ticket = gate.request_deletion(None).expect("deletion request");
    let UploadTask::Upload { request } = gate.next_upload().expect("next") else {
        panic!("the deletion request goes out first")
    };
    gate.complete_upload(
        request.request_id,
        UploadResult::Http {
            status: 200,
            retry_after_s: None,
            body: Some(r#"{"receipt_id":"r-1","status":"completed"}"#.into()),
        },
    )
    .expect("acknowledged");
    decide(&gate, "analytics", true).expect("grant");
    record(&gate, 20, "a");
    gate.close().expect("close");
    drop(gate);
    let path = dir.join(DB_FILE);
    let db = with_bad_freeblock(&fs::read(&path).expect("read"), "decisions");
    fs::write(&path, &db).expect("write");

    let gate = open(&dir, T0 + HOUR).expect("open the damaged store");
    assert!(
        gate.consent_state().store_recovery.is_none() && gate.allows_str("usage_events"),
        "the damage must only show on write for this test to mean anything"
    );
    let state = decide(&gate, "analytics", false).expect("the user can withdraw");
    assert!(!gate.allows_str("usage_events"));
    assert_eq!(state.status_of("analytics"), Some(ConsentStatus::Denied));
    let r = state.store_recovery.expect("the damaged store is reported");
    assert!(r.reason.contains("while writing"), "{}", r.reason);
    assert!(
        Path::new(&r.moved_to).is_file(),
        "kept aside: {}",
        r.moved_to
    );
    assert!(granted(&gate.consent_state()).is_empty(), "not fail-closed");
    assert_eq!(
        gate.queue_stats().events,
        0,
        "the damaged store's queue went with it"
    );
    let receipt_kept = |g: &ConsentGate| {
        g.deletion_requests().iter().any(|t| {
            t.request_id == ticket.request_id
                && matches!(&t.status, DeletionStatus::Acknowledged { receipt_id, .. } if receipt_id == "r-1")
        })
    };
    assert!(
        receipt_kept(&gate),
        "the deletion receipt was lost with the damaged store"
    );
    drop(gate);

    let gate = open(&dir, T0 + HOUR + 1).expect("reopen");
    let state = gate.consent_state();
    assert_eq!(state.status_of("analytics"), Some(ConsentStatus::Denied));
    assert!(state.store_recovery.is_some());
    assert!(receipt_kept(&gate));
}

#[test]
fn g4_stale_wal_does_not_bring_back_a_withdrawn_grant() {
    let o = build_original();
    let (_tmp, gate) = open_damaged(&o.head, &with_wal(o.db.clone(), o.stale_wal.clone()));
    let gate = gate.expect("open");
    assert!(
        !gate.allows_str("advertising_id"),
        "advertising was withdrawn, a stale WAL granted it again: {:?}",
        gate.consent_state()
    );
}

#[test]
fn g1_g4_foreign_wal_does_not_import_grants() {
    let o = build_original();
    let (_tmp, gate) = open_damaged(&o.head, &with_wal(o.db.clone(), o.other_wal.clone()));
    let gate = gate.expect("open");
    let state = gate.consent_state();
    assert!(
        granted(&state).is_subset(&o.granted),
        "grants from another database: {:?}",
        granted(&state)
    );
}

#[test]
fn g5_altered_ledger_is_noticed_at_open() {
    let o = build_original();
    let damaged = edited(&o.db, "UPDATE ledger SET at_ms = at_ms + 1 WHERE seq = 2;");
    let (_tmp, gate) = open_damaged(&o.head, &files(damaged));
    let gate = gate.expect("open");
    let check = gate.verify_ledger().expect("verify");
    assert!(
        check.intact || gate.consent_state().store_recovery.is_some(),
        "opened without recovery on a broken chain: {check:?}"
    );
}

#[test]
fn g7_foreign_database_is_set_aside_unmodified() {
    let foreign = sqlite_bytes("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('a');");
    let (_tmp, gate) = open_damaged(&[], &files(foreign.clone()));
    let gate = gate.expect("open");
    let r = gate.consent_state().store_recovery.expect("recovered");
    assert_eq!(
        fs::read(&r.moved_to).expect("kept aside"),
        foreign,
        "the foreign file was modified"
    );
}

#[test]
fn g1_g7_negative_user_version_opens_quickly() {
    let o = build_original();
    let damaged = edited(&o.db, "PRAGMA user_version = -2147483000;");
    assert!(user_version(&damaged) < 0);
    let started = std::time::Instant::now();
    let (_tmp, gate) = open_damaged(&o.head, &files(damaged));
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(2),
        "open took {took:?}"
    );
    let gate = gate.expect("open");
    assert!(
        gate.consent_state().store_recovery.is_some(),
        "not recovered"
    );
}
