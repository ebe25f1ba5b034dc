//! Full and read-only disks (G4, G7): the store fails under the gate, and the
//! gate keeps its promises.
//!
//! How the faults are made, given that this suite may run as root (to whom
//! permission bits mean nothing) or not, with or without `mount`:
//!
//! - **Full disk, `RLIMIT_FSIZE`** (always runs). A child process (this test
//!   binary re-run with `CG_DISK_CHILD=full`) opens a gate, then repeatedly
//!   lowers its own soft file-size limit with `setrlimit` (SIGXFSZ ignored, so
//!   `write` fails with `EFBIG`, which SQLite reports like a full disk: every
//!   write at or past the limit fails, also inside existing files) and raises
//!   it again: space runs out and comes back while the gate is open. A limit
//!   is per process, which is why this runs in a child and not beside the
//!   other tests' threads. A further child opens the store with the limit
//!   already down (the app starts on a full disk).
//! - **Full disk, a small tmpfs** (runs when `mount -t tmpfs` works, i.e. as
//!   root with CAP_SYS_ADMIN; skipped with a note otherwise). The store lives
//!   on a 32 MiB tmpfs; a filler file takes every free block and is deleted
//!   again: a real `ENOSPC`.
//! - **Read-only data directory** (always runs). The parent prepares a store
//!   and makes the directory 0555 and the files 0444, owned by root; the
//!   child drops to uid/gid 65534 (nobody) before opening, so the bits bind
//!   (a non-root run needs no drop). Two variants: nothing but the database
//!   file (SQLite cannot create its WAL: open must fail cleanly), and the
//!   state a crash or a restore leaves, with writable `-wal`/`-shm` files
//!   beside a read-only database (SQLite opens it read-only: every write
//!   fails while reads work).
//!
//! Checked for every operation under a fault: `set_consent`, `set_age` and
//! `request_deletion` return `GateError::Storage` and the consent state,
//! `allows()` and the deletion tickets are exactly as before; `record_event`
//! never panics or errs (it buffers; the writer thread's group commit fails
//! and is retried); `persist()` returns `Storage`. After space returns (or
//! permissions are restored, or in a new process), every decision made before
//! the fault is there, nothing recorded is lost, the ledger verifies, and
//! recording and persisting work. No panic on any thread.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use consentgate::{
    AgeSignal, ConsentGate, ConsentState, ConsentStatus, GateError, ManualClock, RecordOutcome,
    DB_FILE,
};
use consentgate_tests::{decide, figures, open_gate, scale, seed, Rng};

const T0: i64 = 1_767_225_600_000;
const PURPOSES: [&str; 3] = ["analytics", "advertising", "cross_border_transfer"];

fn policy() -> String {
    fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/example-kz.json"
    ))
    .expect("example policy")
}

fn open(dir: &Path) -> Result<Arc<ConsentGate>, GateError> {
    // A clock that stands still: no maintenance write starts on its own.
    open_gate(dir, &policy(), "KZ", Arc::new(ManualClock::new(T0)))
}

/// What the user decided, by purpose: the model every check compares with.
type Model = BTreeMap<String, bool>;

fn model_of(state: &ConsentState) -> Model {
    PURPOSES
        .iter()
        .map(|p| {
            (
                p.to_string(),
                state.status_of(p) == Some(ConsentStatus::Granted),
            )
        })
        .collect()
}

fn model_line(m: &Model) -> String {
    m.iter()
        .map(|(p, g)| format!("{p}={}", if *g { "granted" } else { "denied" }))
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_model(line: &str) -> Model {
    line.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v == "granted"))
        .collect()
}

/// What the checks found; printed by children as `FAULT`/`VIOLATION` lines.
#[derive(Default)]
struct Tally {
    faults: usize,
    violations: Vec<String>,
    /// Distinct `Storage` messages seen (what the app is told).
    messages: std::collections::BTreeSet<String>,
}

impl Tally {
    fn violation(&mut self, v: String) {
        println!("VIOLATION {v}");
        self.violations.push(v);
    }

