//! kill -9 at random moments (G3, G4, G5, G6 under crashes). A child process
//! records events, flips consent, uploads to a local reference collector and
//! requests deletion in a random interleaving, journaling each call that
//! returned on stdout; the parent SIGKILLs it at a random moment, reopens the
//! store and checks every invariant. `CONSENTGATE_SOAK=1` runs 2,000 kills.
#![cfg(unix)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consentgate::{ConsentGate, ConsentStatus, SystemClock};
use consentgate_collector::{Collector, CollectorConfig};
use consentgate_tests::{
    collector_events, decide, figures, open_gate, policy_for, scale, seed, Rng,
};

fn open(dir: &Path, policy: &str) -> Arc<ConsentGate> {
    open_gate(dir, policy, "KZ", Arc::new(SystemClock)).expect("open")
}

/// Checks every request body before it leaves: no event of an epoch whose
/// withdrawal already returned may be sent.
struct Watchdog {
    inner: consentgate_cli::http::HttpUploader,
    forbidden_below: u64,
    forbidden: std::sync::Mutex<BTreeSet<u64>>,
}

impl consentgate::Uploader for Watchdog {
    fn send(&self, request: consentgate::UploadRequest) -> consentgate::UploadResult {
        let mut text = String::new();
        if flate2::read::GzDecoder::new(&request.body[..])
            .read_to_string(&mut text)
            .is_ok()
        {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                let forbidden = self.forbidden.lock().expect("lock");
                for e in v["events"].as_array().into_iter().flatten() {
                    let epoch: u64 = e["name"]
                        .as_str()
                        .and_then(|n| n.strip_prefix('e'))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    if epoch < self.forbidden_below || forbidden.contains(&epoch) {
                        println!("VIOLATION sent an event of withdrawn epoch {epoch}");
                    }
                }
            }
        }
        self.inner.send(request)
    }
}

