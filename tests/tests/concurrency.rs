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

/// G3 for host-buffered events (Kotlin's `recordEvent` path): an event
/// captured under a consent version older than a withdrawal must be dropped
/// even when consent was granted again before it reached the core. Here the
/// capture is held exactly where the race was — after `record_captured` has
/// validated its events, before it takes the buffer lock — while the user
/// withdraws and grants again; reading the last withdrawal's version before
/// that point (as the first release did) lets the stale event in.
#[test]
fn g3_an_event_captured_before_a_withdrawal_never_lands_after_a_regrant() {
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let gate = open_gate(
        dir.path(),
        &policy_for("http://127.0.0.1:9"),
        "KZ",
        Arc::new(SystemClock),
    )
    .unwrap();
    let v1 = decide(&gate, "analytics", true).unwrap().version;
    let (paused_tx, paused_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let capture = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            consentgate::test_hooks::before_capture_lock(Some(Box::new(move || {
                let _ = paused_tx.send(());
                let _ = go_rx.recv();
            })));
            gate.record_captured(
                vec![consentgate::CapturedEvent {
                    name: "tap".into(),
                    properties_json: None,
                    captured_at_ms: 0,
                    consent_version: v1,
                }],
                0,
                0,
            )
        })
    };
    paused_rx.recv().expect("the capture reached the lock");
    let withdrawn = decide(&gate, "analytics", false).unwrap().version;
    decide(&gate, "analytics", true).unwrap();
    assert!(withdrawn > v1);
    go_tx.send(()).unwrap();
    let report = capture.join().unwrap().unwrap();
    assert_eq!(
        (report.recorded, report.dropped_no_consent),
        (0, 1),
        "an event captured before the withdrawal landed after the re-grant"
    );
    gate.persist().unwrap();
    assert_eq!(gate.queue_stats().events, 0);
}
