//! The acceptance run of the upload issue, automated: against a collector that
//! fails half of all POSTs on purpose (500, 429 with Retry-After, dropped
//! connections, some after the batch was stored), 10,000 events recorded
//! through the CLI arrive exactly once after repeated `consentgate upload`
//! runs, and `delete-request` leaves the collector with nothing for the
//! installation while `deletion status` shows the receipt.
//!
//! It runs twice. The default test fixes the clock with `--now` and moves it
//! on by each run's `wait_ms` (an upload on a fixed clock stops at the first
//! backoff), so the retries cost no real time: a few seconds in all. The
//! `#[ignore]`d one sleeps through the backoffs as a user would (about a
//! minute and a half):
//!
//! ```text
//! cargo test -p consentgate-cli --test acceptance -- --ignored --nocapture
//! ```

mod common;

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Instant;

use common::{on, policy_for, Run};
use consentgate_collector::{Collector, CollectorConfig};
use serde_json::Value;

const EVENTS: u64 = 10_000;

/// How time passes between the CLI runs of one acceptance run.
enum Time {
    /// The system clock; `upload` sleeps through backoffs of up to 30 s.
    Real,
    /// Every run gets `--now` at this instant (ms since the epoch), moved on
    /// by the `wait_ms` of each upload that stopped on a backoff.
    Simulated(Cell<i64>),
}

/// One data directory driven through the CLI on one timeline.
struct Device {
    data: PathBuf,
    time: Time,
}

impl Device {
    fn run(&self, args: &[&str]) -> Run {
        match &self.time {
            Time::Real => on(&self.data, args),
            Time::Simulated(now) => {
                let now = consentgate::clock::rfc3339(now.get());
                let mut all = vec!["--now", now.as_str()];
                all.extend_from_slice(args);
                on(&self.data, &all)
            }
        }
    }

    fn ok(&self, args: &[&str]) -> Value {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "{args:?}\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run.json()
    }

    fn queued(&self) -> u64 {
        self.ok(&["queue", "stats"])["events"]
            .as_u64()
            .expect("events")
    }

    fn ticket_state(&self) -> Value {
        self.ok(&["deletion", "status"])[0]["status"]["state"].clone()
    }

    /// Runs `upload` until `done` holds; returns how many runs it took.
    fn upload_until(&self, done: impl Fn() -> bool) -> usize {
        // Simulated, each run ends at its first backoff: one run per failure.
        let max_runs = match self.time {
            Time::Real => 40,
            Time::Simulated(_) => 400,
        };
        for run in 1..=max_runs {
            let up = self.run(&["upload"]);
            // 0: all sent; 3: stopped on a backoff, resumed by the next run.
            assert!(
                up.code == 0 || up.code == 3,
                "upload exit {}\nstdout: {}\nstderr: {}",
                up.code,
                up.stdout,
                up.stderr
            );
            let report = up.json();
            if let (Time::Simulated(now), Some(wait)) = (&self.time, report["wait_ms"].as_i64()) {
                assert_eq!(up.code, 3, "a report with wait_ms is exit 3: {report}");
                now.set(now.get() + wait);
            }
            if done() {
                return run;
            }
        }
        panic!("not done after {max_runs} upload runs");
    }
}

fn acceptance(time: Time) {
    let started = Instant::now();
    let root = tempfile::tempdir().expect("temp dir");
    let c = Collector::start(CollectorConfig {
        fail_rate: 0.5,
        seed: 20_260_301,
        ..CollectorConfig::new(root.path().join("collector.sqlite"))
    })
    .expect("collector starts");
    let policy = policy_for(root.path(), &c.url());
    let device = Device {
        data: root.path().join("data"),
        time,
    };
    let policy = policy.to_str().expect("utf-8 path");
    device.ok(&[
        "--policy",
        policy,
        "--region",
        "KZ",
        "consent",
        "grant",
        "analytics",
    ]);
    let id = device.ok(&["export"])["installation_id"]
        .as_str()
        .expect("installation_id")
        .to_string();

    let rec = device.run(&[
        "event",
        "record",
        "screen_view",
        r#"{"screen":"home"}"#,
        "--count",
        "10000",
    ]);
    assert_eq!(
        (rec.code, rec.stdout.trim()),
        (0, "recorded 1..10000"),
        "{}",
        rec.stderr
    );
    assert_eq!(device.queued(), EVENTS);

    let runs = device.upload_until(|| device.queued() == 0);
    let info = c.installation(&id);
    assert_eq!(info.events, EVENTS, "exactly once: {info:?}");
    let stats = c.stats();
    assert!(
        stats.injected_500 + stats.injected_429 + stats.injected_drop > 0,
        "the collector did fail: {stats:?}"
    );
    let local = device.ok(&["queue", "stats"]);
    assert_eq!(local["delivered"].as_u64(), Some(EVENTS), "{local}");
    assert_eq!(local["rejected"].as_u64(), Some(0), "{local}");

    // The deletion may itself hit an injected failure: then it stays pending
    // (still exit 0) and the next uploads deliver it before anything else.
    let ticket = device.ok(&["delete-request"]);
    let request_id = ticket["request_id"]
        .as_str()
        .expect("request_id")
        .to_string();
    if device.ticket_state() != "acknowledged" {
        device.upload_until(|| device.ticket_state() == "acknowledged");
    }
    let tickets = device.ok(&["deletion", "status"]);
    assert_eq!(tickets.as_array().map(Vec::len), Some(1), "{tickets}");
    assert_eq!(tickets[0]["request_id"], request_id.as_str());
    assert!(
        tickets[0]["status"]["receipt_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{tickets}"
    );
    let info = c.installation(&id);
    assert!(info.deleted, "{info:?}");
    assert_eq!(
        (info.events, info.batches),
        (0, 0),
        "nothing left: {info:?}"
    );
    eprintln!(
        "acceptance: {runs} upload runs for the events, collector {:?}, {:.1} s in all",
        c.stats(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn ten_thousand_events_arrive_exactly_once_through_a_failing_collector_then_are_erased() {
    acceptance(Time::Simulated(Cell::new(
        consentgate::clock::parse_rfc3339("2026-03-01T10:00:00Z").expect("a valid instant"),
    )));
}

#[test]
#[ignore = "sleeps through real backoffs, about 90 s; run with --ignored"]
fn ten_thousand_events_in_real_time_arrive_exactly_once_then_are_erased() {
    acceptance(Time::Real);
}
