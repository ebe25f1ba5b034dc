//! Many threads at once (G3, G7): 8 threads recording, 1 flipping consent,
//! 1 uploading to the reference collector, 1 exporting, for a fixed number of
//! operations. A watchdog fails the run on a deadlock; after every withdrawal
//! the queue must hold nothing that needs the withdrawn purpose; no thread may
//! panic.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consentgate::{RecordOutcome, SystemClock};
use consentgate_collector::{Collector, CollectorConfig};
use consentgate_tests::{decide, figures, open_gate, policy_for, scale};

#[test]
fn concurrency() {
    let flips = scale(200, 5_000) as u64;
    let base = std::path::Path::new("/dev/shm");
    let work = if base.is_dir() {
        tempfile::tempdir_in(base).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let collector =
        Collector::start(CollectorConfig::new(work.path().join("collector.db"))).unwrap();
    let gate = open_gate(
        &work.path().join("app"),
        &policy_for(&collector.url()),
        "KZ",
        Arc::new(SystemClock),
    )
    .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let violations = Arc::new(AtomicU64::new(0));
    let recorded = Arc::new(AtomicU64::new(0));

    // Watchdog: every thread bumps `progress`; if nothing moves for 30 s, it is a deadlock.
    let watchdog = {
        let (done, progress) = (done.clone(), progress.clone());
        std::thread::spawn(move || {
            let mut last = (progress.load(Ordering::SeqCst), Instant::now());
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                let now = progress.load(Ordering::SeqCst);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > Duration::from_secs(30) {
                    eprintln!("concurrency: no progress for 30 s: deadlock");
                    std::process::abort();
                }
            }
        })
    };

    let mut workers = Vec::new();
    for t in 0..8 {
        let (gate, done, progress, recorded) = (
            gate.clone(),
            done.clone(),
            progress.clone(),
            recorded.clone(),
        );
        workers.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !done.load(Ordering::Relaxed) {
                let out = gate
                    .record_event(format!("t{t}"), Some(format!(r#"{{"i":{i}}}"#)))
                    .unwrap();
                if matches!(out, RecordOutcome::Recorded { .. }) {
                    recorded.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
                progress.fetch_add(1, Ordering::Relaxed);
                if i.is_multiple_of(16) {
                    // An app records in bursts, not in a spin loop.
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }));
    }
    {
        let (gate, done, progress) = (gate.clone(), done.clone(), progress.clone());
        workers.push(std::thread::spawn(move || {
            let up = Arc::new(consentgate_cli::http::HttpUploader::new());
            while !done.load(Ordering::Relaxed) {
                gate.flush(up.clone()).unwrap();
                progress.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
    }
    {
        let (gate, done, progress) = (gate.clone(), done.clone(), progress.clone());
        workers.push(std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let doc: serde_json::Value =
                    serde_json::from_str(&gate.export_data().unwrap()).unwrap();
                assert!(doc["ledger"].is_array());
                progress.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    let decide = |granted| decide(&gate, "analytics", granted).unwrap();
    for _ in 0..flips {
        decide(true);
        std::thread::sleep(Duration::from_millis(10));
        decide(false);
        if gate.queue_stats().events != 0 {
            violations.fetch_add(1, Ordering::SeqCst);
        }
        progress.fetch_add(1, Ordering::Relaxed);
    }
    done.store(true, Ordering::SeqCst);
    let mut panics = 0;
    for w in workers {
        if w.join().is_err() {
            panics += 1;
        }
    }
    watchdog.join().unwrap();
    assert!(gate.verify_ledger().unwrap().intact);
    let v = violations.load(Ordering::SeqCst) as usize + panics;
    figures(
        "concurrency",
        &format!(
            "{flips} withdrawals, {} events recorded, {} delivered, {panics} panics",
            recorded.load(Ordering::SeqCst),
            gate.queue_stats().delivered
        ),
        v,
    );
    assert_eq!(v, 0);
}
