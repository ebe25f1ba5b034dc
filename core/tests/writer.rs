//! The writer thread sleeps until something is due (SPEC §9
//! `idle_wakeups_per_min`: 0): an idle open gate costs a phone no wake-ups,
//! while buffered records are still committed within about a second and a
//! clock jump is noticed (`consent.rs`:
//! `expiry_while_running_is_noticed_by_the_writer_thread`). One test in its
//! own binary: other tests move manual clocks, which wakes every writer in
//! the process, as a clock jump should.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use consentgate::{ConsentGate, GateConfig, SystemClock};

fn open_real_clock(dir: &std::path::Path) -> Arc<ConsentGate> {
    ConsentGate::open_with_clock(
        GateConfig {
            data_dir: dir.display().to_string(),
            policy_json: example_kz(),
            region: Some("KZ".into()),
            app_version: "test".into(),
        },
        Arc::new(SystemClock),
    )
    .expect("open")
}

#[test]
fn an_idle_gate_never_wakes_its_writer_and_records_still_reach_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open_real_clock(dir.path());
    grant(&gate, "analytics", true);
    record_n(&gate, "e", 5);
    // Committed by the writer on its own (no persist): within a second of
    // the first record, here allowed up to 10 s on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows_on_disk(dir.path()) < 5 {
        assert!(Instant::now() < deadline, "the writer never committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    // Idle now: a decision with an expiry a year away, events queued with a
    // TTL a month away. The first release woke every second.
    let before = gate.writer_wakeups();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        gate.writer_wakeups() - before,
        0,
        "the writer woke with nothing to do"
    );
}
