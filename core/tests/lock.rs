//! One gate per data directory (SPEC §4): a second open of a directory held
//! by a live gate — in this process or another — fails at once with `Busy`
//! naming the directory, so two gates can never disagree about consent (a
//! withdrawal in one while the other still records and uploads broke G2 and
//! G3); the lock is released by close and dies with its process.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use consentgate::GateError;

fn open_err(dir: &std::path::Path) -> GateError {
    consentgate::ConsentGate::open_with(consentgate::OpenOptions {
        data_dir: dir.to_path_buf(),
        policy_json: Some(example_kz()),
        region: Some("KZ".into()),
        app_version: "test".into(),
        clock: clock(),
    })
    .expect_err("a second gate on a held directory")
}

#[test]
fn g2_g3_a_second_open_in_the_same_process_is_busy_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let first = open(dir.path(), &example_kz(), &c);
    grant(&first, "analytics", true);
    let started = Instant::now();
    let e = open_err(dir.path());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the second open waited for the lock instead of failing"
    );
    let GateError::Busy { data_dir } = &e else {
        panic!("not Busy: {e:?}");
    };
    assert_eq!(data_dir, &dir.path().display().to_string());
    let message = e.to_string();
    assert!(
        message.contains(&dir.path().display().to_string())
            && message.contains("one gate per directory"),
        "{message}"
    );
    // The first gate is untouched by the refused open.
    assert!(first.allows_str("usage_events"));
    // Closed, the directory is free again; the decision is there.
    first.close().unwrap();
    let second = open(dir.path(), &example_kz(), &c);
    assert!(second.allows_str("usage_events"));
}

#[test]
fn g2_g3_dropping_the_last_reference_releases_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    drop(open(dir.path(), &example_kz(), &c));
    drop(open(dir.path(), &example_kz(), &c));
}

/// The child half of the two-process tests: holds a gate until killed.
#[test]
#[ignore = "child half of the two-process lock tests; run by them with --ignored"]
fn lock_child() {
    let Ok(dir) = std::env::var("CONSENTGATE_LOCK_CHILD") else {
        return;
    };
    let gate = open(std::path::Path::new(&dir), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    println!("HOLDING");
    std::thread::sleep(Duration::from_secs(60));
}

#[cfg(unix)]
#[test]
fn g2_g3_another_process_cannot_open_a_held_directory_and_the_lock_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CONSENTGATE_LOCK_CHILD", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines
        .next()
        .expect("child output")
        .unwrap()
        .contains("HOLDING")
    {}
    let e = open_err(dir.path());
    assert!(matches!(e, GateError::Busy { .. }), "{e:?}");
    // SIGKILL: no close, no drop — the OS releases the lock.
    child.kill().unwrap();
    child.wait().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    assert!(
        gate.allows_str("usage_events"),
        "the killed holder's decision is on disk (G4)"
    );
}