    /// One operation under a fault that must fail with `Storage`.
    fn expect_storage<T: std::fmt::Debug>(&mut self, what: &str, r: &Result<T, GateError>) -> bool {
        match r {
            Err(GateError::Storage { message }) if !message.is_empty() => {
                self.faults += 1;
                if self.messages.insert(message.clone()) {
                    println!("NOTE {what} -> Storage: {message}");
                }
                true
            }
            other => {
                self.violation(format!(
                    "{what} under a fault: expected Storage, got {other:?}"
                ));
                false
            }
        }
    }
}

fn allows_all(gate: &ConsentGate) -> [bool; 3] {
    ["usage_events", "advertising_id", "device_info"].map(|c| gate.allows_str(c))
}

/// Records `n` events; every call must return Ok. Returns how many were queued.
fn record(gate: &ConsentGate, n: usize, t: &mut Tally, tag: &str) -> i64 {
    let mut queued = 0;
    for i in 0..n {
        match gate.record_event(
            "disk_fault".into(),
            Some(format!(
                r#"{{"i":{i},"tag":"{tag}","pad":"{}"}}"#,
                "y".repeat(i % 200)
            )),
        ) {
            Ok(RecordOutcome::Recorded { .. }) => queued += 1,
            Ok(RecordOutcome::Dropped { .. }) => {}
            Err(e) => {
                t.violation(format!("record_event {tag}: {e}"));
                return queued;
            }
        }
    }
    queued
}

/// How one kind of fault is switched on and off.
trait Fault {
    fn on(&mut self, rng: &mut Rng);
    fn off(&mut self);
}

/// Random operations with the fault on, then checks with it off. `model`
/// and `queued` track what must be true; they change only through calls that
/// returned Ok.
fn fault_rounds(
    gate: &ConsentGate,
    fault: &mut dyn Fault,
    rounds: usize,
    rng: &mut Rng,
    model: &mut Model,
    queued: &mut i64,
    t: &mut Tally,
) {
    let mut evicted_seen = gate.queue_stats().evicted;
    for round in 0..rounds {
        let state_before = gate.consent_state();
        let allows_before = allows_all(gate);
        let tickets_before = gate.deletion_requests().len();
        let id_before = gate.installation_id();
        fault.on(rng);

        // A decision: flip one purpose.
        let purpose = PURPOSES[rng.below(PURPOSES.len() as u64) as usize];
        let to = !model[purpose];
        let r = decide(gate, purpose, to);
        match &r {
            Ok(s) => {
                // The write fitted (e.g. into WAL space already allocated).
                if s.status_of(purpose)
                    != Some(if to {
                        ConsentStatus::Granted
                    } else {
                        ConsentStatus::Denied
                    })
                {
                    t.violation(format!(
                        "round {round}: set_consent Ok but {purpose} not changed"
                    ));
                }
                model.insert(purpose.to_string(), to);
                if purpose == "analytics" && !to {
                    *queued = 0;
                }
            }
            Err(_) => {
                if t.expect_storage("set_consent", &r) {
                    let after = gate.consent_state();
                    if after.purposes != state_before.purposes
                        || after.allowed_categories != state_before.allowed_categories
                    {
                        t.violation(format!(
                            "round {round}: a failed set_consent changed the consent state"
                        ));
                    }
                    if allows_all(gate) != allows_before {
                        t.violation(format!(
                            "round {round}: a failed set_consent changed allows()"
                        ));
                    }
                }
            }
        }

        // Events: buffered, never an error, whatever the disk.
        *queued += record(gate, 1 + rng.below(300) as usize, t, "under fault");

        match rng.below(4) {
            0 => {
                // Let the writer thread's group commit run (and fail) on its own.
                std::thread::sleep(Duration::from_millis(1100));
            }
            1 => {
                let before = gate.consent_state();
                let r = gate.set_age(AgeSignal {
                    age_years: Some(15),
                    parental_consent: false,
                });
                match r {
                    Ok(_) => {
                        // It fitted: the age gate denied every consent purpose. Undo for the model.
                        for p in PURPOSES {
                            model.insert(p.to_string(), false);
                        }
                        *queued = 0;
                        fault.off();
                        if let Err(e) = gate.set_age(AgeSignal {
                            age_years: Some(30),
                            parental_consent: false,
                        }) {
                            t.violation(format!(
                                "set_age back to adult failed without a fault: {e}"
                            ));
                        }
                        fault.on(rng);
                    }
                    Err(_) => {
                        if t.expect_storage("set_age", &r)
                            && gate.consent_state().purposes != before.purposes
                        {
                            t.violation("a failed set_age changed the consent state".into());
                        }
                    }
                }
            }
            2 => {
                let before = gate.consent_state();
                let r = gate.request_deletion(Some("disk fault test".into()));
                match r {
                    Ok(_) => {
                        // It fitted; a deletion denies every purpose and empties the queue.
                        for p in PURPOSES {
                            model.insert(p.to_string(), false);
                        }
                        *queued = 0;
                    }
                    Err(_) => {
                        if t.expect_storage("request_deletion", &r)
                            && (gate.deletion_requests().len() != tickets_before
                                || gate.installation_id() != id_before
                                || gate.consent_state().purposes != before.purposes)
                        {
                            t.violation("a failed request_deletion left a trace".into());
                        }
                    }
                }
            }
            _ => {}
        }

        let p = gate.persist();
        if p.is_err() {
            t.expect_storage("persist", &p);
        }

        fault.off();
        // Space is back: everything goes through again.
        if let Err(e) = gate.persist() {
            t.violation(format!("round {round}: persist after the fault: {e}"));
        }
        let stats = gate.queue_stats();
        // The queue bound (G8) evicts oldest first, and counts it.
        *queued = queued.saturating_sub(stats.evicted - evicted_seen);
        evicted_seen = stats.evicted;
        if stats.events != *queued {
            t.violation(format!(
                "round {round}: {} events queued, {} expected (a record was lost or kept after a purge)",
                stats.events, queued
            ));
            *queued = stats.events;
        }
        if model_of(&gate.consent_state()) != *model {
            t.violation(format!(
                "round {round}: consent state differs from the decisions that returned Ok"
            ));
        }
        // Keep analytics granted most of the time, so events are queued.
        if !model["analytics"] && rng.below(2) == 0 {
            match decide(gate, "analytics", true) {
                Ok(_) => {
                    model.insert("analytics".into(), true);
                }
                Err(e) => t.violation(format!("round {round}: set_consent without a fault: {e}")),
            }
        }
    }
}

