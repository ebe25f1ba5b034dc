//! `upload`, `delete-request` and `deletion status` over loopback HTTP against
//! the reference collector running in this process: what arrives on the
//! other side, what stays queued when the backend is down, and the exit codes
//! a script relies on.

mod common;

use std::time::Instant;

use common::{dead_url, granted_data_dir, installation_id, ok, on, queued};
use consentgate_collector::{Collector, CollectorConfig};

fn collector(dir: &std::path::Path) -> Collector {
    Collector::start(CollectorConfig::new(dir.join("collector.sqlite"))).expect("collector starts")
}

#[test]
fn upload_delivers_every_recorded_event_exactly_once() {
    let root = tempfile::tempdir().expect("temp dir");
    let c = collector(root.path());
    let (data, id) = granted_data_dir(root.path(), &c.url());

    ok(
        &data,
        &["event", "record", "screen_view", r#"{"screen":"home"}"#],
    );
    ok(&data, &["event", "record", "tap", "--count", "6"]);
    assert_eq!(queued(&data), 7);

    let up = ok(&data, &["upload"]);
    let report = up.json();
    assert_eq!(report["events_delivered"], 7, "{report}");
    assert_eq!(report["batches_delivered"], 1, "{report}");
    assert_eq!(report["retries"], 0, "{report}");
    assert!(report["wait_ms"].is_null(), "{report}");

    let info = c.installation(&id);
    assert_eq!((info.events, info.batches, info.deleted), (7, 1, false));
    let stats = ok(&data, &["queue", "stats"]).json();
    assert_eq!(
        (stats["events"].as_u64(), stats["delivered"].as_u64()),
        (Some(0), Some(7))
    );

    // Nothing left: a second upload sends nothing and still succeeds.
    let again = ok(&data, &["upload"]).json();
    assert_eq!(again["requests"], 0, "{again}");
    assert_eq!(c.installation(&id).events, 7);
    assert_eq!(c.stats().duplicates, 0);
}

#[test]
fn g6_delete_request_is_acknowledged_and_the_collector_forgets_the_installation() {
    let root = tempfile::tempdir().expect("temp dir");
    let c = collector(root.path());
    let (data, old_id) = granted_data_dir(root.path(), &c.url());
    ok(&data, &["event", "record", "screen_view", "--count", "3"]);
    ok(&data, &["upload"]);
    assert_eq!(c.installation(&old_id).events, 3);

    let del = ok(&data, &["delete-request", "--reason", "user_request"]);
    let ticket = del.json();
    assert_eq!(ticket["status"]["state"], "acknowledged", "{ticket}");
    let receipt = ticket["status"]["receipt_id"]
        .as_str()
        .expect("receipt_id")
        .to_string();
    assert!(!receipt.is_empty());
    assert!(
        ticket["installation_ids"]
            .as_array()
            .expect("installation_ids")
            .contains(&old_id.as_str().into()),
        "{ticket}"
    );

    let info = c.installation(&old_id);
    assert!(info.deleted, "{info:?}");
    assert_eq!((info.events, info.batches), (0, 0));

    let tickets = ok(&data, &["deletion", "status"]).json();
    let tickets = tickets.as_array().expect("a JSON array");
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["status"]["state"], "acknowledged");
    assert_eq!(tickets[0]["status"]["receipt_id"], receipt.as_str());

    // Locally: a new installation id, consent revoked, nothing queued.
    assert_ne!(installation_id(&data), old_id);
    assert_eq!(on(&data, &["allows", "usage_events"]).code, 1);
    assert_eq!(queued(&data), 0);
}