/// The child: runs random operations until killed.
#[test]
#[ignore = "child half of crash_recovery; run by it with --ignored"]
fn crash_child() {
    let Ok(dir) = std::env::var("CG_CRASH_DIR") else {
        return;
    };
    let policy = policy_for(&std::env::var("CG_CRASH_URL").expect("url"));
    let mut epoch: u64 = std::env::var("CG_CRASH_EPOCH")
        .expect("epoch")
        .parse()
        .expect("epoch");
    let mut rng = Rng::new(
        std::env::var("CG_CRASH_SEED")
            .expect("seed")
            .parse()
            .expect("seed"),
    );
    let gate = open(Path::new(&dir), &policy);
    let watchdog = Arc::new(Watchdog {
        inner: consentgate_cli::http::HttpUploader::new(),
        forbidden_below: epoch,
        forbidden: Default::default(),
    });
    println!("READY");
    let decide = |granted: bool| decide(&gate, "analytics", granted).expect("set_consent");
    loop {
        match rng.below(100) {
            0..=39 => {
                let n = 1 + rng.below(20) as usize;
                let events = (0..n)
                    .map(|i| consentgate::EventInput {
                        name: format!("e{epoch}"),
                        properties_json: Some(format!(r#"{{"i":{i}}}"#)),
                    })
                    .collect();
                gate.record_events(events).expect("record");
            }
            40..=54 => {
                println!("TRY grant");
                decide(true);
                println!("DONE grant");
            }
            55..=69 => {
                println!("TRY deny {epoch}");
                decide(false);
                println!("REVOKED {epoch}");
                watchdog.forbidden.lock().expect("lock").insert(epoch);
                epoch += 1;
                println!("EPOCH {epoch}");
            }
            70..=91 => {
                gate.flush(watchdog.clone()).expect("flush");
            }
            92 => {
                println!("TRY delete {epoch}");
                let t = gate.request_deletion(None).expect("deletion");
                println!("TICKET {} {epoch}", t.request_id);
                watchdog.forbidden.lock().expect("lock").insert(epoch);
                epoch += 1;
                println!("EPOCH {epoch}");
            }
            _ => gate.persist().expect("persist"),
        }
    }
}

#[derive(Default)]
struct Journal {
    /// Status of analytics after the last decision call that returned, and
    /// the one in flight when the child died.
    decided: Option<ConsentStatus>,
    trying: Option<ConsentStatus>,
    tickets: Vec<String>,
    trying_delete: bool,
    epoch: u64,
    violations: Vec<String>,
}

#[test]
fn crash_recovery() {
    let kills = scale(200, 2000);
    let seed = seed();
    let mut rng = Rng::new(seed);
    let work = tempfile::tempdir().unwrap();
    let collector_db = work.path().join("collector.db");
    let collector = Collector::start(CollectorConfig::new(&collector_db)).expect("collector");
    let policy = policy_for(&collector.url());
    let data = work.path().join("data");
    let exe = std::env::current_exe().unwrap();
    let mut j = Journal {
        epoch: 1,
        ..Default::default()
    };
    let mut all_tickets: Vec<String> = Vec::new();
    let started = Instant::now();
    for kill in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CG_CRASH_DIR", &data)
            .env("CG_CRASH_URL", collector.url())
            .env("CG_CRASH_EPOCH", j.epoch.to_string())
            .env("CG_CRASH_SEED", rng.next_u64().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until the child is running, then let it work for a random moment.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("child never got ready");
            if line.contains("READY") {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(40_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        j.trying = None;
        j.trying_delete = false;
        for line in rx.try_iter() {
            let line = line.trim_start_matches("test crash_child ... ");
            let mut w = line.split_whitespace();
            match (w.next(), w.next()) {
                (Some("TRY"), Some("grant")) => j.trying = Some(ConsentStatus::Granted),
                (Some("TRY"), Some("deny")) => j.trying = Some(ConsentStatus::Denied),
                (Some("DONE"), _) => (j.decided, j.trying) = (Some(ConsentStatus::Granted), None),
                (Some("REVOKED"), Some(e)) => {
                    (j.decided, j.trying) = (Some(ConsentStatus::Denied), None);
                    j.epoch = j.epoch.max(e.parse::<u64>().unwrap() + 1);
                }
                (Some("TRY"), Some("delete")) => j.trying_delete = true,
                (Some("TICKET"), Some(id)) => {
                    j.tickets.push(id.to_string());
                    let e: u64 = w.next().and_then(|e| e.parse().ok()).unwrap();
                    j.epoch = j.epoch.max(e + 1);
                    j.decided = Some(ConsentStatus::Denied);
                    j.trying_delete = false;
                }
                (Some("EPOCH"), Some(e)) => j.epoch = j.epoch.max(e.parse().unwrap()),
                (Some("VIOLATION"), _) => j.violations.push(format!("kill {kill}: {line}")),
                _ => {}
            }
        }
        all_tickets.append(&mut j.tickets);

        // Reopen and check the invariants.
        let gate = open(&data, &policy);
        let check = gate.verify_ledger().unwrap();
        if !check.intact {
            j.violations
                .push(format!("kill {kill}: ledger broken: {check:?}"));
        }
        let status = gate.consent_state().status_of("analytics").unwrap();
        let mut acceptable = vec![j.decided.unwrap_or(ConsentStatus::Unset)];
        acceptable.extend(j.trying);
        if j.trying_delete {
            acceptable.push(ConsentStatus::Denied);
        }
        if !acceptable.contains(&status) {
            j.violations.push(format!(
                "kill {kill}: analytics is {status:?}, the journal allows {acceptable:?}"
            ));
        }
        j.decided = Some(status);
        if status != ConsentStatus::Granted {
            let stats = gate.queue_stats();
            if stats.events != 0 {
                j.violations.push(format!(
                    "kill {kill}: {} records queued while analytics is {status:?}",
                    stats.events
                ));
            }
            // Whatever epoch was open is closed now: its records were purged.
            if j.trying.is_some() || j.trying_delete {
                j.epoch += 1;
            }
        }
        let tickets: Vec<String> = gate
            .deletion_requests()
            .into_iter()
            .map(|t| t.request_id)
            .collect();
        for t in &all_tickets {
            if !tickets.contains(t) {
                j.violations
                    .push(format!("kill {kill}: deletion ticket {t} lost"));
            }
        }
        gate.close().unwrap();
    }
    // Let the last state drain, then check the collector's side.
    let gate = open(&data, &policy);
    let _ = gate.flush(Arc::new(consentgate_cli::http::HttpUploader::new()));
    drop(gate);
    let (events, duplicated) = collector_events(&collector_db);
    if duplicated > 0 {
        j.violations.push(format!(
            "{duplicated} events counted twice by the collector"
        ));
    }
    for v in &j.violations {
        eprintln!("{v}");
    }
    figures(
        "crash_recovery",
        &format!(
            "{kills} kills, {} deletion tickets, {events} events at the collector, seed {seed}, {:.1} s",
            all_tickets.len(),
            started.elapsed().as_secs_f64()
        ),
        j.violations.len(),
    );
    assert!(
        j.violations.is_empty(),
        "{} violations (seed {seed})",
        j.violations.len()
    );
}