/// After the faults: a fresh open sees every decision and every event.
fn check_reopen(dir: &Path, model: &Model, queued: Option<i64>, t: &mut Tally, when: &str) {
    match open(dir) {
        Ok(gate) => {
            if model_of(&gate.consent_state()) != *model {
                t.violation(format!(
                    "{when}: decisions differ after reopen: {} vs {}",
                    model_line(&model_of(&gate.consent_state())),
                    model_line(model)
                ));
            }
            match gate.verify_ledger() {
                Ok(c) if c.intact => {}
                other => t.violation(format!("{when}: ledger does not verify: {other:?}")),
            }
            if let Some(q) = queued {
                if gate.queue_stats().events != q {
                    t.violation(format!(
                        "{when}: {} events on disk, {q} expected",
                        gate.queue_stats().events
                    ));
                }
            }
            let analytics = model["analytics"];
            if gate.allows_str("usage_events") != analytics {
                t.violation(format!(
                    "{when}: allows(usage_events) does not match the decision"
                ));
            }
            if let Err(e) = decide(&gate, "analytics", true) {
                t.violation(format!("{when}: set_consent after recovery: {e}"));
            }
            record(&gate, 5, t, "after recovery");
            if let Err(e) = gate.persist() {
                t.violation(format!("{when}: persist after recovery: {e}"));
            }
            // Leave the store as the model says, for the next stage.
            if let Err(e) = decide(&gate, "analytics", analytics) {
                t.violation(format!("{when}: set_consent after recovery: {e}"));
            }
        }
        Err(e) => t.violation(format!("{when}: reopen failed: {e}")),
    }
}

/// Panics on any thread (a child's writer thread included).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        println!("VIOLATION panic: {info}");
        previous(info);
    }));
}

// ---------------------------------------------------------------------------
// Full disk through RLIMIT_FSIZE, in a child process.