#[test]
fn upload_with_the_collector_down_exits_3_and_keeps_the_events_for_the_next_run() {
    let root = tempfile::tempdir().expect("temp dir");
    let (data, id) = granted_data_dir(root.path(), &dead_url());
    ok(&data, &["event", "record", "screen_view", "--count", "4"]);

    let down = on(&data, &["upload", "--max-wait", "0"]);
    assert_eq!(
        down.code, 3,
        "stdout: {}\nstderr: {}",
        down.stdout, down.stderr
    );
    let report = down.json();
    assert_eq!(report["events_delivered"], 0, "{report}");
    assert_eq!(report["retries"], 1, "{report}");
    assert!(
        report["wait_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{report}"
    );
    assert!(down.stderr.contains("note: stopped"), "{}", down.stderr);
    assert_eq!(queued(&data), 4, "nothing lost");

    // The backend comes back (elsewhere): the next run waits out the backoff
    // (about a second) and delivers the same batch.
    let c = collector(root.path());
    let up = ok(&data, &["upload", "--endpoint", &c.url()]);
    assert_eq!(up.json()["events_delivered"], 4, "{}", up.stdout);
    assert_eq!(c.installation(&id).events, 4);
    assert_eq!(queued(&data), 0);
}

#[test]
fn upload_with_a_fixed_clock_stops_at_the_first_backoff() {
    let root = tempfile::tempdir().expect("temp dir");
    let policy = common::policy_for(root.path(), &dead_url());
    let data = root.path().join("data");
    let now = ["--now", "2026-03-01T10:00:00Z"];
    let policy = policy.to_str().expect("utf-8 path");
    ok(
        &data,
        &[
            now[0],
            now[1],
            "--policy",
            policy,
            "--region",
            "KZ",
            "consent",
            "grant",
            "analytics",
        ],
    );
    ok(&data, &[now[0], now[1], "event", "record", "tap"]);

    let started = Instant::now();
    let run = on(&data, &[now[0], now[1], "upload"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.json()["wait_ms"].as_u64().is_some());
    assert!(
        started.elapsed().as_secs() < 10,
        "did not sleep on a clock that stands still"
    );
}

#[test]
fn g6_delete_request_with_the_backend_down_stays_pending_and_upload_sends_it_later() {
    let root = tempfile::tempdir().expect("temp dir");
    let (data, old_id) = granted_data_dir(root.path(), &dead_url());

    let del = ok(&data, &["delete-request"]);
    assert_eq!(del.json()["status"]["state"], "pending", "{}", del.stdout);
    assert!(del.stderr.contains("note: "), "{}", del.stderr);
    let pending = ok(&data, &["deletion", "status"]).json();
    assert_eq!(pending[0]["status"]["state"], "pending", "{pending}");

    let c = collector(root.path());
    let up = ok(&data, &["upload", "--endpoint", &c.url()]);
    assert_eq!(up.json()["deletions_acknowledged"], 1, "{}", up.stdout);
    let tickets = ok(&data, &["deletion", "status"]).json();
    assert_eq!(tickets[0]["status"]["state"], "acknowledged", "{tickets}");
    assert!(c.installation(&old_id).deleted);
    assert_eq!(c.stats().deletions, 1);
}

#[test]
fn a_bad_endpoint_is_bad_input_and_erases_nothing() {
    let root = tempfile::tempdir().expect("temp dir");
    let (data, id) = granted_data_dir(root.path(), &dead_url());
    ok(&data, &["event", "record", "tap"]);

    for endpoint in [
        "http://collector.example.kz",
        "https://c.example.kz/api",
        "nonsense",
        "http://127.0.0.1:0",
        "http://127.0.0.1:99999",
    ] {
        let up = on(&data, &["upload", "--endpoint", endpoint]);
        assert_eq!(up.code, 2, "{endpoint}: {}", up.stderr);
        assert!(up.stderr.starts_with("error: "), "{}", up.stderr);

        let del = on(&data, &["delete-request", "--endpoint", endpoint]);
        assert_eq!(del.code, 2, "{endpoint}: {}", del.stderr);
    }
    assert_eq!(installation_id(&data), id, "no deletion happened");
    assert_eq!(queued(&data), 1);
    assert_eq!(
        ok(&data, &["deletion", "status"]).stdout.trim(),
        "[]",
        "no ticket"
    );
}