struct FsizeLimit {
    original: libc::rlimit,
}

impl FsizeLimit {
    fn new() -> FsizeLimit {
        // SAFETY: plain libc calls with valid pointers; SIG_IGN for SIGXFSZ
        // makes an over-limit write return EFBIG instead of killing us.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let mut original = std::mem::zeroed::<libc::rlimit>();
            assert_eq!(
                libc::getrlimit(libc::RLIMIT_FSIZE, &mut original),
                0,
                "getrlimit"
            );
            FsizeLimit { original }
        }
    }

    fn set(&self, bytes: libc::rlim_t) {
        let r = libc::rlimit {
            rlim_cur: bytes.min(self.original.rlim_max),
            rlim_max: self.original.rlim_max,
        };
        // SAFETY: a valid rlimit for this process only.
        assert_eq!(
            unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &r) },
            0,
            "setrlimit"
        );
    }
}

impl Fault for FsizeLimit {
    fn on(&mut self, rng: &mut Rng) {
        // 0: no write lands at all; small limits: the first pages of each
        // file are writable, a WAL append is not (or only partly).
        let limit: libc::rlim_t = [0, 512, 4096, 65536][rng.below(4) as usize];
        self.set(limit);
    }

    fn off(&mut self) {
        // SAFETY: restoring the limit the process started with.
        assert_eq!(
            unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &self.original) },
            0
        );
    }
}

/// The child side: `CG_DISK_CHILD` says which scenario, `CG_DISK_DIR` where.
#[test]
#[ignore = "child half of the disk-fault tests; run by them with --ignored"]
fn disk_child() {
    let Ok(scenario) = std::env::var("CG_DISK_CHILD") else {
        return;
    };
    // libtest has printed "test disk_child ... " without a newline.
    println!();
    count_panics();
    let dir = PathBuf::from(std::env::var("CG_DISK_DIR").expect("CG_DISK_DIR"));
    let mut rng = Rng::new(
        std::env::var("CG_DISK_SEED")
            .expect("seed")
            .parse()
            .expect("seed"),
    );
    let mut t = Tally::default();
    match scenario.as_str() {
        "full" => {
            let mut limit = FsizeLimit::new();
            let gate = open(&dir).expect("open before the fault");
            decide(&gate, "analytics", true).expect("grant analytics");
            let mut model = model_of(&gate.consent_state());
            let mut queued = record(&gate, 50, &mut t, "before");
            gate.persist().expect("persist before the fault");
            let rounds: usize = std::env::var("CG_DISK_ROUNDS")
                .expect("rounds")
                .parse()
                .expect("rounds");
            fault_rounds(
                &gate,
                &mut limit,
                rounds,
                &mut rng,
                &mut model,
                &mut queued,
                &mut t,
            );
            gate.close().expect("close");
            drop(gate);
            check_reopen(
                &dir,
                &model,
                Some(queued),
                &mut t,
                "same process, space back",
            );
            println!("MODEL {}", model_line(&model));
        }
        "full-at-open" => {
            let limit = FsizeLimit::new();
            limit.set(0);
            match std::panic::catch_unwind(|| open(&dir)) {
                Err(_) => t.violation("open on a full disk panicked".into()),
                Ok(Err(GateError::Storage { message })) => {
                    println!("NOTE open on a full disk failed with Storage: {message}");
                    t.faults += 1
                }
                Ok(Err(e)) => {
                    t.violation(format!("open on a full disk: expected Storage, got {e}"))
                }
                Ok(Ok(gate)) => {
                    println!("NOTE opened on a full disk");
                    let before = gate.consent_state();
                    let r = decide(&gate, "advertising", true);
                    if t.expect_storage("set_consent", &r) && gate.consent_state() != before {
                        t.violation("a failed set_consent changed the state".into());
                    }
                    record(&gate, 20, &mut t, "full at open");
                    let p = gate.persist();
                    t.expect_storage("persist", &p);
                    drop(gate); // the final commit fails and is logged
                }
            }
        }
        "readonly" if !drop_privileges() => {
            println!("NOTE skipped: cannot drop root privileges to uid 65534 here");
        }
        "readonly" => match std::panic::catch_unwind(|| open(&dir)) {
            Err(_) => t.violation("open of a read-only store panicked".into()),
            Ok(Err(GateError::Storage { message })) => {
                t.faults += 1;
                println!("NOTE open failed with Storage: {message}");
            }
            Ok(Err(e)) => t.violation(format!("open read-only: expected Storage, got {e}")),
            Ok(Ok(gate)) => {
                println!("NOTE opened read-only");
                let model = parse_model(&std::env::var("CG_DISK_MODEL").expect("model"));
                if model_of(&gate.consent_state()) != model {
                    t.violation("a read-only store shows other decisions than stored".into());
                }
                for purpose in PURPOSES {
                    let before = gate.consent_state();
                    let allows = allows_all(&gate);
                    let r = decide(&gate, purpose, !model[purpose]);
                    if t.expect_storage("set_consent (read-only)", &r)
                        && (gate.consent_state() != before || allows_all(&gate) != allows)
                    {
                        t.violation("a failed set_consent changed the state".into());
                    }
                }
                let r = gate.set_age(AgeSignal {
                    age_years: Some(12),
                    parental_consent: false,
                });
                t.expect_storage("set_age (read-only)", &r);
                let r = gate.request_deletion(None);
                t.expect_storage("request_deletion (read-only)", &r);
                record(&gate, 100, &mut t, "read-only");
                std::thread::sleep(Duration::from_millis(1100));
                let p = gate.persist();
                t.expect_storage("persist (read-only)", &p);
                drop(gate);
            }
        },
        other => panic!("unknown scenario {other}"),
    }
    println!("FAULTS {}", t.faults);
    println!("PANICS {}", PANICS.load(Ordering::SeqCst));
}

/// The rest of the line after `marker`, wherever the line starts.
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

/// Runs this binary's `disk_child` with `env`; returns (faults, violations, stdout).
fn run_child(env: &[(&str, String)]) -> (usize, Vec<String>, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "disk_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut faults = 0;
    let mut violations: Vec<String> = stdout
        .lines()
        .filter_map(|l| after(l, "VIOLATION "))
        .map(str::to_string)
        .collect();
    for l in stdout.lines() {
        if let Some(n) = after(l, "FAULTS ") {
            faults = n.parse().unwrap_or(0);
        }
    }
    if !out.status.success() || !stdout.contains("FAULTS ") {
        violations.push(format!(
            "child {env:?} did not finish cleanly ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    (faults, violations, stdout)
}

fn child_model(stdout: &str) -> Option<Model> {
    stdout
        .lines()
        .find_map(|l| after(l, "MODEL "))
        .map(parse_model)
}

#[test]
fn g7_full_disk_rlimit_fsize() {
    let seed = seed();
    println!("disk_faults (rlimit): seed {seed} (replay with CONSENTGATE_SEED={seed})");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("app");
    let mut t = Tally::default();
    let rounds = scale(30, 300);
    let (faults, violations, stdout) = run_child(&[
        ("CG_DISK_CHILD", "full".into()),
        ("CG_DISK_DIR", dir.display().to_string()),
        ("CG_DISK_SEED", seed.to_string()),
        ("CG_DISK_ROUNDS", rounds.to_string()),
    ]);
    for note in stdout.lines().filter_map(|l| after(l, "NOTE ")) {
        println!("disk_faults (rlimit): {note}");
    }
    t.faults += faults;
    t.violations.extend(violations);
    // A new process after the fault: everything is there.
    match child_model(&stdout) {
        Some(model) => {
            check_reopen(&dir, &model, None, &mut t, "new process");
            // And the app starting on a full disk.
            let (faults, violations, stdout) = run_child(&[
                ("CG_DISK_CHILD", "full-at-open".into()),
                ("CG_DISK_DIR", dir.display().to_string()),
                ("CG_DISK_SEED", seed.to_string()),
            ]);
            for note in stdout.lines().filter_map(|l| after(l, "NOTE ")) {
                println!("disk_faults (rlimit): {note}");
            }
            t.faults += faults;
            t.violations.extend(violations);
            check_reopen(&dir, &model, None, &mut t, "after a start on a full disk");
        }
        None => t
            .violations
            .push("the child reported no final state".into()),
    }
    figures(
        "disk_faults (full disk, RLIMIT_FSIZE)",
        &format!("{} faults injected", t.faults),
        t.violations.len(),
    );
    assert!(t.violations.is_empty(), "{:#?}", t.violations);
    assert!(
        t.faults >= rounds,
        "too few faults took effect: {}",
        t.faults
    );
    FAULTS.fetch_add(t.faults, Ordering::SeqCst);
    done();
}

// ---------------------------------------------------------------------------
// Full disk on a small tmpfs (root with mount rights only).

struct Tmpfs {
    mountpoint: PathBuf,
    filler: PathBuf,
}

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Tmpfs {
            mountpoint: at.to_path_buf(),
            filler: at.join("filler"),
        })
    }
}

impl Fault for Tmpfs {
    fn on(&mut self, _rng: &mut Rng) {
        let mut f = fs::File::create(&self.filler).expect("filler");
        let block = vec![0xa5u8; 4096];
        // Take every free block; the last, short write fails with ENOSPC.
        while f.write_all(&block).is_ok() {}
        while f.write_all(&block[..1]).is_ok() {}
        let _ = f.sync_all();
    }

    fn off(&mut self) {
        let _ = fs::remove_file(&self.filler);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .output();
    }
}

#[test]
fn g7_full_disk_small_tmpfs() {
    let seed = seed() ^ 0x7f;
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(mut fs_) = Tmpfs::mount(&tmp.path().join("mnt"), "32m") else {
        println!("disk_faults (tmpfs): skipped: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)");
        done();
        return;
    };
    let dir = fs_.mountpoint.join("app");
    let mut rng = Rng::new(seed);
    let mut t = Tally::default();
    let panics_before = PANICS.load(Ordering::SeqCst);
    {
        let gate = open(&dir).expect("open");
        decide(&gate, "analytics", true).expect("grant");
        let mut model = model_of(&gate.consent_state());
        let mut queued = record(&gate, 50, &mut t, "before");
        gate.persist().expect("persist");
        fault_rounds(
            &gate,
            &mut fs_,
            scale(20, 200),
            &mut rng,
            &mut model,
            &mut queued,
            &mut t,
        );
        gate.close().expect("close");
        drop(gate);
        check_reopen(&dir, &model, Some(queued), &mut t, "tmpfs, space back");
    }
    if PANICS.load(Ordering::SeqCst) != panics_before {
        t.violations.push("a thread panicked".into());
    }
    drop(fs_);
    figures(
        "disk_faults (full disk, tmpfs)",
        &format!("{} faults injected", t.faults),
        t.violations.len(),
    );
    assert!(t.violations.is_empty(), "{:#?}", t.violations);
    FAULTS.fetch_add(t.faults, Ordering::SeqCst);
    done();
}

// ---------------------------------------------------------------------------
// Read-only data directory.

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// In the child, as root: become nobody so that permission bits bind.
/// False when that is not possible here (e.g. a user namespace without 65534).
fn drop_privileges() -> bool {
    if !is_root() {
        return true;
    }
    // SAFETY: plain libc calls on this (single-purpose) child process.
    unsafe {
        libc::setgroups(0, std::ptr::null()) == 0
            && libc::setgid(65534) == 0
            && libc::setuid(65534) == 0
    }
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn snapshot_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn g7_read_only_data_directory() {
    let seed = seed();
    let tmp = tempfile::tempdir().expect("tempdir");
    // nobody must be able to walk down to the data directory.
    chmod(tmp.path(), 0o755);
    let mut t = Tally::default();
    for variant in ["database file only", "with WAL and shared-memory files"] {
        if !is_root() && variant.starts_with("with") {
            // The owner of a 0400 file may chmod it back (the core narrows
            // the mode to 0600 at open), so only root-owned files stay
            // read-only for the app.
            println!("disk_faults (read-only, {variant}): skipped: needs root to make files the app cannot chmod");
            continue;
        }
        let dir = tmp.path().join(variant.replace(' ', "-"));
        let model = {
            let gate = open(&dir).expect("open");
            decide(&gate, "analytics", true).expect("grant");
            decide(&gate, "advertising", false).expect("deny");
            record(&gate, 30, &mut t, "before read-only");
            gate.close().expect("close");
            model_of(&gate.consent_state())
        };
        let db = dir.join(DB_FILE);
        if variant.starts_with("with") {
            // What a crash or a restore leaves beside the file; writable.
            for side in ["-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{side}", db.display()));
                fs::write(&p, b"").expect("side file");
                chmod(&p, 0o666);
            }
        }
        let (dir_mode, file_mode) = if is_root() {
            (0o555, 0o444)
        } else {
            (0o500, 0o400)
        };
        chmod(&db, file_mode);
        chmod(&dir, dir_mode);
        let before = snapshot_files(&dir);
        let (faults, violations, stdout) = run_child(&[
            ("CG_DISK_CHILD", "readonly".into()),
            ("CG_DISK_DIR", dir.display().to_string()),
            ("CG_DISK_SEED", seed.to_string()),
            ("CG_DISK_MODEL", model_line(&model)),
        ]);
        for note in stdout.lines().filter_map(|l| after(l, "NOTE ")) {
            println!("disk_faults (read-only, {variant}): {note}");
        }
        t.faults += faults;
        t.violations
            .extend(violations.into_iter().map(|v| format!("{variant}: {v}")));
        let after = snapshot_files(&dir);
        if before.get(DB_FILE) != after.get(DB_FILE) {
            t.violations
                .push(format!("{variant}: the read-only database file changed"));
        }
        // Permissions restored: the store opens and nothing was lost.
        chmod(&dir, 0o700);
        chmod(&db, 0o600);
        check_reopen(
            &dir,
            &model,
            Some(30),
            &mut t,
            &format!("read-only ({variant}), permissions back"),
        );
    }
    figures(
        "disk_faults (read-only directory)",
        &format!("{} faults injected", t.faults),
        t.violations.len(),
    );
    assert!(t.violations.is_empty(), "{:#?}", t.violations);
    FAULTS.fetch_add(t.faults, Ordering::SeqCst);
    done();
}

// ---------------------------------------------------------------------------
// The suite's figures line, printed by whichever scenario finishes last.

static FAULTS: AtomicUsize = AtomicUsize::new(0);
static DONE: AtomicUsize = AtomicUsize::new(0);
const SCENARIOS: usize = 3;

fn done() {
    if DONE.fetch_add(1, Ordering::SeqCst) + 1 == SCENARIOS {
        figures(
            "disk_faults",
            &format!("{} faults injected", FAULTS.load(Ordering::SeqCst)),
            0,
        );
    }
}

// ---------------------------------------------------------------------------
// Regression test for a defect found while writing the bad-input table.

/// The `consentgate` binary of this build profile, built first when this
/// crate's tests run on their own (`cargo test -p consentgate-tests` does not
/// build another package's binaries).
fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir.join("consentgate");
    if !bin.is_file() {
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build
            .args([
                "build",
                "-q",
                "-p",
                "consentgate-cli",
                "--bin",
                "consentgate",
            ])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p consentgate-cli failed");
    }
    bin
}

#[test]
fn g7_cli_output_to_a_full_disk_exits_3() {
    use std::os::unix::process::CommandExt;
    let bin = cli_binary();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = fs::File::create(tmp.path().join("out.json")).expect("stdout file");
    let mut cmd = Command::new(bin);
    cmd.args(["policy", "check"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/policies/example-kz.json"
        ))
        .stdout(out);
    // SAFETY: async-signal-safe calls only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let mut r = std::mem::zeroed::<libc::rlimit>();
            libc::getrlimit(libc::RLIMIT_FSIZE, &mut r);
            r.rlim_cur = 0;
            libc::setrlimit(libc::RLIMIT_FSIZE, &r);
            Ok(())
        });
    }
    let result = cmd.output().expect("run the CLI");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(
        result.status.code(),
        Some(3),
        "expected exit 3 (storage failure), got {:?}: {stderr}",
        result.status
    );
    assert!(!stderr.contains("panicked"), "the CLI panicked: {stderr}");
}
